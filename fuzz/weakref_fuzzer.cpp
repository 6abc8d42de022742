// SPDX-License-Identifier: MIT
// libFuzzer differential fuzzer: runs byte-coded operations against weakref and a plain model.

#include "model.hpp"

#include <weakref/weakref.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace fuzz {

// --- The two flavours of the library, under one set of names -----------------------------------

struct SafeFlavour {
    template <class T> using ref = weakref::ref<T>;
    template <class T> using weak_ref = weakref::weak_ref<T>;
    using finalizer = weakref::finalizer;
    using scoped_finalizer = weakref::scoped_finalizer;
    template <class K, class V> using value_map = weakref::weak_value_map<K, V>;
    template <class K, class V> using key_map = weakref::weak_key_map<K, V>;
    template <class T> using set = weakref::weak_set<T>;
    using interner = weakref::weak_interner<Sym, SymHash, SymEqual>;
    using signal = weakref::weak_signal<void(int)>;
    using connection = weakref::connection;
    using scoped_connection = weakref::scoped_connection;
    /// The value maps' shards (keep_recent keeps ceil(n / shards) per shard).
    static constexpr unsigned shard_bits =
        weakref::detail::table_locks<weakref::detail::atomic_policy>::shard_bits;
    template <class T, class... A> static ref<T> make(A&&... a) {
        return weakref::make_ref<T>(std::forward<A>(a)...);
    }
    template <class F> static finalizer death(const ref<Obj>& r, F&& f) {
        return weakref::on_death(r, std::forward<F>(f));
    }
    static constexpr bool local = false;
    static constexpr const char* name = "weakref::";
};

struct LocalFlavour {
    template <class T> using ref = weakref::local::ref<T>;
    template <class T> using weak_ref = weakref::local::weak_ref<T>;
    using finalizer = weakref::local::finalizer;
    using scoped_finalizer = weakref::local::scoped_finalizer;
    template <class K, class V> using value_map = weakref::local::weak_value_map<K, V>;
    template <class K, class V> using key_map = weakref::local::weak_key_map<K, V>;
    template <class T> using set = weakref::local::weak_set<T>;
    using interner = weakref::local::weak_interner<Sym, SymHash, SymEqual>;
    using signal = weakref::local::weak_signal<void(int)>;
    using connection = weakref::local::connection;
    using scoped_connection = weakref::local::scoped_connection;
    /// The value maps' shards (keep_recent keeps ceil(n / shards) per shard).
    static constexpr unsigned shard_bits =
        weakref::detail::table_locks<weakref::detail::local_policy>::shard_bits;
    template <class T, class... A> static ref<T> make(A&&... a) {
        return weakref::local::make_ref<T>(std::forward<A>(a)...);
    }
    template <class F> static finalizer death(const ref<Obj>& r, F&& f) {
        return weakref::local::on_death(r, std::forward<F>(f));
    }
    static constexpr bool local = true;
    static constexpr const char* name = "weakref::local::";
};

// --- The library world: the same members as Model, on weakref ------------------------------------

