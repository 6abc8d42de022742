// SPDX-License-Identifier: MIT
// The fuzzer's shared vocabulary and its plain model of weakref, built on std::shared_ptr.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

namespace fuzz {

// --- What both worlds share -----------------------------------------------------------------

constexpr int kSlots = 8;  // strong handles
constexpr int kWeak = 8;   // weak handles
constexpr int kFin = 6;    // finalizer handles
constexpr int kScoped = 3; // scoped_finalizer handles
constexpr int kKeys = 8;   // keys of the value maps
constexpr int kCopies = 2; // instances of each container kind

// Results that are not ids or counts.
constexpr long kNone = -1;         // no object
constexpr long kGone = -3000;      // the container was destroyed
constexpr long kThrewBase = -1000; // kThrewBase - code: the operation threw

/// A referent: an id, so that observations compare across worlds, and a live-instance count.
struct Obj {
    Obj(int id_, long* live_) : id(id_), live(live_) { ++*live; }
    Obj(const Obj&) = delete;
    Obj& operator=(const Obj&) = delete;
    ~Obj() { --*live; }
    int id;
    long* live;
};

/// A weak_key_map value that counts its instances (the model keeps plain ints).
struct Val {
    Val(int v_, long* live_) : v(v_), live(live_) { ++*live; }
    Val(const Val& o) : v(o.v), live(o.live) { ++*live; }
    Val(Val&& o) noexcept : v(o.v), live(o.live) { ++*live; }
    Val& operator=(const Val& o) {
        v = o.v;
        return *this;
    }
    Val& operator=(Val&& o) noexcept {
        v = o.v;
        return *this;
    }
    ~Val() { --*live; }
    /// Equal by v (weak_key_map's == compares values with V's ==).
    friend bool operator==(const Val& a, const Val& b) noexcept { return a.v == b.v; }
    int v;
    long* live;
};

/// Thrown by a get_or_insert factory on request.
struct FuzzThrow {};

/// What a death callback does besides logging its registration id.
struct Action {
    std::uint8_t kind, a, b;
};
constexpr int kActionKinds = 9;

/// What a get_or_insert factory does.
struct MakePlan {
    std::uint8_t kind, a;
};
constexpr int kMakeKinds = 5;

using Obs = std::vector<long>;

/// A removal listener's notice: container kind (0 value map, 1 key map, 2 set), the listener's
/// tag, what left (the key; the key object's or element's id), the value handed over (key map;
/// else 0), and the cause, numbered as weakref::removal_cause.
using Notice = std::array<long, 5>;
constexpr long kDied = 0;
constexpr long kErased = 1;
constexpr long kReplaced = 2;
constexpr long kCleared = 3;

/// weak_set::pop removes "some" element: the library world's choice, which the model world
/// (run after it on each op) checks instead of predicting.
inline long g_popped = -1;

/// Sorts one op's notices (their order within an op is not specified) onto the log.
inline void seal(std::vector<Notice>& pending, std::vector<Notice>& log) {
    std::sort(pending.begin(), pending.end());
    log.insert(log.end(), pending.begin(), pending.end());
    pending.clear();
}
inline void append_notices(Obs& out, const std::vector<Notice>& log) {
    out.push_back(static_cast<long>(log.size()));
    for (const Notice& n : log) {
        out.insert(out.end(), n.begin(), n.end());
    }
}

inline void append_sorted(Obs& out, std::vector<long> v) {
    std::sort(v.begin(), v.end());
    out.push_back(static_cast<long>(v.size()));
    out.insert(out.end(), v.begin(), v.end());
}
inline void append_sorted(Obs& out, std::vector<std::pair<long, long>> v) {
    std::sort(v.begin(), v.end());
    out.push_back(static_cast<long>(v.size()));
    for (const auto& p : v) {
        out.push_back(p.first);
        out.push_back(p.second);
    }
}

/// Assigns through a temporary, so that the old value dies after the slot holds the new one:
/// both worlds then show a callback that runs at that death the same slot contents.
template <class T, class U> void put(T& slot, U&& value) {
    T old = std::move(slot);
    slot = std::forward<U>(value);
    old = T();
}

// --- The model --------------------------------------------------------------------------------

/// weakref's contract restated with std::shared_ptr, std::weak_ptr and std::map, and explicit
/// bookkeeping for callbacks and weak counts. Expired entries stay in the maps and count as
/// absent: every observation filters them.
class Model {
public:
    using P = std::shared_ptr<Obj>;
    struct W {
        std::weak_ptr<Obj> p;
        long id = kNone; // kept after death: identity of a weak handle
        bool live() const { return !p.expired(); }
    };
    enum State { kArmed, kRan, kDetached };
    struct Reg {
        long obj;
        State state;
        Action act;
    };
    using VM = std::map<long, W>;                  // key -> value
    using KM = std::map<long, std::pair<W, long>>; // key id -> (key, value)
    using Set = std::map<long, W>;                 // id -> element

