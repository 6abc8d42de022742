// SPDX-License-Identifier: MIT
// The fuzzer's shared vocabulary and its plain model of weakref, built on std::shared_ptr.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

namespace fuzz {

// --- What both worlds share -----------------------------------------------------------------

constexpr int kSlots = 8;     // strong handles
constexpr int kWeak = 8;      // weak handles
constexpr int kFin = 6;       // finalizer handles
constexpr int kScoped = 3;    // scoped_finalizer handles
constexpr int kKeys = 8;      // keys of the value maps
constexpr int kCopies = 2;    // instances of each container kind
constexpr int kSyms = 4;      // strong handles to interned objects
constexpr int kSymValues = 6; // the values interned
constexpr int kConns = 4;     // connection handles of the signal
constexpr int kScopedConns = 2;
/// keep_recent's n, picked by an argument byte: weakref:: keeps ceil(n / 16) per shard, so the
/// large ones matter there; weakref::local:: keeps exactly n.
constexpr std::size_t kKeepSizes[] = {0, 1, 2, 3, 5, 17, 40};
constexpr int kKeepChoices = 7;

// Results that are not ids or counts.
constexpr long kNone = -1;         // no object
constexpr long kGone = -3000;      // the container was destroyed
constexpr long kThrewBase = -1000; // kThrewBase - code: the operation threw

/// A referent: an id, so that observations compare across worlds, and a live-instance count.
struct Obj;
/// The library world's live-object count, and the ids of its objects in the order they died
/// during the current op: where the library releases several values at once in an order it does
/// not promise (keep_recent's tier at clear(), at a lowered n, at the map's destruction), the
/// model releases them in the order the library did, and predicts everything else.
inline long* g_lib_live = nullptr;
inline std::vector<long> g_lib_deaths;

struct Obj {
    Obj(int id_, long* live_) : id(id_), live(live_) { ++*live; }
    Obj(const Obj&) = delete;
    Obj& operator=(const Obj&) = delete;
    ~Obj() {
        if (live == g_lib_live) {
            g_lib_deaths.push_back(id);
        }
        --*live;
    }
    int id;
    long* live;
};

/// What the interner is fed besides a Sym: the heterogeneous key (a value and where to count).
struct SymKey {
    int v;
    long* live;
};
/// An interned value, counted: interning makes a Sym only when no live one is equal.
struct Sym {
    Sym(int v_, long* live_) : v(v_), live(live_) { ++*live; }
    explicit Sym(const SymKey& k) : v(k.v), live(k.live) { ++*live; }
    Sym(const Sym& o) : v(o.v), live(o.live) { ++*live; }
    Sym(Sym&& o) noexcept : v(o.v), live(o.live) { ++*live; }
    Sym& operator=(const Sym&) = delete;
    Sym& operator=(Sym&&) = delete;
    ~Sym() { --*live; }
    int v;
    long* live;
};
/// Transparent, and colliding in full for values 3 apart (0 and 3 share a hash), so that the
/// interner's walk past an equal hash but unequal value is exercised.
struct SymHash {
    using is_transparent = void;
    std::size_t operator()(const Sym& s) const { return static_cast<std::size_t>(s.v % 3); }
    std::size_t operator()(const SymKey& k) const { return static_cast<std::size_t>(k.v % 3); }
};
struct SymEqual {
    using is_transparent = void;
    bool operator()(const Sym& a, const Sym& b) const { return a.v == b.v; }
    bool operator()(const Sym& a, const SymKey& b) const { return a.v == b.v; }
    bool operator()(const SymKey& a, const Sym& b) const { return a.v == b.v; }
};

/// What a signal's subscriber does in its call, besides logging (connection, subscriber, arg).
struct SubAction {
    std::uint8_t kind, a;
};
constexpr int kSubActionKinds = 4; // nothing, drop a slot, disconnect a handle, log the size

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
        std::fill(std::begin(conn), std::end(conn), -1);
        std::fill(std::begin(sconn), std::end(sconn), -1);
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
        if (old && (flags & 1) == 0) {
            return 0; // present: nothing changes, and it is no use for keep_recent
        }
        if (old == v) {
            remember(c, k, v); // assigning the value already there: a use
            return 0;
        }
        P unkept; // the tier's ref to the replaced value, dropped last
        if (old) {
            notify(0, c, k, 0, kReplaced);
            unkept = forget(c, k, old);
        }
        m[k] = W{v, v->id};
        remember(c, k, v);
        unkept.reset();
        return old ? 0 : 1;
    }
    long vm_erase(int c, int k) {
        if (!vm[c]) {
            return kGone;
        }
        P v = live_value(*vm[c], k);
        const bool live = v != nullptr;
        if (live) {
            notify(0, c, k, 0, kErased);
        }
        vm[c]->erase(k);
        P unkept = forget(c, k, v); // then the tier's ref, then the caller's
        unkept.reset();
        v.reset();
        return live;
    }
    long vm_get(int c, int k) {
        if (!vm[c]) {
            return kGone;
        }
        const P v = live_value(*vm[c], k);
        remember(c, k, v);
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
        P result;
        {
            // Busy for the whole call, as in the library world: a value the tier lets go at
            // the end (remember) dies inside get_or_insert, where a death may not destroy it.
            const busy_guard guard(vm_busy[c]);
            result = live_value(*vm[c], k);
            if (!result) {
                P made = make_for(c, k, plan);
                if (made) {
                    result = live_value(*vm[c], k); // inserted while make() ran: it wins
                    if (!result) {
                        (*vm[c])[k] = W{made, made->id};
                        result = made;
                    }
                }
            }
            remember(c, k, result);
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
            P unkept = forget(c, k, v);
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
        // Shard by shard, as the library walks: the shard's live values are held while its
        // entries are offered and erased (with their tier refs), then let go together.
        long n = 0;
        for (std::size_t sh = 0; sh < shard_count() && vm[c]; ++sh) {
            std::vector<P> offered;
            std::vector<long> chosen;
            for (const auto& [k, w] : *vm[c]) {
                if (shard_of(k) != sh) {
                    continue;
                }
                if (P v = w.p.lock()) {
                    if (vm_pred(k, v->id, kmask, vmode)) {
                        chosen.push_back(k);
                    }
                    offered.push_back(std::move(v));
                }
            }
            for (long k : chosen) {
                const P v = live_value(*vm[c], k);
                notify(0, c, k, 0, kErased);
                vm[c]->erase(k);
                P unkept = forget(c, k, v);
                ++n;
            }
            release_batch(std::move(offered));
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
        remember(c, k, result);
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
            if (kind == 0) {
                const busy_guard guard(vm_busy[c]);
                for (std::size_t sh = 0; sh < shard_count(); ++sh) {
                    release_batch(take_list(c, sh, 0));
                }
            }
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
                auto copy = *src; // taken first: a death below may destroy the source
                const int copied_tag = tag[kind][from];
                const std::size_t copied_n = kind == 0 ? tier[from].n : 0;
                const bool had = arr[c].has_value();
                if (had) {
                    notify_all(kind, c, kCleared); // what it held, by the listener it had
                }
                // As the library does: the copy goes in first (a swap), then the old entries
                // leave and the old tier lets go. A value that dies then leaves the new
                // entries too, told `died` by their listener (the source's, copied).
                arr[c] = std::move(copy);
                tag[kind][c] = copied_tag; // copies copy the listener
                if (kind == 0) {
                    Tier old = std::move(tier[c]);
                    tier[c] = Tier{};
                    set_n(c, copied_n); // the same n, an empty tier
                    const busy_guard guard(vm_busy[c]);
                    release_old_tier(std::move(old));
                }
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
                // The source's entries, listener and tier go in first; then the old tier lets
                // go (see copy_assign).
                Tier old;
                if (kind == 0) {
                    old = std::move(tier[c]);
                }
                arr[c] = std::move(*src);
                src->clear();
                tag[kind][c] = tag[kind][from]; // moves move it
                tag[kind][from] = -1;
                if (kind == 0) {
                    tier[c] = std::move(tier[from]); // the tier moves too; the source has n == 0
                    tier[from] = Tier{};
                    const busy_guard guard(vm_busy[c]);
                    const busy_guard source(vm_busy[from]);
                    release_old_tier(std::move(old));
                }
            }
            return 0;
        });
    }
    long swap_containers(int kind, int /*how*/) {
        return with_kind(kind, [&](auto& arr) -> long {
            std::swap(arr[0], arr[1]);
            std::swap(tag[kind][0], tag[kind][1]);
            if (kind == 0) {
                std::swap(tier[0], tier[1]);
            }
            return 0;
        });
    }
    long destroy(int kind, int c) {
        return with_kind(kind, [&](auto& arr) -> long {
            arr[c].reset(); // tells nothing
            tag[kind][c] = -1;
            if (kind == 0) {
                destroy_tier(c);
            }
            return 0;
        });
    }
    long recreate(int kind, int c, int how) {
        return with_kind(kind, [&](auto& arr) -> long {
            // The old one goes first (its tier's values may die, and a death may destroy the
            // other), then the new one is made.
            if (arr[c]) {
                destroy(kind, c);
            }
            auto& other = arr[1 - c];
            if (how % 3 == 1 && other) {
                arr[c].emplace(*other);
                tag[kind][c] = tag[kind][1 - c];
                if (kind == 0) {
                    set_n(c, tier[1 - c].n);
                }
            } else if (how % 3 == 2 && other) {
                arr[c].emplace(std::move(*other));
                other->clear();
                tag[kind][c] = tag[kind][1 - c];
                tag[kind][1 - c] = -1;
                if (kind == 0) {
                    tier[c] = std::move(tier[1 - c]);
                    tier[1 - c] = Tier{};
                }
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

    // --- keep_recent: the strong tier of each value map ---

    /// Sets a flag for a scope and puts back what it was. A value map is "busy" while it may
    /// be let go of by a death it runs: a death callback then clears it instead of destroying it.
    struct busy_guard {
        explicit busy_guard(bool& flag) : b(flag), was(flag) { b = true; }
        busy_guard(const busy_guard&) = delete;
        busy_guard& operator=(const busy_guard&) = delete;
        ~busy_guard() { b = was; }
        bool& b;
        bool was;
    };

    /// The tier, as keep_recent documents it: one list per shard of the map (16 in weakref::,
    /// 1 in weakref::local::), each holding the values of its shard's ceil(n / shards) most
    /// recently used entries, most recent first, each value once.
    struct Tier {
        std::size_t n = 0;
        std::vector<std::deque<P>> lists;
    };
    unsigned shard_bits = 0; // the flavour's: set by the driver
    std::size_t shard_count() const { return std::size_t{1} << shard_bits; }
    /// The shard of a key: the table's spread of std::hash<long> over its shards.
    std::size_t shard_of(long k) const {
        if (shard_bits == 0) {
            return 0;
        }
        const auto h = static_cast<std::uint64_t>(std::hash<long>()(k));
        return static_cast<std::size_t>((h * 0x9E3779B97F4A7C15ULL) >> (64 - shard_bits));
    }
    std::size_t per_shard(std::size_t n) const {
        return n / shard_count() + (n % shard_count() != 0 ? 1 : 0);
    }
    void set_n(int c, std::size_t n) {
        tier[c].n = n;
        if (n != 0 && tier[c].lists.empty()) {
            tier[c].lists.resize(shard_count());
        }
    }
    /// A use of `v` through key `k`: first in its shard's list; what it pushes out is let go.
    void remember(int c, long k, const P& v) {
        Tier& t = tier[c];
        if (!v || t.n == 0) {
            return;
        }
        std::deque<P>& l = t.lists[shard_of(k)];
        auto it = std::find(l.begin(), l.end(), v);
        if (it != l.end()) {
            P held = std::move(*it);
            l.erase(it);
            l.push_front(std::move(held));
            return;
        }
        P evicted;
        if (l.size() >= per_shard(t.n)) {
            evicted = std::move(l.back());
            l.pop_back();
        }
        l.push_front(v);
        evicted.reset();
    }
    /// Takes `v` off key `k`'s list; the caller drops what it returns.
    P forget(int c, long k, const P& v) {
        Tier& t = tier[c];
        if (!v || t.lists.empty()) {
            return P();
        }
        std::deque<P>& l = t.lists[shard_of(k)];
        auto it = std::find(l.begin(), l.end(), v);
        if (it == l.end()) {
            return P();
        }
        P out = std::move(*it);
        l.erase(it);
        return out;
    }
    /// Takes the least recent values of shard `sh` off its list while it holds more than `keep`.
    std::vector<P> take_list(int c, std::size_t sh, std::size_t keep) {
        std::vector<P> out;
        if (sh < tier[c].lists.size()) {
            std::deque<P>& l = tier[c].lists[sh];
            while (l.size() > keep) {
                out.push_back(std::move(l.back()));
                l.pop_back();
            }
        }
        return out;
    }
    /// Lets go of values the library lets go of together, in the order it did (see
    /// g_lib_deaths): those that did not die there first, then the others as they died.
    static void release_batch(std::vector<P> batch) {
        const auto rank = [](const P& p) -> long {
            const auto it = std::find(g_lib_deaths.begin(), g_lib_deaths.end(), p->id);
            return it == g_lib_deaths.end() ? -1 : static_cast<long>(it - g_lib_deaths.begin());
        };
        std::vector<std::pair<long, P>> ranked;
        for (P& p : batch) {
            const long r = rank(p);
            ranked.emplace_back(r, std::move(p));
        }
        std::stable_sort(ranked.begin(), ranked.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        for (auto& entry : ranked) {
            entry.second.reset();
        }
    }
    /// An assignment's old tier, after the new entries went in: list by list from the first,
    /// each from its least recent value, as clear() lets a tier go.
    static void release_old_tier(Tier old) {
        for (auto& l : old.lists) {
            std::vector<P> batch;
            while (!l.empty()) {
                batch.push_back(std::move(l.back()));
                l.pop_back();
            }
            release_batch(std::move(batch));
        }
    }
    /// A destroyed map's tier: released after its entries, list by list from the last.
    void destroy_tier(int c) {
        Tier gone = std::move(tier[c]);
        tier[c] = Tier{};
        for (std::size_t sh = gone.lists.size(); sh-- > 0;) {
            std::vector<P> batch(std::make_move_iterator(gone.lists[sh].begin()),
                                 std::make_move_iterator(gone.lists[sh].end()));
            gone.lists[sh].clear();
            release_batch(std::move(batch));
        }
    }
    long vm_keep_recent(int c, int choice) {
        if (!vm[c]) {
            return kGone;
        }
        const busy_guard guard(vm_busy[c]);
        set_n(c, kKeepSizes[choice % kKeepChoices]);
        for (std::size_t sh = 0; sh < tier[c].lists.size(); ++sh) {
            release_batch(take_list(c, sh, per_shard(tier[c].n)));
        }
        return static_cast<long>(tier[c].n);
    }
    long recent_capacity(int c) const { return vm[c] ? static_cast<long>(tier[c].n) : kGone; }
    /// Sets every map's n to 0, letting its tier go; whether any n was not 0.
    bool teardown_tiers() {
        bool any = false;
        for (int c = 0; c < kCopies; ++c) {
            if (vm[c] && tier[c].n != 0) {
                any = true;
                vm_keep_recent(c, 0);
            }
        }
        return any;
    }

    // --- weak_interner ---

    using SP = std::shared_ptr<Sym>;
    SP live_sym(int v) const {
        auto it = interner.find(v);
        return it == interner.end() ? SP() : it->second.lock();
    }
    long in_intern(int s, int v, int /*how: copied, moved or made from a key*/) {
        SP found = live_sym(v);
        if (!found) {
            found = SP(new Sym(v, &live_syms));
            interner[v] = found;
        }
        const long out = found->v;
        put(isl[s], std::move(found));
        return out;
    }
    long in_contains(int v, int /*how*/) const { return live_sym(v) != nullptr; }
    void in_drop(int s) { put(isl[s], SP()); }
    void in_copy(int a, int b) {
        SP tmp = isl[a];
        put(isl[b], std::move(tmp));
    }
    /// how % 4: 0 a new, empty interner; 1-3 the same canonical objects (a copy, a copy
    /// assigned and moved back, a swap there and back).
    long in_reset(int how) {
        if (how % 4 == 0) {
            interner.clear();
        }
        return 0;
    }
    long in_size() const {
        long n = 0;
        for (const auto& e : interner) {
            n += !e.second.expired();
        }
        return n;
    }
    Obs in_state() const {
        Obs out;
        for (const SP& p : isl) {
            out.push_back(p ? p->v : kNone);
            out.push_back(p.use_count());
            out.push_back(p && live_sym(p->v) == p ? 1 : 0); // weak_count: its entry
        }
        for (int i = 0; i < kSyms; ++i) {
            for (int j = i + 1; j < kSyms; ++j) {
                out.push_back(isl[i] && isl[i] == isl[j]);
            }
        }
        out.push_back(in_size());
        out.push_back(in_size() == 0);
        for (int v = 0; v < kSymValues; ++v) {
            out.push_back(in_contains(v, 0));
        }
        std::vector<long> vs;
        for (const auto& e : interner) {
            if (!e.second.expired()) {
                vs.push_back(e.first);
            }
        }
        append_sorted(out, vs);
        out.push_back(live_syms);
        return out;
    }

    // --- weak_signal<void(int)> ---

    struct MConn {
        std::weak_ptr<Obj> p;
        long obj;
        bool ended;
        SubAction act;
    };
    bool connected(int cid) const {
        return cid >= 0 && !mconns[cid].ended && !mconns[cid].p.expired();
    }
    bool end_conn(int cid) {
        const bool was = connected(cid);
        if (cid >= 0) {
            mconns[cid].ended = true;
        }
        return was;
    }
    long sig_connect(int s, int h, SubAction act) {
        if (!sig_on) {
            return kGone;
        }
        if (!slots[s]) {
            throw std::invalid_argument("weak_signal::connect: empty");
        }
        const int cid = static_cast<int>(mconns.size());
        mconns.push_back(MConn{slots[s], slots[s]->id, false, act});
        sig_list.push_back(cid);
        conn[h] = cid;
        return cid;
    }
    long sig_emit(int arg) {
        if (!sig_on) {
            return kGone;
        }
        const std::vector<int> order = sig_list; // the connections of the instant it starts
        for (int cid : order) {
            if (!connected(cid)) {
                continue; // disconnected, or its subscriber died, before the emit reached it
            }
            P held = mconns[cid].p.lock(); // for the call
            heard.push_back(cid);
            heard.push_back(held->id);
            heard.push_back(arg);
            sub_action(mconns[cid].act);
            held.reset(); // may be a death: after the call
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
            heard.push_back(end_conn(conn[act.a % kConns]));
            break;
        default:
            heard.push_back(sig_size());
            break;
        }
    }
    long sig_size() const {
        if (!sig_on) {
            return kGone;
        }
        long n = 0;
        for (int cid : sig_list) {
            n += connected(cid);
        }
        return n;
    }
    long sig_disconnect(int h) { return end_conn(conn[h]); }
    long sig_alive(int h) const { return connected(conn[h]); }
    void sig_conn_copy(int a, int b) { conn[b] = conn[a]; }
    void sig_conn_drop(int h) { conn[h] = -1; }
    long sig_conn_equal(int a, int b) const { return conn[a] == conn[b]; }
    void sig_scoped(int h, int g) {
        end_conn(sconn[g]); // assignment over it ends the one it owned
        sconn[g] = conn[h];
    }
    void sig_scoped_drop(int g) {
        end_conn(sconn[g]);
        sconn[g] = -1;
    }
    void sig_scoped_release(int g, int h) {
        conn[h] = sconn[g];
        sconn[g] = -1;
    }
    long sig_scoped_disconnect(int g) { return end_conn(sconn[g]); }
    long sig_disconnect_all() {
        if (!sig_on) {
            return kGone;
        }
        for (int cid : sig_list) {
            end_conn(cid);
        }
        return 0;
    }
    /// how % 4: 0 a new, empty signal; 1 moved out and back by construction; 2 by assignment;
    /// 3 destroyed.
    long sig_reset(int how) {
        switch (how % 4) {
        case 0:
        case 3:
            for (int cid : sig_list) {
                end_conn(cid);
            }
            sig_list.clear();
            sig_on = how % 4 == 0;
            return 0;
        default:
            return sig_on ? 0 : kGone;
        }
    }
    Obs sig_state() const {
        Obs out;
        for (int h : conn) {
            out.push_back(connected(h));
        }
        for (int g : sconn) {
            out.push_back(connected(g));
        }
        out.push_back(sig_size());
        out.push_back(sig_on ? static_cast<long>(sig_size() == 0) : kGone);
        out.push_back(static_cast<long>(heard.size()));
        out.insert(out.end(), heard.begin(), heard.end());
        return out;
    }
    long sig_weak_units(long id) const {
        long n = 0;
        for (int cid : sig_list) {
            n += connected(cid) && mconns[cid].obj == id;
        }
        return n;
    }

    // --- Observation ---

    /// weak_count(): the weak handles, and while the object lives its container entries and
    /// its signal connections.
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
        return n + sig_weak_units(id);
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
        for (int c = 0; c < kCopies; ++c) {
            out.push_back(recent_capacity(c));
        }
        const Obs interned = in_state();
        out.insert(out.end(), interned.begin(), interned.end());
        const Obs signal = sig_state();
        out.insert(out.end(), signal.begin(), signal.end());
        out.push_back(live_objects);
        out.push_back(live_values());
        out.push_back(static_cast<long>(log.size()));
        out.insert(out.end(), log.begin(), log.end());
        append_notices(out, notices);
        return out;
    }

    /// Drops every strong handle and lets every tier go (callbacks may refill slots), then
    /// everything else.
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
        for (int g = 0; g < kScopedConns; ++g) {
            sig_scoped_drop(g);
        }
        std::fill(std::begin(conn), std::end(conn), -1);
        sig_reset(3);
        interner.clear();
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
    long live_syms = 0;

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
    Tier tier[kCopies];
    SP isl[kSyms];
    std::map<int, std::weak_ptr<Sym>> interner;
    std::vector<MConn> mconns; // every connection made, by id
    std::vector<int> sig_list; // the signal's connections, in connection order
    bool sig_on = true;        // the signal exists
    int conn[kConns];          // connection handles: a connection id, or -1
    int sconn[kScopedConns];
    std::vector<long> heard;     // (connection, subscriber, argument) per call, and what calls log
    std::vector<Notice> pending; // this op's notices
    std::vector<Notice> notices; // every op's, each op's sorted
};

} // namespace fuzz