template <class F> class Library {
public:
    using P = typename F::template ref<Obj>;
    using W = typename F::template weak_ref<Obj>;
    using Fin = typename F::finalizer;
    using Scoped = typename F::scoped_finalizer;
    using VM = typename F::template value_map<long, Obj>;
    using KM = typename F::template key_map<Obj, Val>;
    using Set = typename F::template set<Obj>;
    using SymRef = typename F::template ref<Sym>;
    using Interner = typename F::interner;
    using Signal = typename F::signal;
    using Conn = typename F::connection;
    using ScopedConn = typename F::scoped_connection;

    static constexpr const char* name = F::name;

    Library() {
        for (int c = 0; c < kCopies; ++c) {
            vm[c].emplace();
            km[c].emplace();
            set[c].emplace();
        }
        in.emplace();
        sig.emplace();
        g_lib_live = &live_objects;
    }
    Library(const Library&) = delete;
    Library& operator=(const Library&) = delete;
    ~Library() { g_lib_live = nullptr; }

    /// As Model::busy_guard: a map that may be let go of by a death it runs is not destroyed
    /// by a death callback (cleared instead). The library allows that destruction inside
    /// clear(), keep_recent() and the assignments (tests/keep_recent.cpp and
    /// tests/containers_lifetime.cpp show it); the model does not follow a map destroyed in
    /// the middle of one of its members, so the fuzzer does not ask for it.
    struct busy_guard {
        explicit busy_guard(bool& flag) : b(flag), was(flag) { b = true; }
        busy_guard(const busy_guard&) = delete;
        busy_guard& operator=(const busy_guard&) = delete;
        ~busy_guard() { b = was; }
        bool& b;
        bool was;
    };

    // --- Handles ---

    P fresh() { return F::template make<Obj>(next_id++, &live_objects); }
    void make(int s) { put(slots[s], fresh()); }
    void copy(int a, int b) {
        P tmp = slots[a];
        put(slots[b], std::move(tmp));
    }
    void move(int a, int b) {
        P tmp = std::move(slots[a]);
        put(slots[b], std::move(tmp));
    }
    void drop(int s) { put(slots[s], P()); }
    void swap(int a, int b) { slots[a].swap(slots[b]); }
    void weak(int w, int s) { wslots[w] = slots[s]; }
    void weak_copy(int a, int b) { wslots[b] = wslots[a]; }
    void weak_drop(int w) { wslots[w].reset(); }
    long lock(int w, int s) {
        P got = (w % 2 == 0) ? wslots[w].lock() : wslots[w]();
        const long id = got ? got->id : kNone;
        put(slots[s], std::move(got));
        return id;
    }
    long lock_ctor(int w) { return P(wslots[w])->id; } // throws bad_weak_ref
    long equal(int a, int b) const {
        long out = (slots[a] == slots[b] ? 1 : 0) + (wslots[a] == wslots[b] ? 2 : 0);
        // Equal handles hash equally.
        if (slots[a] == slots[b] && std::hash<P>()(slots[a]) != std::hash<P>()(slots[b])) {
            out += 100;
        }
        if (wslots[a] == wslots[b] && std::hash<W>()(wslots[a]) != std::hash<W>()(wslots[b])) {
            out += 200;
        }
        return out;
    }

    // --- Death callbacks ---

    void on_death(int s, int f, Action act) {
        const int reg = next_reg;
        Fin made = F::death(slots[s], [this, reg, act]() noexcept { callback(reg, act); });
        ++next_reg;
        fin[f] = std::move(made);
    }
    void fin_copy(int a, int b) { fin[b] = fin[a]; }
    void fin_drop(int f) { fin[f] = Fin(); }
    long fin_detach(int f) { return fin[f].detach(); }
    long fin_call(int f) { return fin[f](); }
    void scoped_from(int f, int g) { scoped[g] = Scoped(Fin(fin[f])); }
    void scoped_drop(int g) { scoped[g] = Scoped(); }
    void scoped_release(int g, int f) { fin[f] = scoped[g].release(); }
    long scoped_detach(int g) { return scoped[g].detach(); }
    long scoped_call(int g) { return scoped[g](); }

    // --- weak_value_map ---

    long vm_insert(int c, int k, int s, int flags) {
        if (!vm[c]) {
            return kGone;
        }
        const bool assign = (flags & 1) != 0;
        if ((flags & 2) != 0) {
            long key = k; // the K&& overloads
            return assign ? vm[c]->insert_or_assign(std::move(key), slots[s])
                          : vm[c]->insert(std::move(key), slots[s]);
        }
        const long key = k;
        return assign ? vm[c]->insert_or_assign(key, slots[s]) : vm[c]->insert(key, slots[s]);
    }
    long vm_erase(int c, int k) {
        if (!vm[c]) {
            return kGone;
        }
        return vm[c]->erase(k);
    }
    long vm_get(int c, int k) const {
        if (!vm[c]) {
            return kGone;
        }
        const P v = vm[c]->get(k);
        return v ? v->id : kNone;
    }
    long vm_contains(int c, int k) const {
        if (!vm[c]) {
            return kGone;
        }
        return vm[c]->contains(k);
    }
    P make_for(int c, int k, MakePlan plan) {
        switch (plan.kind % kMakeKinds) {
        case 0:
            return fresh();
        case 1:
            return slots[plan.a % kSlots];
        case 2:
            throw FuzzThrow{};
        case 3:
            vm_insert(c, k, plan.a % kSlots, 0);
            return fresh();
        default:
            drop(plan.a % kSlots);
            return fresh();
        }
    }
    long vm_get_or_insert(int c, int k, int r, MakePlan plan) {
        if (!vm[c]) {
            return kGone;
        }
        P result;
        {
            const busy_guard guard(vm_busy[c]);
            result =
                vm[c]->get_or_insert(static_cast<long>(k), [&] { return make_for(c, k, plan); });
        }
        const long id = result ? result->id : kNone;
        put(slots[r], std::move(result));
        return id;
    }
    Obs vm_values(int c) const {
        Obs out;
        if (!vm[c]) {
            out.push_back(kGone);
            return out;
        }
        std::vector<long> ids;
        for (const P& v : vm[c]->values()) {
            ids.push_back(v->id);
        }
        append_sorted(out, ids);
        return out;
    }

    // --- weak_key_map ---

    long km_insert(int c, int s, int v, int flags) {
        if (!km[c]) {
            return kGone;
        }
        const bool assign = (flags & 1) != 0;
        Val value(v, &live_vals);
        if ((flags & 2) != 0) {
            return assign ? km[c]->insert_or_assign(slots[s], std::move(value))
                          : km[c]->insert(slots[s], std::move(value));
        }
        return assign ? km[c]->insert_or_assign(slots[s], value) : km[c]->insert(slots[s], value);
    }
    // `raw`: the const K* overloads.
    long km_erase(int c, int s, bool raw) {
        if (!km[c]) {
            return kGone;
        }
        return raw ? km[c]->erase(slots[s].get()) : km[c]->erase(slots[s]);
    }
    long km_get(int c, int s, bool raw) const {
        if (!km[c]) {
            return kGone;
        }
        const std::optional<Val> v = raw ? km[c]->get(slots[s].get()) : km[c]->get(slots[s]);
        return v ? v->v : kNone;
    }
    long km_contains(int c, int s, bool raw) const {
        if (!km[c]) {
            return kGone;
        }
        return raw ? km[c]->contains(slots[s].get()) : km[c]->contains(slots[s]);
    }

    // --- weak_set ---

    long set_insert(int c, int s) {
        if (!set[c]) {
            return kGone;
        }
        return set[c]->insert(slots[s]);
    }
    long set_erase(int c, int s, bool raw) {
        if (!set[c]) {
            return kGone;
        }
        return raw ? set[c]->erase(slots[s].get()) : set[c]->erase(slots[s]);
    }
    long set_contains(int c, int s, bool raw) const {
        if (!set[c]) {
            return kGone;
        }
        return raw ? set[c]->contains(slots[s].get()) : set[c]->contains(slots[s]);
    }

    // --- Any container: kind 0 value map, 1 key map, 2 set ---

    template <class G> decltype(auto) with_kind(int kind, G&& g) {
        switch (kind) {
        case 0:
            return g(vm);
        case 1:
            return g(km);
        default:
            return g(set);
        }
    }
    bool busy(int kind, int c) const { return kind == 0 && vm_busy[c]; }

    // --- Working inside the containers (API 1.1) ---

    long vm_take(int c, int k, int r) {
        if (!vm[c]) {
            return kGone;
        }
        P v = vm[c]->take(static_cast<long>(k));
        const long id = v ? v->id : kNone;
        put(slots[r], std::move(v));
        return id;
    }
    long vm_erase_if(int c, int kmask, int vmode) {
        if (!vm[c]) {
            return kGone;
        }
        return static_cast<long>(vm[c]->erase_if(
            [&](const long& k, const Obj& v) { return Model::vm_pred(k, v.id, kmask, vmode); }));
    }
    long vm_get_or_emplace(int c, int k, int r) {
        if (!vm[c]) {
            return kGone;
        }
        const int id = next_id++;
        P got = vm[c]->get_or_emplace(static_cast<long>(k), id, &live_objects);
        const long out = got->id;
        put(slots[r], std::move(got));
        return out;
    }
    Obs vm_value_refs(int c) const {
        Obs out;
        if (!vm[c]) {
            out.push_back(kGone);
            return out;
        }
        std::vector<long> ids;
        for (const W& w : vm[c]->value_refs()) {
            const P p = w.lock(); // the owners hold them: alive
            ids.push_back(p ? p->id : kNone);
        }
        append_sorted(out, ids);
        return out;
    }

    long km_try_emplace(int c, int s, int v) {
        if (!km[c]) {
            return kGone;
        }
        return km[c]->try_emplace(slots[s], v, &live_vals);
    }
    long km_get_or_insert(int c, int s, int v, int kind) {
        if (!km[c]) {
            return kGone;
        }
        const Val got = km[c]->get_or_insert(slots[s], [&] {
            switch (kind % 3) {
            case 0:
                break;
            case 1:
                throw FuzzThrow{};
            default:
                km_insert(c, s, v + 1, 0); // the key has no entry now: this one wins
                break;
            }
            return Val(v, &live_vals);
        });
        return got.v;
    }
    long km_update(int c, int s, int delta, bool raw) {
        if (!km[c]) {
            return kGone;
        }
        const auto add = [delta](Val& x) { x.v += delta; };
        return raw ? km[c]->update(slots[s].get(), add) : km[c]->update(slots[s], add);
    }
    long km_visit(int c, int s, bool raw) const {
        if (!km[c]) {
            return kGone;
        }
        const auto read = [](const Val& x) { return static_cast<long>(x.v); };
        const std::optional<long> got =
            raw ? km[c]->visit(slots[s].get(), read) : km[c]->visit(slots[s], read);
        return got.value_or(kNone);
    }
    long km_take(int c, int s, bool raw) {
        if (!km[c]) {
            return kGone;
        }
        const std::optional<Val> got = raw ? km[c]->take(slots[s].get()) : km[c]->take(slots[s]);
        return got ? got->v : kNone;
    }
    Obs km_values(int c) const {
        Obs out;
        if (!km[c]) {
            out.push_back(kGone);
            return out;
        }
        std::vector<long> values;
        for (const Val& x : km[c]->values()) {
            values.push_back(x.v);
        }
        append_sorted(out, values);
        return out;
    }
    long km_erase_if(int c, int modulus) {
        if (!km[c]) {
            return kGone;
        }
        const long m = modulus % 4 + 2;
        return static_cast<long>(
            km[c]->erase_if([m](const Obj&, const Val& x) { return x.v % m == 0; }));
    }

    long set_pop(int c, int r) {
        if (!set[c]) {
            return kGone;
        }
        P got = set[c]->pop();
        const long id = got ? got->id : kNone;
        g_popped = id; // the model checks this choice
        put(slots[r], std::move(got));
        return id;
    }
    long set_erase_if(int c, int mask) {
        if (!set[c]) {
            return kGone;
        }
        return static_cast<long>(
            set[c]->erase_if([mask](const Obj& e) { return ((mask >> (e.id % 8)) & 1) != 0; }));
    }
    long set_algebra(int c, int op, bool self) {
        const int other = self ? c : 1 - c;
        if (!set[c] || !set[other]) {
            return kGone;
        }
        Set& a = *set[c];
        const Set& b = *set[other];
        switch (op % 8) {
        case 0:
            a |= b;
            break;
        case 1:
            a &= b;
            break;
        case 2:
            a -= b;
            break;
        case 3:
            a ^= b;
            break;
        case 4:
            a = a | b;
            break;
        case 5:
            a = a & b;
            break;
        case 6:
            a = a - b;
            break;
        default:
            a = b ^ a;
            break;
        }
        return static_cast<long>(a.size());
    }
    long set_relation() const {
        if (!set[0] || !set[1]) {
            return kGone;
        }
        const Set& a = *set[0];
        const Set& b = *set[1];
        return (a.is_subset_of(b) ? 1 : 0) + (a.is_superset_of(b) ? 2 : 0) +
               (a.is_disjoint(b) ? 4 : 0) + (a == b ? 8 : 0) + (a != b ? 16 : 0);
    }
    long compare(int kind) {
        return with_kind(kind, [&](auto& arr) -> long {
            if (!arr[0] || !arr[1]) {
                return kGone;
            }
            return (*arr[0] == *arr[1] ? 1 : 0) + (*arr[0] != *arr[1] ? 2 : 0);
        });
    }
    long on_remove(int kind, int c, int mode) {
        const bool none = mode % 4 == 0;
        switch (kind) {
        case 0:
            if (!vm[c]) {
                return kGone;
            }
            if (none) {
                vm[c]->on_remove(nullptr);
                return -1;
            }
            vm[c]->on_remove([this, t = next_tag](const long& k, weakref::removal_cause why) {
                pending.push_back(Notice{0, t, k, 0, static_cast<long>(why)});
            });
            break;
        case 1:
            if (!km[c]) {
                return kGone;
            }
            if (none) {
                km[c]->on_remove(nullptr);
                return -1;
            }
            km[c]->on_remove(
                [this, t = next_tag](const Obj* k, Val&& v, weakref::removal_cause why) {
                    // At a death the key object is not destroyed yet: its id is readable.
                    pending.push_back(Notice{1, t, k->id, v.v, static_cast<long>(why)});
                });
            break;
        default:
            if (!set[c]) {
                return kGone;
            }
            if (none) {
                set[c]->on_remove(nullptr);
                return -1;
            }
            set[c]->on_remove([this, t = next_tag](const Obj* e, weakref::removal_cause why) {
                pending.push_back(Notice{2, t, e->id, 0, static_cast<long>(why)});
            });
            break;
        }
        return next_tag++;
    }
    void seal_notices() { seal(pending, notices); }

    // --- Any container: kind 0 value map, 1 key map, 2 set (continued) ---

    long clear(int kind, int c) {
        return with_kind(kind, [&](auto& arr) -> long {
            if (!arr[c]) {
                return kGone;
            }
            bool other_kind = false; // only value maps are ever busy
            const busy_guard guard(kind == 0 ? vm_busy[c] : other_kind);
            arr[c]->clear();
            return 0;
        });
    }
    long copy_assign(int kind, int c, bool self) {
        return with_kind(kind, [&](auto& arr) -> long {
            auto* src = &arr[self ? c : 1 - c];
            if (!*src) {
                return kGone;
            }
            if (arr[c]) {
                bool other_kind = false;
                const busy_guard guard(kind == 0 ? vm_busy[c] : other_kind);
                *arr[c] = **src; // a self-assignment where `self`
            } else {
                arr[c].emplace(**src);
            }
            return 0;
        });
    }
    long move_assign(int kind, int c, bool self) {
        return with_kind(kind, [&](auto& arr) -> long {
            auto* src = &arr[self ? c : 1 - c];
            if (!*src) {
                return kGone;
            }
            if (arr[c]) {
                bool other_kind[2] = {false, false};
                const busy_guard guard(kind == 0 ? vm_busy[c] : other_kind[0]);
                const busy_guard source(kind == 0 ? vm_busy[self ? c : 1 - c] : other_kind[1]);
                *arr[c] = std::move(**src); // a self-move where `self`: must change nothing
            } else {
                arr[c].emplace(std::move(**src));
            }
            return 0;
        });
    }
    long swap_containers(int kind, int how) {
        return with_kind(kind, [&](auto& arr) -> long {
            if (arr[0] && arr[1]) {
                if (how % 2 == 0) {
                    arr[0]->swap(*arr[1]);
                } else {
                    using std::swap;
                    swap(*arr[0], *arr[1]);
                }
            } else {
                std::swap(arr[0], arr[1]);
            }
            return 0;
        });
    }
    long destroy(int kind, int c) {
        return with_kind(kind, [&](auto& arr) -> long {
            arr[c].reset();
            return 0;
        });
    }
    long recreate(int kind, int c, int how) {
        return with_kind(kind, [&](auto& arr) -> long {
            // The old one goes first (its tier's values may die, and a death may destroy the
            // other), then the new one is made.
            arr[c].reset();
            auto& other = arr[1 - c];
            if (how % 3 == 1 && other) {
                arr[c].emplace(*other);
            } else if (how % 3 == 2 && other) {
                arr[c].emplace(std::move(*other));
            } else {
                arr[c].emplace();
            }
            return 0;
        });
    }
    long size_of(int kind, int c) {
        return with_kind(kind, [&](auto& arr) -> long {
            return arr[c] ? static_cast<long>(arr[c]->size()) : kGone;
        });
    }
    long empty(int kind, int c) {
        return with_kind(kind, [&](auto& arr) -> long {
            return arr[c] ? static_cast<long>(arr[c]->empty()) : kGone;
        });
    }
    Obs items(int kind, int c) {
        Obs out;
        std::vector<std::pair<long, long>> pairs;
        std::vector<long> ids;
        switch (kind) {
        case 0:
            if (!vm[c]) {
                break;
            }
            for (const auto& [k, v] : vm[c]->items()) {
                pairs.emplace_back(k, v->id);
            }
            append_sorted(out, pairs);
            return out;
        case 1:
            if (!km[c]) {
                break;
            }
            for (const auto& [k, v] : km[c]->items()) {
                pairs.emplace_back(k->id, v.v);
            }
            append_sorted(out, pairs);
            return out;
        default:
            if (!set[c]) {
                break;
            }
            for (const P& r : set[c]->items()) {
                ids.push_back(r->id);
            }
            append_sorted(out, ids);
            return out;
        }
        out.push_back(kGone);
        return out;
    }
    Obs keys(int kind, int c) {
        Obs out;
        std::vector<long> ids;
        if (kind == 0) {
            if (!vm[c]) {
                out.push_back(kGone);
                return out;
            }
            for (long k : vm[c]->keys()) {
                ids.push_back(k);
            }
        } else {
            if (!km[c]) {
                out.push_back(kGone);
                return out;
            }
            for (const P& k : km[c]->keys()) {
                ids.push_back(k->id);
            }
        }
        append_sorted(out, ids);
        return out;
    }
    /// begin()/end() in place in weakref::local::; items() in weakref::, which has no
    /// iteration in place.
    Obs iterate(int kind, int c) {
        if constexpr (!F::local) {
            return items(kind, c);
        } else {
            Obs out;
            std::vector<std::pair<long, long>> pairs;
            std::vector<long> ids;
            switch (kind) {
            case 0:
                if (!vm[c]) {
                    break;
                }
                for (auto it = vm[c]->begin(); it != vm[c]->end(); ++it) {
                    const auto& [k, v] = *it;
                    pairs.emplace_back(k, v->id);
                }
                append_sorted(out, pairs);
                return out;
            case 1:
                if (!km[c]) {
                    break;
                }
                for (const auto& [k, v] : *km[c]) {
                    pairs.emplace_back(k->id, v.v);
                }
                append_sorted(out, pairs);
                return out;
            default:
                if (!set[c]) {
                    break;
                }
                for (const P& r : *set[c]) {
                    ids.push_back(r->id);
                }
                append_sorted(out, ids);
                return out;
            }
            out.push_back(kGone);
            return out;
        }
    }

    // --- keep_recent ---

    long vm_keep_recent(int c, int choice) {
        if (!vm[c]) {
            return kGone;
        }
        const busy_guard guard(vm_busy[c]);
        vm[c]->keep_recent(kKeepSizes[choice % kKeepChoices]);
        return static_cast<long>(vm[c]->recent_capacity());
    }
    long recent_capacity(int c) const {
        return vm[c] ? static_cast<long>(vm[c]->recent_capacity()) : kGone;
    }
    bool teardown_tiers() {
        bool any = false;
        for (int c = 0; c < kCopies; ++c) {
            if (vm[c] && vm[c]->recent_capacity() != 0) {
                any = true;
                vm_keep_recent(c, 0);
            }
        }
        return any;
    }

    // --- weak_interner ---

    /// how % 3: intern(const Sym&), intern(Sym&&), or the heterogeneous intern(SymKey).
    long in_intern(int s, int v, int how) {
        SymRef got;
        switch (how % 3) {
        case 0: {
            const Sym value(v, &live_syms);
            got = in->intern(value);
            break;
        }
        case 1:
            got = in->intern(Sym(v, &live_syms));
            break;
        default:
            got = in->intern(SymKey{v, &live_syms});
            break;
        }
        const long out = got->v;
        put(isl[s], std::move(got));
        return out;
    }
    long in_contains(int v, int how) {
        if (how % 2 == 0) {
            const Sym value(v, &live_syms);
            return in->contains(value);
        }
        return in->contains(SymKey{v, &live_syms});
    }
    void in_drop(int s) { put(isl[s], SymRef()); }
    void in_copy(int a, int b) {
        SymRef tmp = isl[a];
        put(isl[b], std::move(tmp));
    }
    long in_reset(int how) {
        switch (how % 4) {
        case 0:
            in.emplace();
            break;
        case 1: {
            Interner copy(*in);
            in.emplace(std::move(copy));
            break;
        }
        case 2: {
            Interner other;
            other = *in;
            *in = std::move(other);
            break;
        }
        default: {
            Interner empty_one;
            in->swap(empty_one);
            empty_one.swap(*in); // and back
            break;
        }
        }
        return 0;
    }
    Obs in_state() {
        Obs out;
        for (const SymRef& p : isl) {
            out.push_back(p ? p->v : kNone);
            out.push_back(p.use_count());
            out.push_back(p.weak_count());
        }
        for (int i = 0; i < kSyms; ++i) {
            for (int j = i + 1; j < kSyms; ++j) {
                out.push_back(isl[i] && isl[i] == isl[j]);
            }
        }
        out.push_back(static_cast<long>(in->size()));
        out.push_back(in->empty());
        for (int v = 0; v < kSymValues; ++v) {
            out.push_back(in_contains(v, v));
        }
        std::vector<long> vs;
        for (const SymRef& r : in->values()) {
            vs.push_back(r->v);
        }
        append_sorted(out, vs);
        out.push_back(live_syms);
        return out;
    }

    // --- weak_signal<void(int)> ---

    long sig_connect(int s, int h, SubAction act) {
        if (!sig) {
            return kGone;
        }
        const int cid = next_cid;
        Conn made = sig->connect(slots[s], [this, cid, act](Obj& o, int arg) {
            heard.push_back(cid);
            heard.push_back(o.id);
            heard.push_back(arg);
            sub_action(act);
        });
        ++next_cid; // only a connection made takes an id, as in the model
        conn[h] = std::move(made);
        return cid;
    }
    long sig_emit(int arg) {
        if (!sig) {
            return kGone;
        }
        if (arg % 2 == 0) {
            sig->emit(arg);
        } else {
            (*sig)(arg);
        }
        return 0;
    }
    void sub_action(SubAction act) {
        switch (act.kind % kSubActionKinds) {
        case 0:
            break;
        case 1:
            drop(act.a % kSlots);
            break;
        case 2:
            heard.push_back(conn[act.a % kConns].disconnect());
            break;
        default:
            heard.push_back(sig_size());
            break;
        }
    }
    long sig_size() const { return sig ? static_cast<long>(sig->size()) : kGone; }
    long sig_disconnect(int h) { return conn[h].disconnect(); }
    long sig_alive(int h) const { return conn[h].alive(); }
    void sig_conn_copy(int a, int b) { conn[b] = conn[a]; }
    void sig_conn_drop(int h) { conn[h] = Conn(); }
    long sig_conn_equal(int a, int b) const { return conn[a] == conn[b]; }
    void sig_scoped(int h, int g) { sconn[g] = ScopedConn(conn[h]); }
    void sig_scoped_drop(int g) { sconn[g] = ScopedConn(); }
    void sig_scoped_release(int g, int h) { conn[h] = sconn[g].release(); }
    long sig_scoped_disconnect(int g) { return sconn[g].disconnect(); }
    long sig_disconnect_all() {
        if (!sig) {
            return kGone;
        }
        sig->disconnect_all();
        return 0;
    }
    long sig_reset(int how) {
        switch (how % 4) {
        case 0:
            sig.emplace();
            return 0;
        case 3:
            sig.reset();
            return 0;
        default:
            break;
        }
        if (!sig) {
            return kGone;
        }
        if (how % 4 == 1) {
            Signal moved(std::move(*sig));
            sig.emplace(std::move(moved));
        } else {
            Signal other(std::move(*sig));
            *sig = std::move(other);
        }
        return 0;
    }
    Obs sig_state() const {
        Obs out;
        for (const Conn& h : conn) {
            out.push_back(h.alive());
        }
        for (const ScopedConn& g : sconn) {
            out.push_back(g.alive());
        }
        out.push_back(sig_size());
        out.push_back(sig ? static_cast<long>(sig->empty()) : kGone);
        out.push_back(static_cast<long>(heard.size()));
        out.insert(out.end(), heard.begin(), heard.end());
        return out;
    }

    // --- Observation ---

    /// Every observable, in the same layout as Model::snapshot().
    Obs snapshot() {
        Obs out;
        for (const P& p : slots) {
            out.push_back(p ? p->id : kNone);
            out.push_back(p.use_count());
            out.push_back(p.weak_count());
        }
        for (const W& w : wslots) {
            out.push_back(w.expired());
            const P p = w.lock();
            out.push_back(p ? p->id : kNone);
            out.push_back(w.use_count());
            out.push_back(w.weak_count());
        }
        for (const Fin& f : fin) {
            out.push_back(f.alive());
        }
        for (const Scoped& g : scoped) {
            out.push_back(g.alive());
        }
        const long vals = live_vals; // before items() copies any
        for (int kind = 0; kind < 3; ++kind) {
            for (int c = 0; c < kCopies; ++c) {
                out.push_back(size_of(kind, c));
                out.push_back(empty(kind, c));
                Obs it = items(kind, c);
                out.insert(out.end(), it.begin(), it.end());
                if (kind < 2) {
                    Obs k = keys(kind, c);
                    out.insert(out.end(), k.begin(), k.end());
                }
            }
        }
        for (int c = 0; c < kCopies; ++c) {
            out.push_back(recent_capacity(c));
        }
        const Obs interned = in_state();
        out.insert(out.end(), interned.begin(), interned.end());
        const Obs signal = sig_state();
        out.insert(out.end(), signal.begin(), signal.end());
        out.push_back(live_objects);
        out.push_back(vals);
        out.push_back(static_cast<long>(log.size()));
        out.insert(out.end(), log.begin(), log.end());
        append_notices(out, notices);
        return out;
    }

    void teardown_handles() {
        for (int s = 0; s < kSyms; ++s) {
            in_drop(s);
        }
        for (int pass = 0; pass <= kSlots + next_id; ++pass) {
            bool any = false;
            for (int s = 0; s < kSlots; ++s) {
                if (slots[s]) {
                    any = true;
                    drop(s);
                }
            }
            any = teardown_tiers() || any;
            if (!any) {
                break;
            }
        }
    }
    void teardown_rest() {
        for (ScopedConn& g : sconn) {
            g = ScopedConn();
        }
        for (Conn& h : conn) {
            h = Conn();
        }
        sig.reset();
        in.reset();
        for (W& w : wslots) {
            w.reset();
        }
        for (int g = 0; g < kScoped; ++g) {
            scoped_drop(g);
        }
        for (Fin& f : fin) {
            f = Fin();
        }
        for (int c = 0; c < kCopies; ++c) {
            vm[c].reset();
            km[c].reset();
            set[c].reset();
        }
    }

    long live_objects = 0;
    long live_vals = 0;
    long live_syms = 0;

private:
    void callback(int reg, Action act) {
        log.push_back(reg);
        switch (act.kind % kActionKinds) {
        case 0:
            break;
        case 1:
            drop(act.a % kSlots);
            break;
        case 2:
            log.push_back(fin_detach(act.a % kFin));
            break;
        case 3:
            for (int kind = 0; kind < 3; ++kind) {
                for (int c = 0; c < kCopies; ++c) {
                    log.push_back(size_of(kind, c));
                }
            }
            break;
        case 4: {
            const int kind = act.a % 3;
            const int c = act.b % kCopies;
            if ((act.b & 2) != 0 && !busy(kind, c)) {
                destroy(kind, c);
            } else {
                clear(kind, c);
            }
            break;
        }
        case 5: {
            const P p = wslots[act.a % kWeak].lock();
            log.push_back(p ? p->id : kNone);
            break;
        }
        case 6:
            lock(act.a % kWeak, act.b % kSlots);
            break;
        case 7: // a new registration, on another (live) object
            if (slots[act.a % kSlots]) {
                on_death(act.a % kSlots, act.b % kFin, Action{0, 0, 0});
            } else {
                log.push_back(kNone);
            }
            break;
        default: // runs another registration now: one of this object's still armed is run here
            log.push_back(fin_call(act.a % kFin));
            break;
        }
    }

public:
    P slots[kSlots];
    W wslots[kWeak];
    Fin fin[kFin];
    Scoped scoped[kScoped];
    std::optional<VM> vm[kCopies];
    std::optional<KM> km[kCopies];
    std::optional<Set> set[kCopies];
    std::vector<long> log;
    int next_id = 0;
    int next_reg = 0;
    bool vm_busy[kCopies] = {};
    int next_tag = 0;
    std::vector<Notice> pending; // this op's notices
    std::vector<Notice> notices; // every op's, each op's sorted
    SymRef isl[kSyms];
    std::optional<Interner> in;
    std::optional<Signal> sig;
    Conn conn[kConns];
    ScopedConn sconn[kScopedConns];
    std::vector<long> heard;
    int next_cid = 0;
};