    static constexpr bool local = true; // iteration in place is modelled by items()
    static constexpr const char* name = "model";

    Model() {
        for (int c = 0; c < kCopies; ++c) {
            vm[c].emplace();
            km[c].emplace();
            set[c].emplace();
        }
        std::fill(std::begin(fin), std::end(fin), -1);
        std::fill(std::begin(scoped), std::end(scoped), -1);
        for (auto& kind : tag) {
            std::fill(std::begin(kind), std::end(kind), -1);
        }
    }
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;
    ~Model() = default;

    // --- Handles ---

    P fresh() { return fresh_with(next_id++); }
    P fresh_with(int id) { return P(new Obj(id, &live_objects), Deleter{this}); }
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
    void weak(int w, int s) { wslots[w] = W{slots[s], slots[s] ? slots[s]->id : kNone}; }
    void weak_copy(int a, int b) { wslots[b] = wslots[a]; }
    void weak_drop(int w) { wslots[w] = W{}; }
    long lock(int w, int s) {
        P got = wslots[w].p.lock();
        const long id = got ? got->id : kNone;
        put(slots[s], std::move(got));
        return id;
    }
    long lock_ctor(int w) { return P(wslots[w].p)->id; } // throws std::bad_weak_ptr
    long equal(int a, int b) const {
        const long ia = slots[a] ? slots[a]->id : kNone;
        const long ib = slots[b] ? slots[b]->id : kNone;
        return (ia == ib ? 1 : 0) + (wslots[a].id == wslots[b].id ? 2 : 0);
    }

    // --- Death callbacks ---

    void on_death(int s, int f, Action act) {
        if (!slots[s]) {
            throw std::invalid_argument("on_death: empty");
        }
        const int reg = static_cast<int>(regs.size());
        regs.push_back(Reg{slots[s]->id, kArmed, act});
        regs_of[slots[s]->id].push_back(reg);
        fin[f] = reg;
    }
    void fin_copy(int a, int b) { fin[b] = fin[a]; }
    void fin_drop(int f) { fin[f] = -1; }
    bool detach_reg(int reg) {
        if (reg < 0 || regs[reg].state != kArmed) {
            return false;
        }
        regs[reg].state = kDetached;
        return true;
    }
    bool call_reg(int reg) {
        if (reg < 0 || regs[reg].state != kArmed) {
            return false;
        }
        regs[reg].state = kRan;
        callback(reg);
        return true;
    }
    bool alive_reg(int reg) const { return reg >= 0 && regs[reg].state == kArmed; }
    long fin_detach(int f) { return detach_reg(fin[f]); }
    long fin_call(int f) { return call_reg(fin[f]); }
    void scoped_from(int f, int g) {
        detach_reg(scoped[g]);
        scoped[g] = fin[f];
    }
    void scoped_drop(int g) {
        detach_reg(scoped[g]);
        scoped[g] = -1;
    }
    void scoped_release(int g, int f) {
        fin[f] = scoped[g];
        scoped[g] = -1;
    }
    long scoped_detach(int g) { return detach_reg(scoped[g]); }
    long scoped_call(int g) { return call_reg(scoped[g]); }

