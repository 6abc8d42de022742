// SPDX-License-Identifier: MIT
// weak_key_map: data attached to objects owned elsewhere, dropped the moment the object dies
// (Python's WeakKeyDictionary).
#pragma once

#include "detail/locks.hpp"
#include "detail/single_flight.hpp"
#include "detail/weak_table.hpp"
#include "fwd.hpp"
#include "ref.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace weakref::detail {

/// The hash of a referent's identity: its address.
inline std::size_t identity_hash(const volatile void* p) noexcept {
    return static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(p));
}

/// What a visit's function returns, as visit() returns it: bool for void, else an optional.
template <class R> struct visit_result { using type = std::optional<std::decay_t<R>>; };
template <> struct visit_result<void> { using type = bool; };

/// A map from weakly held keys, compared by identity, to owned values: weak_key_map<K, V> in
/// either flavour.
///
/// When a key dies its entry leaves at once, and its V is destroyed then, on the dying thread,
/// outside every lock of the map: a V whose destructor uses the map, or drops the last ref to
/// another key of it, is fine, and so is a chain of such values.
///
/// A V that holds a strong ref to its own key keeps the key alive forever: C++ has no tracing
/// collector, so this map cannot be an ephemeron table. Hold the key weakly inside V instead.
///
/// V need not be copyable or movable: try_emplace, update, visit, erase, erase_if, contains,
/// clear and size work with std::atomic<long> or std::mutex values. The members that copy or
/// move a V say so with a static_assert.
///
/// Thread safety (weakref::): as weak_value_map. Each entry's value has a small lock of its
/// own, held while update, visit, get, erase_if's predicate or a snapshot reads or changes it:
/// threads working on different keys never meet there. These run after the lock-free lookup
/// that found the entry has ended (the entry pinned), so they may wait for other threads. V's
/// constructors may run under a shard lock; V's destructor, the listener and the factories
/// never run under any lock.
///
/// In the costs, n is the number of entries and b of buckets (they never shrink).
template <class K, class V, class Policy> class basic_weak_key_map {
public:
    ///@{
    /// The member types of std::unordered_map, except that a key is a strong ref (the map
    /// holds it weakly, by identity, and hands it out strongly); value_type is what items()
    /// returns.
    using key_type = basic_ref<K, Policy>;
    using mapped_type = V;
    using value_type = std::pair<basic_ref<K, Policy>, V>;
    using size_type = std::size_t;
    ///@}

private:
    using listener = removal_listener<Policy, const K*, V&&, removal_cause>;
    using value_lock = typename table_locks<Policy>::small;

    struct entry : table_entry<Policy> {
        template <class... Args>
        entry(hook_sink<Policy>* sink, void* key, std::size_t hash, Args&&... args)
            : table_entry<Policy>(sink, key, hash) {
            if constexpr (std::is_aggregate_v<V> && !std::is_constructible_v<V, Args&&...>) {
                ::new (static_cast<void*>(storage_)) V{std::forward<Args>(args)...};
            } else {
                ::new (static_cast<void*>(storage_)) V(std::forward<Args>(args)...);
            }
        }
        entry(const entry&) = delete;
        entry& operator=(const entry&) = delete;
        ~entry() {
            if (state_ != gone) {
                value().~V(); // never reached through the table: drop_payload ran first
            }
        }

        K* key() const noexcept { return static_cast<K*>(this->object()); }
        V& value() noexcept { return *std::launder(reinterpret_cast<V*>(storage_)); }
        const V& value() const noexcept {
            return *std::launder(reinterpret_cast<const V*>(storage_));
        }

        /// Runs `f(V&)` under the value's lock if the value is still this entry's; returns
        /// whether it ran. A false answer from an entry still in the table means it is being
        /// replaced or removed right now.
        template <class F> bool with_value(F&& f) const {
            lock_guard<value_lock> hold(lock_);
            if (state_ != live) {
                return false;
            }
            f(const_cast<entry*>(this)->value());
            return true;
        }
        /// Takes the value away from every reader (update, visit, get): from now on it belongs
        /// to the caller, which destroys it outside every lock.
        void seize() noexcept {
            lock_guard<value_lock> hold(lock_);
            if (state_ == live) {
                state_ = seized;
            }
        }

        static void notify(listener_base<Policy>* l, entry& e, removal_cause cause) noexcept {
            e.seize();
            auto* self = static_cast<listener*>(l);
            self->call(self, e.key(), std::move(e.value()), cause);
        }
        // Whether the listener is given the referent (then a removal holds it until told).
        // The container, for the message of the debug builds' thread check.
        static constexpr const char* container_name = "weak_key_map";
        static constexpr bool listener_sees_referent = true;
        // An update or visit may hold an entry (and read its key) past its grace period: its
        // weak unit goes with its memory, not as it leaves the ring (see table_entry).
        static constexpr bool settles_at_grace = false;
        static void drop_payload(entry& e) noexcept {
            e.seize();
            // Seized: no reader touches the value any more, and only this thread destroys it.
            // The state is read by lookups under the lock, so it changes under the lock.
            bool destroy = false;
            {
                lock_guard<value_lock> hold(e.lock_);
                destroy = e.state_ == seized;
            }
            if (destroy) {
                e.value().~V(); // outside every lock
                lock_guard<value_lock> hold(e.lock_);
                e.state_ = gone;
            }
        }
        /// Called once the table's grace period for the entry ended: lets go of the table's
        /// pin; an access() still running the user's function on it frees it when it is done.
        static void free(void* p) noexcept { static_cast<entry*>(p)->unpin(); }

        /// Keeps the entry's memory (its value lock, state and storage) after the lookup that
        /// found it has ended. Only inside that lookup (its epoch guard holds the memory until
        /// the pin is taken).
        void pin() const noexcept {
            // relaxed: the table's pin is still held (the lookup's guard keeps the grace
            // period from ending), and the guard's release on leaving, read with acquire by
            // the scan that ends the grace period, orders this increment before the table's
            // unpin: that one cannot be the last.
            pins_.fetch_add(1, std::memory_order_relaxed);
        }
        void unpin() const noexcept {
            // acq_rel: the last to let go frees the entry after every other holder's last use
            // of it (release by each, acquire by the one that frees).
            if (pins_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                delete const_cast<entry*>(this);
            }
        }

        static constexpr unsigned char live = 0;   // readers may use the value
        static constexpr unsigned char seized = 1; // taken by a remover: readers must not
        static constexpr unsigned char gone = 2;   // destroyed

        mutable value_lock lock_;
        // 1 for the table (until the grace period after its removal), plus 1 per access()
        // running a user function on the entry outside every lookup.
        mutable typename Policy::template cell<unsigned> pins_{1};
        unsigned char state_ = live; // under lock_
        alignas(V) unsigned char storage_[sizeof(V)];
    };
    using table = weak_table<entry, Policy>;
    using shard = typename table::shard;
    using graveyard = typename table::graveyard;
    using flight = single_flight<Policy, shard, V>;
    /// A get_or_insert in progress for one key. One type for every factory type: a shard's
    /// creations are compared (and cast to this type) by every get_or_insert of the map.
    struct key_creation : flight::node {
        void* key = nullptr;
    };
    using guard = lock_guard<typename table_locks<Policy>::mutex>;

public:
    /// An empty map; allocates nothing until the first insertion. O(1).
    basic_weak_key_map() noexcept = default;
    /// A map of the live entries of `other` at one instant (V copied), with a copy of its
    /// listener. `other` may be in use on other threads. Throws std::bad_alloc and what
    /// copying V throws. O(n + b) of `other`.
    basic_weak_key_map(const basic_weak_key_map& other) {
        static_assert(std::is_copy_constructible_v<V>,
                      "weakref: copying a weak_key_map copies its values (V must be "
                      "copy-constructible)");
        for (auto& item : other.items()) {
            insert(item.first, std::move(item.second));
        }
        if (listener_base<Policy>* l = table::clone_listener(other.table_.get())) {
            table_.ensure().set_listener(l);
        }
    }
    /// Takes `other`'s entries and listener; `other` is left empty and usable. No other thread
    /// may use either map meanwhile. O(1).
    basic_weak_key_map(basic_weak_key_map&& other) noexcept = default;
    /// Replaces the entries by copies of `other`'s and the listener by a copy of its. The copy
    /// is put in place first; then the old entries are told `cleared` (by the listener they
    /// had) and their V destroyed, which may use or destroy `*this` and `other`: the assignment
    /// touches neither after it. Throws what the copy constructor throws, leaving `*this`
    /// unchanged. No other thread may use `*this` meanwhile. O(n + b) of both.
    basic_weak_key_map& operator=(const basic_weak_key_map& other) {
        if (this != &other) {
            basic_weak_key_map copy(other);
            swap(copy);
            copy.clear(); // the old entries, now the local's: nothing of *this
        }
        return *this;
    }
    /// Takes `other`'s entries and listener; `other` is left empty. Then the old entries are
    /// told `cleared` and their V destroyed (which may use or destroy either map, as for copy
    /// assignment). No other thread may use either map meanwhile. O(n + b) of `*this`.
    basic_weak_key_map& operator=(basic_weak_key_map&& other) noexcept {
        if (this != &other) {
            basic_weak_key_map old(std::move(*this));
            table_ = std::move(other.table_);
            old.clear(); // nothing of *this or other is touched from here on
        }
        return *this;
    }
    /// Destroys every V (outside every lock); keys are untouched; no listener is told. No
    /// other thread may use the map meanwhile. O(n + b).
    ~basic_weak_key_map() = default;

    /// weakref::local:: only: the owner thread gives the container up, so that another thread
    /// may use it (the next thread to use it owns it); see weak_value_map::hand_over.
    template <class P = Policy, std::enable_if_t<!P::thread_safe, int> = 0>
    void hand_over() noexcept {
        table_.hand_over();
    }

    /// Exchanges the two maps' entries and listeners. No other thread may use either map
    /// meanwhile. O(1).
    void swap(basic_weak_key_map& other) noexcept { table_.swap(other.table_); }
    /// `a.swap(b)`.
    friend void swap(basic_weak_key_map& a, basic_weak_key_map& b) noexcept { a.swap(b); }

    // --- Insertion -------------------------------------------------------------------------

    ///@{
    /// Adds (key, value) unless `key` is already in the map; returns whether it added.
    /// Throws std::invalid_argument for an empty `key`, std::bad_alloc, or what V's copy or
    /// move throws (run under the shard lock); strong guarantee. Thread-safe in weakref::
    /// (locks one shard). Expected amortised O(1).
    bool insert(const key_type& key, const V& value) { return put(key, false, value); }
    bool insert(const key_type& key, V&& value) { return put(key, false, std::move(value)); }
    ///@}

    ///@{
    /// Maps `key` to `value`; true if it added, false if it replaced (the old V goes to the
    /// listener, `replaced`, then is destroyed outside the lock). Throws std::invalid_argument
    /// for an empty `key`, std::bad_alloc, or what V's copy or move throws; strong guarantee.
    /// Thread-safe in weakref:: (locks one shard). Expected amortised O(1).
    bool insert_or_assign(const key_type& key, const V& value) { return put(key, true, value); }
    bool insert_or_assign(const key_type& key, V&& value) {
        return put(key, true, std::move(value));
    }
    ///@}

    /// Constructs the value in place from `args` where `key` has no entry; true if it
    /// inserted. The arguments are left alone when it did not, as with
    /// std::unordered_map::try_emplace. V need not be copyable or movable. Throws
    /// std::invalid_argument for an empty `key`, std::bad_alloc, or what V's constructor
    /// throws (run under the shard lock); strong guarantee. Thread-safe in weakref:: (locks
    /// one shard). Expected amortised O(1).
    template <class... Args> bool try_emplace(const key_type& key, Args&&... args) {
        return put(key, false, std::forward<Args>(args)...);
    }

    /// The key's value, a copy; where the key has no entry, `make()` (returning something V is
    /// constructible from) runs outside every lock, once per key among concurrent callers, and
    /// its result becomes the value; every caller receives a copy of the key's value. If `make`
    /// throws, the exception reaches the caller that ran it, the map is unchanged, and waiting
    /// callers retry. A `make` that calls get_or_insert for its own key gets std::logic_error.
    /// Also throws std::invalid_argument for an empty `key`, std::bad_alloc, and what copying
    /// V throws. (.NET's ConditionalWeakTable.GetValue.) A present key costs what get() costs;
    /// otherwise expected amortised O(1) plus `make`.
    template <class F> V get_or_insert(const key_type& key, F&& make) {
        static_assert(std::is_copy_constructible_v<V>,
                      "weakref: weak_key_map::get_or_insert returns a copy of the value (V must "
                      "be copy-constructible); use try_emplace and visit for other values");
        if (!key) {
            detail::throw_invalid_argument("weakref: weak_key_map cannot hold an empty ref "
                                           "as a key");
        }
        if (std::optional<V> found = get(key.get())) {
            return std::move(*found);
        }
        void* const object = const_cast<std::remove_cv_t<K>*>(key.get());
        const std::size_t h = identity_hash(object);
        table& t = table_.ensure();
        shard& s = t.shard_for(h);
        return flight::get_or_create(
            s, h,
            [&]() -> std::optional<V> {
                std::optional<V> out;
                if (entry* e = table::find_held(s, h, same(object))) { // under the lock
                    e->with_value([&](V& v) { out.emplace(v); });
                }
                return out;
            },
            [&](const typename flight::node& c) {
                return static_cast<const key_creation&>(c).key == object;
            },
            [&]() -> std::unique_ptr<typename flight::node> {
                auto c = std::make_unique<key_creation>();
                c->key = object;
                return c;
            },
            [&](typename flight::node& c) -> V {
                auto&& made = make();
                std::optional<V> winner;
                {
                    // An entry made but not linked, because a copy of its V threw: destroyed
                    // (its V, and its weak unit on the key) after the lock, like the graveyard.
                    std::unique_ptr<entry> unlinked;
                    graveyard grave(t, removal_cause::replaced);
                    typename flight::lock_type lock(s.mutex);
                    entry* old = table::find_held(s, h, same(object));
                    if (old != nullptr && old->with_value([&](V& v) { winner.emplace(v); })) {
                        c.result.emplace(*winner); // may throw: nothing changed
                    } else {
                        table::reserve_one(s, grave);
                        unlinked.reset(
                            new entry(&t, object, h, std::forward<decltype(made)>(made)));
                        // The two copies, which may throw, before the entry is linked: if one
                        // does, nothing was inserted and single_flight withdraws the creation.
                        winner.emplace(unlinked->value());
                        c.result.emplace(unlinked->value());
                        // From here on nothing throws.
                        if (old != nullptr) {
                            t.remove(s, old, grave);
                        }
                        table::link(s, unlinked.release());
                    }
                    flight::publish(s, c);
                    flight::leave(lock, c);
                }
                // May throw (a V whose move throws): c is published, so single_flight leaves it
                // to its waiters; the entry stays inserted.
                return std::move(*winner);
            });
    }

    // --- Lookup and work on a value -----------------------------------------------------------

    ///@{
    /// A copy of the value of `key` (a ref or the key object's address), or nothing if `key`
    /// is not in the map (or dead). Throws what copying V throws (under the entry's value
    /// lock). In weakref:: a lock-free lookup, then the value lock. Expected O(1).
    std::optional<V> get(const key_type& key) const { return get(key.get()); }
    std::optional<V> get(const K* key) const {
        static_assert(std::is_copy_constructible_v<V>,
                      "weakref: weak_key_map::get returns a copy of the value (V must be "
                      "copy-constructible); use visit for other values");
        std::optional<V> out;
        access(key, [&](V& v) { out.emplace(v); });
        return out;
    }
    ///@}

    ///@{
    /// Calls `fn(V&)` on the key's value, atomically with respect to every other member
    /// working on that key (under the value's own lock); true if the key had an entry.
    /// Concurrent updates of one key lose nothing. `fn` must not use the map nor drop the last
    /// ref to anything (a death could need the map). Throws what `fn` throws. In weakref::
    /// takes no shard lock: a lock-free lookup, then the value lock. Expected O(1) plus `fn`.
    template <class F> bool update(const key_type& key, F&& fn) { return update(key.get(), fn); }
    template <class F> bool update(const K* key, F&& fn) {
        static_assert(std::is_invocable_v<F&, V&>, "weakref: update takes fn(V&)");
        return access(key, [&](V& v) { fn(v); });
    }
    ///@}

    ///@{
    /// Calls `fn(const V&)` under the same rule as update(); returns whether it was called
    /// (fn returning void), or an optional of fn's decayed result. Throws what `fn` throws.
    /// Expected O(1) plus `fn`.
    template <class F> auto visit(const key_type& key, F&& fn) const {
        return visit(key.get(), std::forward<F>(fn));
    }
    template <class F> auto visit(const K* key, F&& fn) const {
        static_assert(std::is_invocable_v<F&, const V&>, "weakref: visit takes fn(const V&)");
        using result = std::invoke_result_t<F&, const V&>;
        if constexpr (std::is_void_v<result>) {
            return access(key, [&](V& v) { fn(static_cast<const V&>(v)); });
        } else {
            typename visit_result<result>::type out;
            access(key, [&](V& v) { out.emplace(fn(static_cast<const V&>(v))); });
            return out;
        }
    }
    ///@}

    ///@{
    /// Whether `key` (a ref or the key object's address; empty or null finds nothing) is in the
    /// map and alive. Throws nothing of its own. In weakref:: takes no lock. Expected O(1).
    bool contains(const key_type& key) const { return contains(key.get()); }
    bool contains(const K* key) const {
        const table* t = table_.get();
        if (t == nullptr || key == nullptr) {
            return false;
        }
        const std::size_t h = identity_hash(key);
        typename table::read_guard reading(*t);
        const entry* e = table::find(t->shard_for(h), h, same(key));
        return e != nullptr && !e->block()->expired();
    }
    ///@}

    // --- Removal -----------------------------------------------------------------------------

    ///@{
    /// Removes `key`'s entry, destroying its V outside the lock; returns whether it was there
    /// (the listener is told `erased`; false for a key dying on another thread). Thread-safe
    /// in weakref:: (locks one shard). Expected O(1), plus V's destructor.
    bool erase(const key_type& key) { return erase(key.get()); }
    bool erase(const K* key) { return erase_from(table_.get(), key, nullptr); }
    ///@}

    ///@{
    /// Removes the entry and returns its value, moved out outside the lock (nothing if the key
    /// has no live entry); the listener, told `erased`, receives the moved-from value. Throws
    /// what moving V throws. Thread-safe in weakref:: (locks one shard). Expected O(1).
    std::optional<V> take(const key_type& key) { return take(key.get()); }
    std::optional<V> take(const K* key) {
        static_assert(std::is_move_constructible_v<V>,
                      "weakref: weak_key_map::take moves the value out (V must be "
                      "move-constructible)");
        std::optional<V> out;
        table* t = table_.get();
        if (t == nullptr || key == nullptr) {
            return out;
        }
        const std::size_t h = identity_hash(key);
        shard& s = t->shard_for(h);
        graveyard grave(*t, removal_cause::erased);
        entry* taken = nullptr;
        {
            guard lock(s.mutex);
            entry* e = table::find_held(s, h, same(key));
            if (e != nullptr && t->remove(s, e, grave)) {
                taken = e; // buried: the graveyard frees it after we moved the value out
            }
        }
        if (taken != nullptr) {
            taken->seize();
            out.emplace(std::move(taken->value()));
        }
        return out;
    }
    ///@}

    /// Erases the live entries for which `pred(const K& key_object, const V& value)` is true;
    /// returns how many. Each live entry is offered once; `pred` runs under that entry's value
    /// lock (as visit's function does) and must not use the map nor drop the last ref to
    /// anything. Each erased entry is told `erased`. Throws what `pred` throws and
    /// std::bad_alloc (what was erased stays erased). Thread-safe in weakref::. O(n + b) plus
    /// one `pred` call per entry.
    template <class Pred> std::size_t erase_if(Pred pred) {
        table* t = table_.get();
        if (t == nullptr) {
            return 0;
        }
        // From here on only `t` (pinned) is used, never `this`: a value's destructor or the
        // listener, run by an erase, may destroy the map.
        typename table::pin held(*t);
        std::size_t erased = 0;
        for (shard& s : *t) {
            std::vector<key_type> offered;
            {
                guard lock(s.mutex);
                offered.reserve(s.size.load(std::memory_order_relaxed));
                table::for_each(s, [&](const entry& e) {
                    if (e.block()->try_add_strong()) {
                        offered.emplace_back(e.key(), adopt);
                    }
                });
            }
            for (const key_type& k : offered) {
                const std::size_t h = identity_hash(k.get());
                const entry* e = nullptr;
                {
                    typename table::read_guard reading(*t);
                    e = table::find(t->shard_for(h), h, same(k.get()));
                    if (e == nullptr) {
                        continue;
                    }
                    e->pin();
                }
                // Pinned until its erasure, so that its address names it; also when `pred`
                // throws.
                const unpin_at_exit release{e};
                bool chosen = false;
                e->with_value([&](V& v) {
                    chosen = static_cast<bool>(pred(static_cast<const K&>(*k), std::as_const(v)));
                });
                // Only the entry the predicate saw: a value assigned meanwhile is another's.
                if (chosen && erase_from(t, k.get(), e)) {
                    ++erased;
                }
            }
        }
        return erased;
    }

    /// Removes every entry; every V is destroyed outside the lock (the listener is told
    /// `cleared`). Keys are untouched. Thread-safe in weakref:: (one shard at a time).
    /// O(n + b).
    void clear() noexcept {
        if (table* t = table_.get()) {
            t->clear(removal_cause::cleared);
        }
    }

    // --- Observation -------------------------------------------------------------------------

    /// The number of entries, each with a live key, exact at one instant. In weakref:: takes
    /// the 16 shard locks. O(1) in weakref::local::, O(shards) in weakref::.
    [[nodiscard]] size_type size() const noexcept {
        const table* t = table_.get();
        if (t == nullptr) {
            return 0;
        }
        typename table::lock_all lock(*t);
        return t->size();
    }
    /// `size() == 0`, at the same cost.
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }

    /// The live keys at one instant, held strongly. Throws std::bad_alloc. In weakref:: under
    /// the 16 shard locks. O(n + b).
    [[nodiscard]] std::vector<key_type> keys() const {
        std::vector<key_type> out;
        if (const table* t = table_.get()) {
            t->collect(out, [](std::vector<key_type>& o, const entry& e) {
                if (e.block()->try_add_strong()) {
                    o.emplace_back(e.key(), adopt);
                }
            });
        }
        return out;
    }
    /// Copies of the live values at one instant. Throws std::bad_alloc and what copying V
    /// throws. In weakref:: under the 16 shard locks. O(n + b).
    [[nodiscard]] std::vector<V> values() const {
        static_assert(std::is_copy_constructible_v<V>,
                      "weakref: weak_key_map::values copies the values (V must be "
                      "copy-constructible)");
        std::vector<V> out;
        if (const table* t = table_.get()) {
            t->collect(out, [](std::vector<V>& o, const entry& e) {
                if (!e.block()->expired()) {
                    e.with_value([&](V& v) { o.push_back(v); });
                }
            });
        }
        return out;
    }
    /// The live entries at one instant, keys held strongly, values copied. Throws
    /// std::bad_alloc and what copying V throws. In weakref:: under the 16 shard locks.
    /// O(n + b).
    [[nodiscard]] std::vector<value_type> items() const {
        static_assert(std::is_copy_constructible_v<V>,
                      "weakref: weak_key_map::items copies the values (V must be "
                      "copy-constructible)");
        std::vector<value_type> out;
        key_type spare; // takes the key if the value's copy throws: dropped after the lock
        if (const table* t = table_.get()) {
            t->collect(out, [&spare](std::vector<value_type>& o, const entry& e) {
                if (!e.block()->try_add_strong()) {
                    return;
                }
                key_type k(e.key(), adopt);
                WEAKREF_TRY {
                    bool copied = e.with_value([&](V& v) { o.emplace_back(key_type(), v); });
                    if (!copied) {
                        spare = std::move(k); // being removed right now: not in the snapshot
                        return;
                    }
                }
                WEAKREF_CATCH_ALL {
                    spare = std::move(k);
                    WEAKREF_RETHROW;
                }
                o.back().first = std::move(k);
            });
        }
        return out;
    }

    /// Installs the removal listener, `listener(const K* key_object, V&& value,
    /// removal_cause cause)`: the value is handed over intact (at `died` the key object's
    /// destructor has not run yet), then destroyed when the listener returns. Called after the
    /// entry left the map, on the thread that removed it, with no lock of the map held (it may
    /// use the map); must not throw. on_remove(nullptr) removes it. Throws std::bad_alloc.
    /// Thread-safe in weakref::. O(1); one allocation.
    template <class F> void on_remove(F fn) {
        if constexpr (std::is_same_v<F, std::nullptr_t>) {
            if (table* t = table_.get()) {
                t->set_listener(nullptr);
            }
        } else {
            static_assert(std::is_invocable_v<F&, const K*, V&&, removal_cause>,
                          "weakref: weak_key_map::on_remove takes listener(const K* key_object, "
                          "V&& value, weakref::removal_cause cause)");
            static_assert(std::is_copy_constructible_v<F>,
                          "weakref: on_remove takes a copyable callable (a copy of the "
                          "container copies its listener)");
            table_.ensure().set_listener(listener::make(std::move(fn)));
        }
    }

    ///@{
    /// The same live entries: identical key objects mapped to equal values (V's ==). Each side
    /// is read at one instant, one after the other, so `a == b` and `b == a` on two threads do
    /// not deadlock; `a == a` is true. Throws std::bad_alloc and what copying or comparing V
    /// throws. O(n + b) of each side.
    friend bool operator==(const basic_weak_key_map& a, const basic_weak_key_map& b) {
        if (&a == &b) {
            return true;
        }
        const std::vector<value_type> left = a.items();
        const std::vector<value_type> right = b.items();
        if (left.size() != right.size()) {
            return false;
        }
        std::unordered_map<const void*, const V*> index(right.size());
        for (const value_type& item : right) {
            index.emplace(item.first.get(), &item.second);
        }
        for (const value_type& item : left) {
            auto it = index.find(item.first.get());
            if (it == index.end() || !(*it->second == item.second)) {
                return false;
            }
        }
        return true;
    }
    friend bool operator!=(const basic_weak_key_map& a, const basic_weak_key_map& b) {
        return !(a == b);
    }
    ///@}

    // --- Iteration in place: weakref::local:: only ---------------------------------------------

    /// Internal: the iterator's projection from an entry to `*it`.
    struct project {
        /// The key's ref the iterator holds and the entry's value. O(1).
        std::pair<const key_type&, const V&> operator()(const entry& e,
                                                        const key_type& k) const noexcept {
            return {k, e.value()};
        }
    };
    ///@{
    /// Iterates over the entries in place, without a copy; `*it` is a
    /// `std::pair<const key_type&, const V&>` whose key the iterator holds strongly, so the
    /// loop body may drop every other ref to it. The container must not otherwise change while
    /// an iterator is in use (no insertion, no erase, no death of another referent), as with
    /// std::unordered_map; debug builds stop the program with a message when it did. To change
    /// the container in the loop, iterate over items(): a snapshot. Not in weakref::, where
    /// other threads could change the container at any time. `++it` amortised O(1); a walk
    /// O(n + b).
    using const_iterator = table_iterator<weak_table<entry, Policy>, entry, key_type, project>;
    template <class P = Policy, std::enable_if_t<!P::thread_safe, int> = 0>
    const_iterator begin() const noexcept {
        return const_iterator(table_.get());
    }
    template <class P = Policy, std::enable_if_t<!P::thread_safe, int> = 0>
    const_iterator end() const noexcept {
        return const_iterator();
    }
    ///@}