static_assert(static_cast<long>(weakref::removal_cause::died) == kDied &&
                  static_cast<long>(weakref::removal_cause::erased) == kErased &&
                  static_cast<long>(weakref::removal_cause::replaced) == kReplaced &&
                  static_cast<long>(weakref::removal_cause::cleared) == kCleared,
              "the model numbers the removal causes as weakref does");

// --- Decoding: an opcode byte and its argument bytes; a short input reads zeros
// --------------------

enum Code : std::uint8_t {
    kMake,           // slot
    kCopy,           // from, to
    kMove,           // from, to
    kDrop,           // slot
    kSwap,           // a, b
    kWeakOf,         // weak, slot
    kWeakCopy,       // from, to
    kWeakDrop,       // weak
    kLock,           // weak, slot
    kLockCtor,       // weak
    kEqual,          // a, b
    kOnDeath,        // slot, finalizer, action kind, action a, action b
    kFinCopy,        // from, to
    kFinDrop,        // finalizer
    kFinDetach,      // finalizer
    kFinCall,        // finalizer
    kScopedFrom,     // finalizer, scoped
    kScopedDrop,     // scoped
    kScopedRelease,  // scoped, finalizer
    kScopedDetach,   // scoped
    kScopedCall,     // scoped
    kVmInsert,       // map, key, slot, flags
    kVmErase,        // map, key
    kVmGet,          // map, key
    kVmContains,     // map, key
    kVmGetOrInsert,  // map, key, result slot, make kind, make arg
    kVmValues,       // map
    kKmInsert,       // map, slot, value, flags
    kKmErase,        // map, slot
    kKmGet,          // map, slot
    kKmContains,     // map, slot
    kSetInsert,      // set, slot
    kSetErase,       // set, slot
    kSetContains,    // set, slot
    kClear,          // kind, which
    kCopyAssign,     // kind, which, self
    kMoveAssign,     // kind, which, self
    kSwapContainers, // kind, how
    kDestroy,        // kind, which
    kRecreate,       // kind, which, how
    kIterate,        // kind, which
    kSize,           // kind, which
    kVmTake,         // map, key, result slot
    kVmEraseIf,      // map, key mask, value mode
    kVmGetOrEmplace, // map, key, result slot
    kVmValueRefs,    // map
    kKmTryEmplace,   // map, slot, value
    kKmGetOrInsert,  // map, slot, value, make kind
    kKmUpdate,       // map, slot, delta
    kKmVisit,        // map, slot
    kKmTake,         // map, slot
    kKmValues,       // map
    kKmEraseIf,      // map, modulus
    kSetPop,         // set, result slot
    kSetEraseIf,     // set, mask
    kSetAlgebra,     // set, op, self
    kSetRelation,    //
    kCompare,        // kind
    kOnRemove,       // kind, which, mode
    kVmKeepRecent,   // map, n choice
    kInIntern,       // sym slot, value, how
    kInContains,     // value, how
    kInDrop,         // sym slot
    kInCopy,         // from, to
    kInReset,        // how
    kSigConnect,     // slot, handle, action kind, action arg
    kSigEmit,        // arg
    kSigDisconnect,  // handle
    kSigAlive,       // handle
    kSigConnCopy,    // from, to
    kSigConnDrop,    // handle
    kSigConnEqual,   // a, b
    kSigScoped,      // handle, scoped
    kSigScopedDrop,  // scoped
    kSigScopedRel,   // scoped, handle
    kSigScopedDisc,  // scoped
    kSigDiscAll,     //
    kSigSize,        //
    kSigReset,       // how
    kNumCodes
};