    // --- weak_value_map ---

    static P live_value(const VM& m, long k) {
        auto it = m.find(k);
        return it == m.end() ? P() : it->second.p.lock();
    }
    long vm_insert(int c, int k, int s, int flags) {
        if (!vm[c]) {
            return kGone;
        }
        const P& v = slots[s];
        if (!v) {
            throw std::invalid_argument("weak_value_map: empty");
        }
        VM& m = *vm[c];
        const P old = live_value(m, k);
        if (old && ((flags & 1) == 0 || old == v)) {
            return 0;
        }
        if (old) {
            notify(0, c, k, 0, kReplaced);
        }
        m[k] = W{v, v->id};
        return old ? 0 : 1;
    }
    long vm_erase(int c, int k) {
        if (!vm[c]) {
            return kGone;
        }
        const bool live = live_value(*vm[c], k) != nullptr;
        if (live) {
            notify(0, c, k, 0, kErased);
        }
        vm[c]->erase(k);
        return live;
    }
    long vm_get(int c, int k) const {
        if (!vm[c]) {
            return kGone;
        }
        const P v = live_value(*vm[c], k);
        return v ? v->id : kNone;
    }
    long vm_contains(int c, int k) const {
        if (!vm[c]) {
            return kGone;
        }
        return live_value(*vm[c], k) != nullptr;
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
        P result = live_value(*vm[c], k);
        if (!result) {
            struct busy_guard {
                bool& b;
                ~busy_guard() { b = false; }
            } guard{vm_busy[c] = true};
            P made = make_for(c, k, plan);
            if (made) {
                result = live_value(*vm[c], k); // inserted while make() ran: it wins
                if (!result) {
                    (*vm[c])[k] = W{made, made->id};
                    result = made;
                }
            }
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
        for (const auto& [k, w] : *vm[c]) {
            if (w.live()) {
                ids.push_back(w.id);
            }
        }
        append_sorted(out, ids);
        return out;
    }

    // --- weak_key_map ---

    long km_insert(int c, int s, int v, int flags) {
        if (!km[c]) {
            return kGone;
        }
        const P& key = slots[s];
        if (!key) {
            throw std::invalid_argument("weak_key_map: empty");
        }
        KM& m = *km[c];
        auto it = m.find(key->id);
        const bool live = it != m.end() && it->second.first.live();
        if (live && (flags & 1) == 0) {
            return 0;
        }
        if (live) {
            notify(1, c, key->id, it->second.second, kReplaced);
        }
        m[key->id] = {W{key, key->id}, v};
        return !live;
    }
    const std::pair<W, long>* km_find(int c, int s) const {
        if (!slots[s]) {
            return nullptr;
        }
        auto it = km[c]->find(slots[s]->id);
        return it != km[c]->end() && it->second.first.live() ? &it->second : nullptr;
    }
    long km_erase(int c, int s, bool /*raw*/ = false) {
        if (!km[c]) {
            return kGone;
        }
        const auto* e = km_find(c, s);
        const bool live = e != nullptr;
        if (live) {
            notify(1, c, slots[s]->id, e->second, kErased);
        }
        if (slots[s]) {
            km[c]->erase(slots[s]->id);
        }
        return live;
    }
    long km_get(int c, int s, bool /*raw*/ = false) const {
        if (!km[c]) {
            return kGone;
        }
        const auto* e = km_find(c, s);
        return e ? e->second : kNone;
    }
    long km_contains(int c, int s, bool /*raw*/ = false) const {
        if (!km[c]) {
            return kGone;
        }
        return km_find(c, s) != nullptr;
    }

    // --- weak_set ---

    long set_insert(int c, int s) {
        if (!set[c]) {
            return kGone;
        }
        if (!slots[s]) {
            throw std::invalid_argument("weak_set: empty");
        }
        if (set_contains(c, s) == 1) {
            return 0;
        }
        (*set[c])[slots[s]->id] = W{slots[s], slots[s]->id};
        return 1;
    }
    long set_erase(int c, int s, bool /*raw*/ = false) {
        if (!set[c]) {
            return kGone;
        }
        const long live = set_contains(c, s);
        if (live == 1) {
            notify(2, c, slots[s]->id, 0, kErased);
        }
        if (slots[s]) {
            set[c]->erase(slots[s]->id);
        }
        return live;
    }
    long set_contains(int c, int s, bool /*raw*/ = false) const {
        if (!set[c]) {
            return kGone;
        }
        if (!slots[s]) {
            return 0;
        }
        auto it = set[c]->find(slots[s]->id);
        return it != set[c]->end() && it->second.live();
    }

    // --- Any container: kind 0 value map, 1 key map, 2 set ---

    template <class F> decltype(auto) with_kind(int kind, F&& f) {
        switch (kind) {
        case 0:
            return f(vm);
        case 1:
            return f(km);
        default:
            return f(set);
        }
    }
    bool busy(int kind, int c) const { return kind == 0 && vm_busy[c]; }

    // --- Working inside the containers (API 1.1) ---

    long vm_take(int c, int k, int r) {
        if (!vm[c]) {
            return kGone;
        }
        P v = live_value(*vm[c], k);
        if (v) {
            notify(0, c, k, 0, kErased);
            vm[c]->erase(k);
        }
        const long id = v ? v->id : kNone;
        put(slots[r], std::move(v));
        return id;
    }
    /// erase_if(pred): key bit `k % 8` of kmask set, and the value's id even, odd or either.
    static bool vm_pred(long k, long id, int kmask, int vmode) {
        const bool key_ok = ((kmask >> (k % 8)) & 1) != 0;
        const int mode = vmode % 3;
        return key_ok && (mode == 0 || id % 2 == mode - 1);
    }
    long vm_erase_if(int c, int kmask, int vmode) {
        if (!vm[c]) {
            return kGone;
        }
        long n = 0;
        for (auto it = vm[c]->begin(); it != vm[c]->end();) {
            if (it->second.live() && vm_pred(it->first, it->second.id, kmask, vmode)) {
                notify(0, c, it->first, 0, kErased);
                it = vm[c]->erase(it);
                ++n;
            } else {
                ++it;
            }
        }
        return n;
    }
    long vm_get_or_emplace(int c, int k, int r) {
        if (!vm[c]) {
            return kGone;
        }
        const int id = next_id++; // the library's argument: taken whether used or not
        P result = live_value(*vm[c], k);
        if (!result) {
            result = fresh_with(id);
            (*vm[c])[k] = W{result, id};
        }
        const long got = result->id;
        put(slots[r], std::move(result));
        return got;
    }
    Obs vm_value_refs(int c) const { return vm_values(c); }

    long km_try_emplace(int c, int s, int v) { return km_insert(c, s, v, 0); }
    /// get_or_insert's factory: 0 returns v, 1 throws, 2 inserts v + 1 for the key (which wins)
    /// and returns v.
    long km_get_or_insert(int c, int s, int v, int kind) {
        if (!km[c]) {
            return kGone;
        }
        if (!slots[s]) {
            throw std::invalid_argument("weak_key_map: empty");
        }
        if (const auto* e = km_find(c, s)) {
            return e->second;
        }
        switch (kind % 3) {
        case 0:
            break;
        case 1:
            throw FuzzThrow{};
        default:
            km_insert(c, s, v + 1, 0);
            return v + 1;
        }
        (*km[c])[slots[s]->id] = {W{slots[s], slots[s]->id}, v};
        return v;
    }
    long km_update(int c, int s, int delta, bool /*raw*/) {
        if (!km[c]) {
            return kGone;
        }
        if (km_find(c, s) == nullptr) {
            return 0;
        }
        (*km[c])[slots[s]->id].second += delta;
        return 1;
    }
    long km_visit(int c, int s, bool /*raw*/) const {
        if (!km[c]) {
            return kGone;
        }
        const auto* e = km_find(c, s);
        return e ? e->second : kNone;
    }
    long km_take(int c, int s, bool /*raw*/) {
        if (!km[c]) {
            return kGone;
        }
        const auto* e = km_find(c, s);
        if (e == nullptr) {
            return kNone;
        }
        const long v = e->second;
        notify(1, c, slots[s]->id, v, kErased); // the moved-from value: a Val keeps its v
        km[c]->erase(slots[s]->id);
        return v;
    }
    Obs km_values(int c) const {
        Obs out;
        if (!km[c]) {
            out.push_back(kGone);
            return out;
        }
        std::vector<long> values;
        for (const auto& [id, e] : *km[c]) {
            if (e.first.live()) {
                values.push_back(e.second);
            }
        }
        append_sorted(out, values);
        return out;
    }
    /// erase_if(pred): the value is a multiple of modulus % 4 + 2.
    long km_erase_if(int c, int modulus) {
        if (!km[c]) {
            return kGone;
        }
        const long m = modulus % 4 + 2;
        long n = 0;
        for (auto it = km[c]->begin(); it != km[c]->end();) {
            if (it->second.first.live() && it->second.second % m == 0) {
                notify(1, c, it->first, it->second.second, kErased);
                it = km[c]->erase(it);
                ++n;
            } else {
                ++it;
            }
        }
        return n;
    }

    std::set<long> set_ids(int c) const {
        std::set<long> out;
        for (const auto& [id, w] : *set[c]) {
            if (w.live()) {
                out.insert(id);
            }
        }
        return out;
    }
    long set_pop(int c, int r) {
        if (!set[c]) {
            return kGone;
        }
        const std::set<long> ids = set_ids(c);
        const long chosen = g_popped;
        if (chosen == kNone) {
            put(slots[r], P());
            return ids.empty() ? kNone : -7777; // the library found nothing in a non-empty set
        }
        if (ids.count(chosen) == 0) {
            return -7778; // the library popped something that was not in the set
        }
        P p = (*set[c])[chosen].p.lock();
        notify(2, c, chosen, 0, kErased);
        set[c]->erase(chosen);
        put(slots[r], std::move(p));
        return chosen;
    }
    /// erase_if(pred): bit `id % 8` of mask set.
    long set_erase_if(int c, int mask) {
        if (!set[c]) {
            return kGone;
        }
        long n = 0;
        for (auto it = set[c]->begin(); it != set[c]->end();) {
            if (it->second.live() && ((mask >> (it->first % 8)) & 1) != 0) {
                notify(2, c, it->first, 0, kErased);
                it = set[c]->erase(it);
                ++n;
            } else {
                ++it;
            }
        }
        return n;
    }
    /// op % 8: 0-3 set c |=, &=, -=, ^= the other (the set itself where `self`); 4-7 set c
    /// becomes c | other, c & other, c - other, other ^ c. Returns the new size.
    long set_algebra(int c, int op, bool self) {
        const int other = self ? c : 1 - c;
        if (!set[c] || !set[other]) {
            return kGone;
        }
        const std::set<long> a = set_ids(c);
        const std::set<long> b = set_ids(other);
        std::set<long> next;
        switch (op % 4) {
        case 0:
            std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::inserter(next, next.end()));
            break;
        case 1:
            std::set_intersection(a.begin(), a.end(), b.begin(), b.end(),
                                  std::inserter(next, next.end()));
            break;
        case 2:
            std::set_difference(a.begin(), a.end(), b.begin(), b.end(),
                                std::inserter(next, next.end()));
            break;
        default:
            std::set_symmetric_difference(a.begin(), a.end(), b.begin(), b.end(),
                                          std::inserter(next, next.end()));
            break;
        }
        Set built;
        for (long id : next) {
            auto it = set[c]->find(id);
            built[id] = it != set[c]->end() ? it->second : set[other]->find(id)->second;
        }
        if (op % 8 < 4) {
            for (long id : a) {
                if (next.count(id) == 0) {
                    notify(2, c, id, 0, kErased);
                }
            }
        } else {
            notify_all(2, c, kCleared); // assigned a new set: what it held; no listener after
            tag[2][c] = -1;
        }
        *set[c] = std::move(built);
        return static_cast<long>(next.size());
    }
    /// Bits: set 0 subset of set 1, superset, disjoint, ==, !=.
    long set_relation() const {
        if (!set[0] || !set[1]) {
            return kGone;
        }
        const std::set<long> a = set_ids(0);
        const std::set<long> b = set_ids(1);
        std::vector<long> common;
        std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(common));
        return (std::includes(b.begin(), b.end(), a.begin(), a.end()) ? 1 : 0) +
               (std::includes(a.begin(), a.end(), b.begin(), b.end()) ? 2 : 0) +
               (common.empty() ? 4 : 0) + (a == b ? 8 : 0) + (a != b ? 16 : 0);
    }
    /// a == b and a != b of the two copies of a kind (bits 1 and 2).
    long compare(int kind) {
        return with_kind(kind, [&](auto& arr) -> long {
            if (!arr[0] || !arr[1]) {
                return kGone;
            }
            const auto live0 = live_contents(*arr[0]);
            const auto live1 = live_contents(*arr[1]);
            return (live0 == live1 ? 1 : 0) + (live0 != live1 ? 2 : 0);
        });
    }
    /// mode % 4 == 0: on_remove(nullptr); otherwise a listener with the next tag.
    long on_remove(int kind, int c, int mode) {
        return with_kind(kind, [&](auto& arr) -> long {
            if (!arr[c]) {
                return kGone;
            }
            tag[kind][c] = mode % 4 == 0 ? -1 : next_tag++;
            return tag[kind][c];
        });
    }
    void seal_notices() { seal(pending, notices); }