private:
    static auto same(const void* key) {
        return [key](const entry& e) { return e.object() == key; };
    }

    /// Finds the live entry of `key` in `t` and runs `f(V&)` under its value lock; true if it
    /// ran. The entry is found inside an epoch guard and pinned; `f` (user code) runs after
    /// the guard, so that no reclamation ever waits for it. An entry being replaced or removed
    /// right now is looked up again.
    template <class F> static bool access(const table* t, const K* key, F&& f) {
        if (t == nullptr || key == nullptr) {
            return false;
        }
        const std::size_t h = identity_hash(key);
        for (unsigned spins = 0;;) {
            const entry* e = nullptr;
            {
                typename table::read_guard reading(*t);
                e = table::find(t->shard_for(h), h, same(key));
                if (e == nullptr || e->block()->expired()) {
                    return false;
                }
                e->pin();
            }
            const unpin_at_exit release{e}; // also when `f` throws
            if (e->with_value(f)) {
                return true;
            }
            Policy::pause(spins); // seized: its replacement (or removal) is a moment away
        }
    }
    template <class F> bool access(const K* key, F&& f) const {
        return access(table_.get(), key, std::forward<F>(f));
    }

    /// Erases `key`'s entry from `t` (erase, and erase_if after its predicate, which may have
    /// destroyed the map but not the table it pinned). With `only`, only if the entry is still
    /// that one.
    static bool erase_from(table* t, const K* key, const entry* only) {
        if (t == nullptr || key == nullptr) {
            return false;
        }
        const std::size_t h = identity_hash(key);
        shard& s = t->shard_for(h);
        graveyard grave(*t, removal_cause::erased);
        guard lock(s.mutex);
        entry* e = table::find_held(s, h, same(key));
        return e != nullptr && (only == nullptr || e == only) && t->remove(s, e, grave);
    }

    struct unpin_at_exit {
        explicit unpin_at_exit(const entry* pinned) noexcept : e(pinned) {}
        const entry* e;
        unpin_at_exit(const unpin_at_exit&) = delete;
        unpin_at_exit& operator=(const unpin_at_exit&) = delete;
        ~unpin_at_exit() { e->unpin(); }
    };

    template <class... Args> bool put(const key_type& key, bool assign, Args&&... args) {
        if (!key) {
            detail::throw_invalid_argument("weakref: weak_key_map cannot hold an empty ref "
                                           "as a key");
        }
        void* const object = const_cast<std::remove_cv_t<K>*>(key.get());
        const std::size_t h = identity_hash(object);
        table& t = table_.ensure();
        shard& s = t.shard_for(h);
        bool added = false;
        {
            graveyard grave(t, removal_cause::replaced);
            guard lock(s.mutex);
            entry* old = table::find_held(s, h, same(object));
            if (old != nullptr && !assign && !old->block()->expired()) {
                return false;
            }
            table::reserve_one(s, grave);
            auto* fresh = new entry(&t, object, h, std::forward<Args>(args)...);
            // From here on nothing throws.
            added = old == nullptr || old->block()->expired();
            if (old != nullptr) {
                // Not seized here: that would wait, under the shard lock, for an update or
                // visit running on it. The graveyard seizes it after the lock; an update that
                // lands on it before then is part of the value the listener is handed.
                t.remove(s, old, grave);
            }
            table::link(s, fresh);
        }
        return added;
    }

    table_handle<table, Policy> table_;
};

} // namespace weakref::detail