constexpr int kMaxArgs = 5;
constexpr std::uint8_t kArgs[] = {
    1, 2, 2, 1, 2, 2, 2, 1, 2, 1, 2, 5, 2, 1, 1, 1, 2, 1, 2, 1, 1, 4, 2, 2, 2, 5, 1,
    4, 2, 2, 2, 2, 2, 2, 2, 3, 3, 2, 2, 3, 2, 2, 3, 3, 3, 1, 3, 4, 3, 2, 2, 1, 2, 2,
    2, 3, 0, 1, 3, 2, 3, 2, 1, 2, 1, 4, 1, 1, 1, 2, 1, 2, 2, 1, 2, 1, 0, 0, 1,
};
constexpr const char* kNames[] = {
    "make",           "copy",
    "move",           "drop",
    "swap",           "weak_of",
    "weak_copy",      "weak_drop",
    "lock",           "lock_ctor",
    "equal",          "on_death",
    "fin_copy",       "fin_drop",
    "fin_detach",     "fin_call",
    "scoped_from",    "scoped_drop",
    "scoped_rel",     "scoped_detach",
    "scoped_call",    "vm_insert",
    "vm_erase",       "vm_get",
    "vm_contains",    "vm_get_or_ins",
    "vm_values",      "km_insert",
    "km_erase",       "km_get",
    "km_contains",    "set_insert",
    "set_erase",      "set_contains",
    "clear",          "copy_assign",
    "move_assign",    "swap_cont",
    "destroy",        "recreate",
    "iterate",        "size",
    "vm_take",        "vm_erase_if",
    "vm_get_or_emp",  "vm_value_refs",
    "km_try_emplace", "km_get_or_ins",
    "km_update",      "km_visit",
    "km_take",        "km_values",
    "km_erase_if",    "set_pop",
    "set_erase_if",   "set_algebra",
    "set_relation",   "compare",
    "on_remove",      "vm_keep_recent",
    "in_intern",      "in_contains",
    "in_drop",        "in_copy",
    "in_reset",       "sig_connect",
    "sig_emit",       "sig_disconnect",
    "sig_alive",      "sig_conn_copy",
    "sig_conn_drop",  "sig_conn_equal",
    "sig_scoped",     "sig_scoped_drop",
    "sig_scoped_rel", "sig_scoped_disc",
    "sig_disc_all",   "sig_size",
    "sig_reset",
};