    // --- Any container: kind 0 value map, 1 key map, 2 set (continued) ---

    long clear(int kind, int c) {
        return with_kind(kind, [&](auto& arr) -> long {
            if (!arr[c]) {
                return kGone;
            }
            notify_all(kind, c, kCleared);
            arr[c]->clear();
            return 0;
        });
    }
    long copy_assign(int kind, int c, bool self) {
        return with_kind(kind, [&](auto& arr) -> long {
            const int from = self ? c : 1 - c;
            auto& src = arr[from];
            if (!src) {
                return kGone;
            }
            if (!self) {
                if (arr[c]) {
                    notify_all(kind, c, kCleared); // what it held
                }
                arr[c] = *src;
                tag[kind][c] = tag[kind][from]; // copies copy the listener
            }
            return 0;
        });
    }
    long move_assign(int kind, int c, bool self) {
        return with_kind(kind, [&](auto& arr) -> long {
            const int from = self ? c : 1 - c;
            auto& src = arr[from];
            if (!src) {
                return kGone;
            }
            if (!self) {
                if (arr[c]) {
                    notify_all(kind, c, kCleared);
                }
                arr[c] = std::move(*src);
                src->clear();
                tag[kind][c] = tag[kind][from]; // moves move it
                tag[kind][from] = -1;
            }
            return 0;
        });
    }
    long swap_containers(int kind, int /*how*/) {
        return with_kind(kind, [&](auto& arr) -> long {
            std::swap(arr[0], arr[1]);
            std::swap(tag[kind][0], tag[kind][1]);
            return 0;
        });
    }
    long destroy(int kind, int c) {
        return with_kind(kind, [&](auto& arr) -> long {
            arr[c].reset(); // tells nothing
            tag[kind][c] = -1;
            return 0;
        });
    }
    long recreate(int kind, int c, int how) {
        return with_kind(kind, [&](auto& arr) -> long {
            auto& other = arr[1 - c];
            if (how % 3 == 1 && other) {
                arr[c].emplace(*other);
                tag[kind][c] = tag[kind][1 - c];
            } else if (how % 3 == 2 && other) {
                arr[c].emplace(std::move(*other));
                other->clear();
                tag[kind][c] = tag[kind][1 - c];
                tag[kind][1 - c] = -1;
            } else {
                arr[c].emplace();
                tag[kind][c] = -1;
            }
            return 0;
        });
    }
    long size_of(int kind, int c) {
        return with_kind(kind, [&](auto& arr) -> long {
            if (!arr[c]) {
                return kGone;
            }
            long n = 0;
            for (const auto& e : *arr[c]) {
                n += live_entry(e.second);
            }
            return n;
        });
    }
    long empty(int kind, int c) {
        const long n = size_of(kind, c);
        return n == kGone ? kGone : n == 0;
    }
    /// items() of a container, sorted: (key, id) for a value map, (id, value) for a key map,
    /// ids for a set.
    Obs items(int kind, int c) {
        Obs out;
        with_kind(kind, [&](auto& arr) {
            if (!arr[c]) {
                out.push_back(kGone);
                return 0;
            }
            std::vector<std::pair<long, long>> pairs;
            std::vector<long> ids;
            for (const auto& [k, e] : *arr[c]) {
                if (!live_entry(e)) {
                    continue;
                }
                if constexpr (std::is_same_v<std::decay_t<decltype(e)>, W>) {
                    if (kind == 0) {
                        pairs.emplace_back(k, e.id);
                    } else {
                        ids.push_back(e.id);
                    }
                } else {
                    pairs.emplace_back(e.first.id, e.second);
                }
            }
            if (kind == 2) {
                append_sorted(out, ids);
            } else {
                append_sorted(out, pairs);
            }
            return 0;
        });
        return out;
    }
    /// keys() of a value map or a key map, sorted (key ints or key ids).
    Obs keys(int kind, int c) {
        Obs items_ = items(kind, c);
        if (items_.size() == 1) {
            return items_;
        }
        Obs out{items_[0]};
        for (std::size_t i = 1; i < items_.size(); i += 2) {
            out.push_back(items_[i]);
        }
        return out;
    }
    Obs iterate(int kind, int c) { return items(kind, c); }

    // --- Observation ---

    /// weak_count(): the weak handles, and while the object lives its container entries.
    long weak_observers(long id, bool alive) const {
        long n = 0;
        for (const W& w : wslots) {
            n += w.id == id;
        }
        if (!alive) {
            return n;
        }
        for (int c = 0; c < kCopies; ++c) {
            if (vm[c]) {
                for (const auto& e : *vm[c]) {
                    n += e.second.id == id && e.second.live();
                }
            }
            if (km[c]) {
                auto it = km[c]->find(id);
                n += it != km[c]->end() && it->second.first.live();
            }
            if (set[c]) {
                auto it = set[c]->find(id);
                n += it != set[c]->end() && it->second.live();
            }
        }
        return n;
    }
    long live_values() {
        long n = 0;
        for (int c = 0; c < kCopies; ++c) {
            n += km[c] ? size_of(1, c) : 0;
        }
        return n;
    }

    /// Every observable, in the same layout as the library world's snapshot.
    Obs snapshot() {
        Obs out;
        for (const P& p : slots) {
            out.push_back(p ? p->id : kNone);
            out.push_back(p.use_count());
            out.push_back(p ? weak_observers(p->id, true) : 0);
        }
        for (const W& w : wslots) {
            out.push_back(w.p.expired());
            const P p = w.p.lock();
            out.push_back(p ? p->id : kNone);
            out.push_back(w.p.use_count());
            out.push_back(w.id == kNone ? 0 : weak_observers(w.id, w.live()));
        }
        for (int f : fin) {
            out.push_back(alive_reg(f));
        }
        for (int g : scoped) {
            out.push_back(alive_reg(g));
        }
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
        out.push_back(live_objects);
        out.push_back(live_values());
        out.push_back(static_cast<long>(log.size()));
        out.insert(out.end(), log.begin(), log.end());
        append_notices(out, notices);
        return out;
    }