static_assert(sizeof(kArgs) == kNumCodes, "one argument count per code");
static_assert(sizeof(kNames) / sizeof(kNames[0]) == kNumCodes, "one name per code");

struct Op {
    Code code;
    std::uint8_t a[kMaxArgs];
};

class Reader {
public:
    Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    bool done() const { return pos_ >= size_; }
    std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
    Op op() {
        Op o{};
        o.code = static_cast<Code>(byte() % kNumCodes);
        for (int i = 0; i < kArgs[o.code]; ++i) {
            o.a[i] = byte();
        }
        return o;
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

/// Applies one operation to a world; what it observes, exceptions included.
template <class World> Obs apply(World& w, const Op& op) {
    Obs out;
    const auto s = [&](int i) { return op.a[i] % kSlots; };
    const auto wk = [&](int i) { return op.a[i] % kWeak; };
    const auto f = [&](int i) { return op.a[i] % kFin; };
    const auto g = [&](int i) { return op.a[i] % kScoped; };
    const auto c = [&](int i) { return op.a[i] % kCopies; };
    const auto k = [&](int i) { return op.a[i] % kKeys; };
    const auto kind = [&](int i) { return op.a[i] % 3; };
    const auto raw = [&](int i) { return (op.a[i] & kSlots) != 0; }; // the const T* overloads
    try {
        switch (op.code) {
        case kMake:
            w.make(s(0));
            break;
        case kCopy:
            w.copy(s(0), s(1));
            break;
        case kMove:
            w.move(s(0), s(1));
            break;
        case kDrop:
            w.drop(s(0));
            break;
        case kSwap:
            w.swap(s(0), s(1));
            break;
        case kWeakOf:
            w.weak(wk(0), s(1));
            break;
        case kWeakCopy:
            w.weak_copy(wk(0), wk(1));
            break;
        case kWeakDrop:
            w.weak_drop(wk(0));
            break;
        case kLock:
            out.push_back(w.lock(wk(0), s(1)));
            break;
        case kLockCtor:
            out.push_back(w.lock_ctor(wk(0)));
            break;
        case kEqual:
            out.push_back(w.equal(op.a[0] % kSlots, op.a[1] % kSlots));
            break;
        case kOnDeath:
            w.on_death(s(0), f(1), Action{op.a[2], op.a[3], op.a[4]});
            break;
        case kFinCopy:
            w.fin_copy(f(0), f(1));
            break;
        case kFinDrop:
            w.fin_drop(f(0));
            break;
        case kFinDetach:
            out.push_back(w.fin_detach(f(0)));
            break;
        case kFinCall:
            out.push_back(w.fin_call(f(0)));
            break;
        case kScopedFrom:
            w.scoped_from(f(0), g(1));
            break;
        case kScopedDrop:
            w.scoped_drop(g(0));
            break;
        case kScopedRelease:
            w.scoped_release(g(0), f(1));
            break;
        case kScopedDetach:
            out.push_back(w.scoped_detach(g(0)));
            break;
        case kScopedCall:
            out.push_back(w.scoped_call(g(0)));
            break;
        case kVmInsert:
            out.push_back(w.vm_insert(c(0), k(1), s(2), op.a[3]));
            break;
        case kVmErase:
            out.push_back(w.vm_erase(c(0), k(1)));
            break;
        case kVmGet:
            out.push_back(w.vm_get(c(0), k(1)));
            break;
        case kVmContains:
            out.push_back(w.vm_contains(c(0), k(1)));
            break;
        case kVmGetOrInsert:
            out.push_back(w.vm_get_or_insert(c(0), k(1), s(2), MakePlan{op.a[3], op.a[4]}));
            break;
        case kVmValues:
            out = w.vm_values(c(0));
            break;
        case kKmInsert:
            out.push_back(w.km_insert(c(0), s(1), op.a[2], op.a[3]));
            break;
        case kKmErase:
            out.push_back(w.km_erase(c(0), s(1), raw(1)));
            break;
        case kKmGet:
            out.push_back(w.km_get(c(0), s(1), raw(1)));
            break;
        case kKmContains:
            out.push_back(w.km_contains(c(0), s(1), raw(1)));
            break;
        case kSetInsert:
            out.push_back(w.set_insert(c(0), s(1)));
            break;
        case kSetErase:
            out.push_back(w.set_erase(c(0), s(1), raw(1)));
            break;
        case kSetContains:
            out.push_back(w.set_contains(c(0), s(1), raw(1)));
            break;
        case kClear:
            out.push_back(w.clear(kind(0), c(1)));
            break;
        case kCopyAssign:
            out.push_back(w.copy_assign(kind(0), c(1), op.a[2] % 4 == 0));
            break;
        case kMoveAssign:
            out.push_back(w.move_assign(kind(0), c(1), op.a[2] % 4 == 0));
            break;
        case kSwapContainers:
            out.push_back(w.swap_containers(kind(0), op.a[1]));
            break;
        case kDestroy:
            out.push_back(w.destroy(kind(0), c(1)));
            break;
        case kRecreate:
            out.push_back(w.recreate(kind(0), c(1), op.a[2]));
            break;
        case kIterate:
            out = w.iterate(kind(0), c(1));
            break;
        case kSize:
            out.push_back(w.size_of(kind(0), c(1)));
            out.push_back(w.empty(kind(0), c(1)));
            break;
        case kVmTake:
            out.push_back(w.vm_take(c(0), k(1), s(2)));
            break;
        case kVmEraseIf:
            out.push_back(w.vm_erase_if(c(0), op.a[1], op.a[2]));
            break;
        case kVmGetOrEmplace:
            out.push_back(w.vm_get_or_emplace(c(0), k(1), s(2)));
            break;
        case kVmValueRefs:
            out = w.vm_value_refs(c(0));
            break;
        case kKmTryEmplace:
            out.push_back(w.km_try_emplace(c(0), s(1), op.a[2]));
            break;
        case kKmGetOrInsert:
            out.push_back(w.km_get_or_insert(c(0), s(1), op.a[2], op.a[3]));
            break;
        case kKmUpdate:
            out.push_back(w.km_update(c(0), s(1), op.a[2], raw(1)));
            break;
        case kKmVisit:
            out.push_back(w.km_visit(c(0), s(1), raw(1)));
            break;
        case kKmTake:
            out.push_back(w.km_take(c(0), s(1), raw(1)));
            break;
        case kKmValues:
            out = w.km_values(c(0));
            break;
        case kKmEraseIf:
            out.push_back(w.km_erase_if(c(0), op.a[1]));
            break;
        case kSetPop:
            out.push_back(w.set_pop(c(0), s(1)));
            break;
        case kSetEraseIf:
            out.push_back(w.set_erase_if(c(0), op.a[1]));
            break;
        case kSetAlgebra:
            out.push_back(w.set_algebra(c(0), op.a[1], op.a[2] % 4 == 0));
            break;
        case kSetRelation:
            out.push_back(w.set_relation());
            break;
        case kCompare:
            out.push_back(w.compare(kind(0)));
            break;
        case kOnRemove:
            out.push_back(w.on_remove(kind(0), c(1), op.a[2]));
            break;
        case kVmKeepRecent:
            out.push_back(w.vm_keep_recent(c(0), op.a[1]));
            break;
        case kInIntern:
            out.push_back(w.in_intern(op.a[0] % kSyms, op.a[1] % kSymValues, op.a[2]));
            break;
        case kInContains:
            out.push_back(w.in_contains(op.a[0] % kSymValues, op.a[1]));
            break;
        case kInDrop:
            w.in_drop(op.a[0] % kSyms);
            break;
        case kInCopy:
            w.in_copy(op.a[0] % kSyms, op.a[1] % kSyms);
            break;
        case kInReset:
            out.push_back(w.in_reset(op.a[0]));
            break;
        case kSigConnect:
            out.push_back(w.sig_connect(s(0), op.a[1] % kConns, SubAction{op.a[2], op.a[3]}));
            break;
        case kSigEmit:
            out.push_back(w.sig_emit(op.a[0]));
            break;
        case kSigDisconnect:
            out.push_back(w.sig_disconnect(op.a[0] % kConns));
            break;
        case kSigAlive:
            out.push_back(w.sig_alive(op.a[0] % kConns));
            break;
        case kSigConnCopy:
            w.sig_conn_copy(op.a[0] % kConns, op.a[1] % kConns);
            break;
        case kSigConnDrop:
            w.sig_conn_drop(op.a[0] % kConns);
            break;
        case kSigConnEqual:
            out.push_back(w.sig_conn_equal(op.a[0] % kConns, op.a[1] % kConns));
            break;
        case kSigScoped:
            w.sig_scoped(op.a[0] % kConns, op.a[1] % kScopedConns);
            break;
        case kSigScopedDrop:
            w.sig_scoped_drop(op.a[0] % kScopedConns);
            break;
        case kSigScopedRel:
            w.sig_scoped_release(op.a[0] % kScopedConns, op.a[1] % kConns);
            break;
        case kSigScopedDisc:
            out.push_back(w.sig_scoped_disconnect(op.a[0] % kScopedConns));
            break;
        case kSigDiscAll:
            out.push_back(w.sig_disconnect_all());
            break;
        case kSigSize:
            out.push_back(w.sig_size());
            break;
        case kSigReset:
            out.push_back(w.sig_reset(op.a[0]));
            break;
        case kNumCodes:
            break;
        }
    } catch (const FuzzThrow&) {
        out.push_back(kThrewBase - 1);
    } catch (const std::invalid_argument&) {
        out.push_back(kThrewBase - 2);
    } catch (const std::logic_error&) {
        out.push_back(kThrewBase - 3);
    } catch (const weakref::bad_weak_ref&) {
        out.push_back(kThrewBase - 4);
    } catch (const std::bad_weak_ptr&) {
        out.push_back(kThrewBase - 4);
    } catch (...) {
        out.push_back(kThrewBase - 5);
    }
    return out;
}

// --- The driver -------------------------------------------------------------------------------

void print(const char* who, const Obs& o) {
    std::fprintf(stderr, "  %-18s", who);
    for (long v : o) {
        std::fprintf(stderr, " %ld", v);
    }
    std::fprintf(stderr, "\n");
}

[[noreturn]] void differ(const char* flavour, int index, const Op* op, const char* what,
                         const Obs& lib, const Obs& model) {
    std::fprintf(stderr, "\nweakref_fuzzer: %s differs from the model: %s after op #%d", flavour,
                 what, index);
    if (op != nullptr) {
        std::fprintf(stderr, " %s(", kNames[op->code]);
        for (int i = 0; i < kArgs[op->code]; ++i) {
            std::fprintf(stderr, "%s%d", i == 0 ? "" : ", ", op->a[i]);
        }
        std::fprintf(stderr, ")");
    } else {
        std::fprintf(stderr, " (teardown)");
    }
    std::fprintf(stderr, "\n");
    print(flavour, lib);
    print("model", model);
    std::size_t i = 0;
    while (i < lib.size() && i < model.size() && lib[i] == model[i]) {
        ++i;
    }
    std::fprintf(stderr, "  first difference at position %zu\n", i);
    std::abort();
}

bool verbose() {
    static const bool on = std::getenv("WEAKREF_FUZZ_TRACE") != nullptr;
    return on;
}

template <class F> void run(const std::uint8_t* data, std::size_t size) {
    constexpr int kMaxOps = 400;
    Library<F> lib;
    Model model;
    model.shard_bits = F::shard_bits;
    Reader in(data, size);
    int index = 0;
    for (; !in.done() && index < kMaxOps; ++index) {
        const Op op = in.op();
        if (verbose()) {
            std::fprintf(stderr, "%s #%d %s(", F::name, index, kNames[op.code]);
            for (int i = 0; i < kArgs[op.code]; ++i) {
                std::fprintf(stderr, "%s%d", i == 0 ? "" : ", ", op.a[i]);
            }
            std::fprintf(stderr, ")\n");
        }
        g_popped = kNone;
        g_lib_deaths.clear();
        const Obs got = apply(lib, op); // first: the model checks the library's pop
        const Obs want = apply(model, op);
        lib.seal_notices();
        model.seal_notices();
        if (got != want) {
            differ(F::name, index, &op, "the result", got, want);
        }
        const Obs lib_state = lib.snapshot();
        const Obs model_state = model.snapshot();
        if (lib_state != model_state) {
            differ(F::name, index, &op, "the state", lib_state, model_state);
        }
    }
    g_lib_deaths.clear();
    lib.teardown_handles();
    model.teardown_handles();
    lib.seal_notices();
    model.seal_notices();
    const Obs lib_state = lib.snapshot();
    const Obs model_state = model.snapshot();
    if (lib_state != model_state) {
        differ(F::name, index, nullptr, "the state", lib_state, model_state);
    }
    g_lib_deaths.clear();
    lib.teardown_rest();
    model.teardown_rest();
    const Obs lib_end{lib.live_objects, lib.live_vals, lib.live_syms};
    const Obs model_end{model.live_objects, 0, model.live_syms};
    if (lib_end != model_end) {
        differ(F::name, index, nullptr, "live objects and values at the end", lib_end, model_end);
    }
}

} // namespace fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::run<fuzz::LocalFlavour>(data, size);
    fuzz::run<fuzz::SafeFlavour>(data, size);
    return 0;
}