    /// Drops every strong handle (callbacks may refill slots), then everything else.
    void teardown_handles() {
        for (int pass = 0; pass <= kSlots + next_id; ++pass) {
            bool any = false;
            for (int s = 0; s < kSlots; ++s) {
                if (slots[s]) {
                    any = true;
                    drop(s);
                }
            }
            if (!any) {
                break;
            }
        }
    }
    void teardown_rest() {
        for (W& w : wslots) {
            w = W{};
        }
        for (int g = 0; g < kScoped; ++g) {
            scoped_drop(g);
        }
        std::fill(std::begin(fin), std::end(fin), -1);
        for (int c = 0; c < kCopies; ++c) {
            vm[c].reset();
            km[c].reset();
            set[c].reset();
        }
    }
    long live_objects = 0;

private:
    struct Deleter {
        Model* world;
        void operator()(Obj* p) const {
            world->died(p->id);
            delete p;
        }
    };

    static bool live_entry(const W& w) { return w.live(); }
    static bool live_entry(const std::pair<W, long>& e) { return e.first.live(); }

    /// A container's live entries, for ==: key -> value id (a set: id -> id), key id -> value.
    static std::map<long, long> live_contents(const VM& m) {
        std::map<long, long> out;
        for (const auto& [k, w] : m) {
            if (w.live()) {
                out[k] = w.id;
            }
        }
        return out;
    }
    static std::map<long, long> live_contents(const KM& m) {
        std::map<long, long> out;
        for (const auto& [id, e] : m) {
            if (e.first.live()) {
                out[id] = e.second;
            }
        }
        return out;
    }

    /// What container (kind, c)'s listener, if it has one, is told.
    void notify(int kind, int c, long what, long value, long cause) {
        if (tag[kind][c] >= 0) {
            pending.push_back(Notice{kind, tag[kind][c], what, value, cause});
        }
    }
    /// Every live entry of (kind, c), with `cause`.
    void notify_all(int kind, int c, long cause) {
        if (kind == 0 && vm[c]) {
            for (const auto& [k, w] : *vm[c]) {
                if (w.live()) {
                    notify(0, c, k, 0, cause);
                }
            }
        } else if (kind == 1 && km[c]) {
            for (const auto& [id, e] : *km[c]) {
                if (e.first.live()) {
                    notify(1, c, id, e.second, cause);
                }
            }
        } else if (kind == 2 && set[c]) {
            for (const auto& [id, w] : *set[c]) {
                if (w.live()) {
                    notify(2, c, id, 0, cause);
                }
            }
        }
    }

    void died(long id) {
        // The containers first: their entries of `id` are told `died`, before any callback.
        // (Every entry still naming `id` is live until now: removals erase model entries.)
        for (int c = 0; c < kCopies; ++c) {
            if (vm[c]) {
                for (const auto& [k, w] : *vm[c]) {
                    if (w.id == id) {
                        notify(0, c, k, 0, kDied);
                    }
                }
            }
            if (km[c]) {
                auto it = km[c]->find(id);
                if (it != km[c]->end() && it->second.first.id == id) {
                    notify(1, c, id, it->second.second, kDied);
                }
            }
            if (set[c] && set[c]->count(id) != 0) {
                notify(2, c, id, 0, kDied);
            }
        }
        auto found = regs_of.find(id);
        if (found == regs_of.end()) {
            return;
        }
        const std::vector<int> mine = found->second;
        for (auto it = mine.rbegin(); it != mine.rend(); ++it) {
            if (regs[*it].state == kArmed) { // an earlier callback may have detached or run it
                regs[*it].state = kRan;
                callback(*it);
            }
        }
    }

    void callback(int reg) {
        const Action act = regs[reg].act;
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
            const P p = wslots[act.a % kWeak].p.lock();
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
    int fin[kFin];
    int scoped[kScoped];
    std::optional<VM> vm[kCopies];
    std::optional<KM> km[kCopies];
    std::optional<Set> set[kCopies];
    std::vector<Reg> regs;
    std::map<long, std::vector<int>> regs_of;
    std::vector<long> log;
    int next_id = 0;
    bool vm_busy[kCopies] = {};
    int tag[3][kCopies]; // each container's listener tag; -1: none
    int next_tag = 0;
    std::vector<Notice> pending; // this op's notices
    std::vector<Notice> notices; // every op's, each op's sorted
};

} // namespace fuzz
