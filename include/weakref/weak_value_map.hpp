// SPDX-License-Identifier: MIT
// weak_value_map: a hash map whose entries leave the moment their value dies
// (Python's WeakValueDictionary).
#pragma once

#include "detail/locks.hpp"
#include "detail/recent_tier.hpp"
#include "detail/single_flight.hpp"
#include "detail/weak_table.hpp"
#include "fwd.hpp"
#include "ref.hpp"
#include "weak_ref.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace weakref::detail {

template <class Hash, class KeyEqual, class = void>
inline constexpr bool is_transparent_pair = false;
template <class Hash, class KeyEqual>
inline constexpr bool is_transparent_pair<
    Hash, KeyEqual, std::void_t<typename Hash::is_transparent, typename KeyEqual::is_transparent>> =
    true;

/// A map from owned keys to weakly held values: weak_value_map<K, V> in either flavour.
///
/// Every entry holds its key and a weak unit on its value, and is armed on the value's death:
/// the entry is gone from every observation before the call that released the value's last
/// strong ref returns, and before any other callback of the value or its destructor runs.
/// Lookups return a strong ref in one step, so a value found is a value you hold.
///
/// Thread safety (weakref::): every member except assignment, swap and destruction may be
/// called from any number of threads at once, and values may die on any thread at any time.
/// Lookups (get, contains, and get_or_insert of a present key) take no lock and write nothing
/// shared but the count of the value they return; writers lock one of 16 shards. Hash,
/// KeyEqual and key copies may run under a shard lock (or inside a lookup) and must not use
/// the map; no destructor, callback or listener ever runs under one. weakref::local:: has no
/// lock at all.
///
/// In weakref::, a removed entry's memory (and its key) is freed once no lookup running on
/// another thread can still be reading it: on the thread that removed it, a few removals later
/// (see epoch_domain). In weakref::local:: at once.
///
/// A hash that changes for a key already in the map makes lookups of that key miss; it cannot
/// corrupt the map: removal at death uses the hash recorded at insertion.
///
/// In the costs, n is the number of entries and b of buckets (they never shrink).
template <class K, class V, class Hash, class KeyEqual, class Policy> class basic_weak_value_map {
public:
    ///@{
    /// The member types of std::unordered_map, except that a value is a strong ref (the map
    /// holds it weakly, and hands it out strongly) and value_type, what items() returns, holds
    /// the key by value.
    using key_type = K;
    using mapped_type = basic_ref<V, Policy>;
    using value_type = std::pair<K, basic_ref<V, Policy>>;
    using size_type = std::size_t;
    using hasher = Hash;
    using key_equal = KeyEqual;
    ///@}

private:
    using listener = removal_listener<Policy, const K&, removal_cause>;

    struct entry : table_entry<Policy> {
        template <class KeyArg>
        entry(hook_sink<Policy>* sink, V* value, std::size_t hash, KeyArg&& k)
            : table_entry<Policy>(sink, const_cast<std::remove_cv_t<V>*>(value), hash),
              key(std::forward<KeyArg>(k)) {}
        V* value() const noexcept { return static_cast<V*>(this->object()); }
        K key;

        static void notify(listener_base<Policy>* l, entry& e, removal_cause cause) noexcept {
            auto* self = static_cast<listener*>(l);
            self->call(self, e.key, cause);
        }
        // Whether the listener is given the referent (then a removal holds it until told).
        // The container, for the message of the debug builds' thread check.
        static constexpr const char* container_name = "weak_value_map";
        static constexpr bool listener_sees_referent = false;
        // Nobody holds an entry past its grace period (see table_entry::settle_unit).
        static constexpr bool settles_at_grace = true;
        static void drop_payload(entry& /*unused*/) noexcept {}
        static void free(void* p) noexcept { delete static_cast<entry*>(p); }
    };
    using table = weak_table<entry, Policy>;
    using shard = typename table::shard;
    using graveyard = typename table::graveyard;
    using guard = lock_guard<typename table_locks<Policy>::mutex>;
    using flight = single_flight<Policy, shard, mapped_type>;

    static constexpr bool transparent = is_transparent_pair<Hash, KeyEqual>;
    template <class Q>
    using if_lookup_key =
        std::enable_if_t<transparent && !std::is_convertible_v<const Q&, const K&>, int>;

public:
    /// An empty map. Allocates nothing until the first insertion; never throws unless Hash or
    /// KeyEqual's default constructor does.
    basic_weak_value_map() = default;
    /// An empty map that hashes and compares keys with copies of `hash` and `equal`. Throws
    /// what copying them throws. O(1).
    // NOLINTNEXTLINE(modernize-pass-by-value): std::unordered_map has this signature
    explicit basic_weak_value_map(const Hash& hash, const KeyEqual& equal = KeyEqual())
        : hash_(hash), equal_(equal) {}

    /// A map of the live entries of `other` at one instant, with a copy of its listener and
    /// its keep_recent n (an empty tier). `other` may be in use on other threads. Throws
    /// std::bad_alloc and what copying K, Hash or KeyEqual throws. O(n + b) of `other`.
    basic_weak_value_map(const basic_weak_value_map& other)
        : hash_(other.hash_), equal_(other.equal_) {
        copy_from(other);
        recent_.set_capacity(other.recent_capacity()); // the same n, nothing kept yet
    }
    /// Takes `other`'s entries and listener; `other` is left empty and usable (its Hash and
    /// KeyEqual are copied, not moved, so that a stateful one still works). No other thread
    /// may use either map meanwhile. O(1).
    basic_weak_value_map(basic_weak_value_map&& other) noexcept(
        std::is_nothrow_copy_constructible_v<Hash>&& std::is_nothrow_copy_constructible_v<KeyEqual>)
        // NOLINTNEXTLINE(performance-move-constructor-init): copied: a moved-from map stays usable
        : hash_(other.hash_), equal_(other.equal_), recent_(std::move(other.recent_)),
          table_(std::move(other.table_)) {}
    /// Replaces the entries by a copy of `other`'s, and the listener by a copy of its; the
    /// entries held before are told `cleared` (by the listener they had). The copy is made and
    /// put in place first; then the old entries are cleared and the old tier (see keep_recent)
    /// lets go: a value that dies then leaves the new entries as well, told `died`. What runs
    /// then (a listener, a death) may use or destroy `*this` and `other`: the assignment
    /// touches neither after it. Strong guarantee; throws what the copy constructor throws. No
    /// other thread may use `*this` meanwhile. O(n + b) of both.
    basic_weak_value_map& operator=(const basic_weak_value_map& other) {
        if (this != &other) {
            basic_weak_value_map copy(other);
            swap(copy);
            copy.clear(); // the old entries and tier, now the local's: nothing of *this
        }
        return *this;
    }
    /// Takes `other`'s entries and listener; the entries held before are told `cleared`, after
    /// the move (what runs then may use or destroy either map, as for copy assignment). No
    /// other thread may use either map meanwhile. O(n + b) of `*this`.
    basic_weak_value_map& operator=(basic_weak_value_map&& other) noexcept(
        std::is_nothrow_copy_constructible_v<Hash>&& std::is_nothrow_copy_constructible_v<
            KeyEqual>&& std::is_nothrow_copy_assignable_v<Hash>&&
            std::is_nothrow_copy_assignable_v<KeyEqual>) {
        if (this != &other) {
            basic_weak_value_map old(std::move(*this)); // this map's entries, listener, tier
            hash_ = other.hash_;
            equal_ = other.equal_;
            table_ = std::move(other.table_);
            recent_ = std::move(other.recent_);
            old.clear(); // nothing of *this or other is touched from here on
        }
        return *this;
    }
    /// Leaves every value untouched and tells no listener; values that die later touch
    /// nothing of the map. No other thread may use the map meanwhile. O(n + b).
    ~basic_weak_value_map() = default;

    /// weakref::local:: only: the owner thread gives the container up, so that another thread
    /// may use it. A weakref::local:: container belongs to the first thread that uses it; in
    /// debug builds (WEAKREF_CHECK_THREADS) a use, a move or the destruction on any other
    /// thread stops the program with a message. After hand_over() the next thread to use the
    /// container owns it; passing the container on must synchronise the two threads (a join, a
    /// mutex, a queue), as for any object. Stops the program in debug builds when called by a
    /// thread that does not own the container; does nothing otherwise. O(1), noexcept.
    template <class P = Policy, std::enable_if_t<!P::thread_safe, int> = 0>
    void hand_over() noexcept {
        table_.hand_over();
    }

    /// Exchanges the two maps' entries, listeners, Hash, KeyEqual and keep_recent tiers. Throws
    /// only what swapping Hash or KeyEqual throws. No other thread may use either map
    /// meanwhile. O(1).
    void swap(basic_weak_value_map& other) noexcept(
        std::is_nothrow_swappable_v<Hash>&& std::is_nothrow_swappable_v<KeyEqual>) {
        using std::swap;
        swap(hash_, other.hash_);
        swap(equal_, other.equal_);
        table_.swap(other.table_);
        recent_.swap(other.recent_);
    }
    /// `a.swap(b)`.
    friend void swap(basic_weak_value_map& a,
                     basic_weak_value_map& b) noexcept(noexcept(a.swap(b))) {
        a.swap(b);
    }

    // --- Insertion -------------------------------------------------------------------------

    ///@{
    /// Adds (key, value) unless `key` has a live value; returns whether it added. Throws
    /// std::invalid_argument for an empty `value`. Strong guarantee. Expected O(1). Taking the
    /// value by rvalue moves the caller's strong ref in and drops it before returning: the
    /// map holds its value weakly, so a value nobody else holds dies then (and leaves). Also
    /// throws std::bad_alloc and what copying or moving K throws. Thread-safe in weakref::
    /// (locks one shard); the key is copied or moved only where it adds.
    bool insert(const K& key, const mapped_type& value) { return put(key, value, false); }
    bool insert(K&& key, const mapped_type& value) { return put(std::move(key), value, false); }
    bool insert(const K& key, mapped_type&& value) {
        return put_moved(key, std::move(value), false);
    }
    bool insert(K&& key, mapped_type&& value) {
        return put_moved(std::move(key), std::move(value), false);
    }
    ///@}

    ///@{
    /// Maps `key` to `value`, replacing a live value (the listener is told `replaced`);
    /// returns true if it added, false if it replaced (or the value was there already).
    /// Throws std::invalid_argument for an empty `value`, std::bad_alloc, or what copying or
    /// moving K throws; strong guarantee. Thread-safe in weakref:: (locks one shard); the
    /// replaced value's ref is dropped outside the lock. Expected amortised O(1).
    bool insert_or_assign(const K& key, const mapped_type& value) { return put(key, value, true); }
    bool insert_or_assign(K&& key, const mapped_type& value) {
        return put(std::move(key), value, true);
    }
    bool insert_or_assign(const K& key, mapped_type&& value) {
        return put_moved(key, std::move(value), true);
    }
    bool insert_or_assign(K&& key, mapped_type&& value) {
        return put_moved(std::move(key), std::move(value), true);
    }
    ///@}

    // --- Lookup ----------------------------------------------------------------------------

    ///@{
    /// The live value of `key`, held strongly, or an empty ref. Heterogeneous (`Q`) where Hash
    /// and KeyEqual are transparent. Throws what Hash or KeyEqual throws. Expected O(1); in
    /// weakref:: takes no lock.
    mapped_type get(const K& key) const { return get_impl(key); }
    template <class Q, if_lookup_key<Q> = 0> mapped_type get(const Q& key) const {
        return get_impl(key);
    }
    ///@}

    ///@{
    /// The live value of `key`; where there is none, `make()` (returning a ref<V>) is run
    /// outside every lock, and its result is inserted and returned. In weakref::, concurrent
    /// callers for one key run `make` once and all get its result; callers for other keys are
    /// not held up. If `make` throws, the caller that ran it gets the exception, the map is
    /// unchanged, and a waiting caller runs `make` itself. An empty result is returned to the
    /// caller that made it and not inserted. Calling get_or_insert for the same key from inside
    /// `make` throws std::logic_error. Also throws std::bad_alloc and what Hash, KeyEqual or
    /// copying K throws. Heterogeneous like get(). A present key costs what get() costs;
    /// otherwise expected amortised O(1) plus `make`.
    template <class F> mapped_type get_or_insert(const K& key, F&& make) {
        return get_or_insert_impl(key, make);
    }
    template <class Q, class F, if_lookup_key<Q> = 0>
    mapped_type get_or_insert(const Q& key, F&& make) {
        return get_or_insert_impl(key, make);
    }
    ///@}

    /// get_or_insert whose factory is make_ref<V>(args...); the arguments are used only if
    /// the key has no live value. Throws and waits as get_or_insert does, plus what V's
    /// constructor throws. Thread-safe in weakref::; one creation per key among concurrent
    /// callers.
    template <class... Args> mapped_type get_or_emplace(const K& key, Args&&... args) {
        // A named lambda: get_or_insert_impl takes the factory as an lvalue, as get_or_insert
        // passes its own.
        auto make = [&] { return make_value(std::forward<Args>(args)...); };
        return get_or_insert_impl(key, make);
    }

    ///@{
    /// Whether `key` has a live value. Heterogeneous like get(). Throws what Hash or KeyEqual
    /// throws. Expected O(1); in weakref:: takes no lock.
    bool contains(const K& key) const { return contains_impl(key); }
    template <class Q, if_lookup_key<Q> = 0> bool contains(const Q& key) const {
        return contains_impl(key);
    }
    ///@}

    // --- Removal -----------------------------------------------------------------------------

    ///@{
    /// Removes `key`'s entry; returns whether it had a live value (the listener is told
    /// `erased`; false for a value dying on another thread). The value leaves keep_recent's
    /// tier. Heterogeneous like get(). Throws what Hash or KeyEqual throws. Thread-safe in
    /// weakref:: (locks one shard). Expected O(1).
    bool erase(const K& key) { return erase_impl(key); }
    template <class Q, if_lookup_key<Q> = 0> bool erase(const Q& key) { return erase_impl(key); }
    ///@}

    ///@{
    /// Removes `key`'s entry and returns its live value (empty if none); the listener is told
    /// `erased`. The value leaves keep_recent's tier. Heterogeneous like get(). Throws what
    /// Hash or KeyEqual throws. Thread-safe in weakref:: (locks one shard). Expected O(1).
    mapped_type take(const K& key) { return take_impl(key); }
    template <class Q, if_lookup_key<Q> = 0> mapped_type take(const Q& key) {
        return take_impl(key);
    }
    ///@}

    /// Erases the live entries for which `pred(const K& key, const V& value)` is true; returns
    /// how many it erased (the listener is told `erased` for each). Each live entry is offered
    /// once; `pred` runs with no lock of the map held, on a copy of the key, with the value
    /// held strongly; `pred` must not use the map. Entries inserted meanwhile may or may not be
    /// offered. Throws what `pred` or copying K throws, and std::bad_alloc (what was erased
    /// stays erased). Thread-safe in weakref::. O(n + b) plus one `pred` call per entry.
    template <class Pred> std::size_t erase_if(Pred pred) {
        static_assert(std::is_copy_constructible_v<K>,
                      "weakref: weak_value_map::erase_if copies the keys it offers (K must be "
                      "copy-constructible)");
        table* t = table_.get();
        if (t == nullptr) {
            return 0;
        }
        // From here on only locals are used, never `this`: the listener, told of an erase, may
        // destroy the map. The table is pinned; the key equality is copied.
        typename table::pin held(*t);
        const typename recent_tier<V, Policy>::holder kept(recent_); // makes the lists: throws
        const KeyEqual equal = equal_;
        std::size_t erased = 0;
        for (shard& s : *t) {
            struct offer {
                K key;
                std::size_t hash;
                mapped_type value;
            };
            std::vector<offer> offered;
            {
                guard lock(s.mutex);
                offered.reserve(s.size.load(std::memory_order_relaxed));
                table::for_each(s, [&](const entry& e) {
                    offered.push_back(offer{e.key, e.hash_, mapped_type()}); // copies K: may throw
                    offered.back().value = table::template lock_referent<V>(e);
                });
            }
            for (offer& item : offered) {
                if (item.value &&
                    pred(static_cast<const K&>(item.key), static_cast<const V&>(*item.value)) &&
                    erase_if_same(*t, equal, item.key, item.hash, item.value.get())) {
                    ++erased;
                    kept.drop(shard_index(*t, item.hash), item.value.get()); // and its tier ref
                }
            }
        }
        return erased;
    }

    /// Removes every entry (the listener is told `cleared` for each). The values are untouched,
    /// but for the strong refs of keep_recent's tier, which are dropped (n stays). Thread-safe
    /// in weakref:: (one shard at a time). O(n + b).
    void clear() noexcept {
        // The listener (told `cleared`) and the deaths of values the tier lets go may destroy
        // the map: from here on only the held table and lists are used, never `this`.
        using tier = recent_tier<V, Policy>;
        const typename tier::holder kept(recent_, typename tier::existing_only{});
        if (table* t = table_.get()) {
            typename table::pin held(*t);
            t->clear(removal_cause::cleared);
        }
        kept.clear_all();
    }

    // --- The strong front tier (keep_recent) ---------------------------------------------------

    /// From now on the map also holds strongly the values of the `n` most recently used
    /// entries, so that a value stays alive while it is among them, even after its last user
    /// let go (the strong front tier of a weak cache; 0, the default, is pure weak semantics).
    /// Used: inserted, assigned (insert_or_assign, also of the value already there), or
    /// returned by get, get_or_insert, get_or_emplace; contains and the snapshots do not
    /// count. weakref::local:: keeps exactly the n most recently used distinct values.
    /// weakref:: keeps, for each of its 16 shards, the values of that shard's ceil(n / 16)
    /// most recently used entries: a value stays while it is among those of its own shard, and
    /// the tier holds at most 16 * ceil(n / 16) values (keys are spread over the shards by
    /// hash, so with n a few times 16 that is close to the n most recent overall).
    ///
    /// erase, take and erase_if drop the erased entry's value from the tier, as an assignment
    /// drops the value it replaces; lowering n releases the surplus before returning; clear()
    /// empties the tier and keeps n; a copy of the map has the same n and an empty tier; a
    /// moved-from map has n == 0. Values the tier lets go are released outside every lock of
    /// the map, and one that dies then leaves the map as at any death (`died`). Destroying the
    /// map releases the tier after its entries are gone, telling no listener.
    ///
    /// Thread-safe in weakref::, like every member. Throws std::bad_alloc (the first call with
    /// n > 0 makes the lists: about 1 KiB in weakref::; their slots grow as values are held).
    /// Costs: with n == 0 each operation pays one relaxed load; with n > 0 a use locks its
    /// shard's list for a few instructions (no lock when the value is first there already),
    /// expected O(1); reads on different shards meet nowhere.
    void keep_recent(std::size_t n) {
        table_.use_here();
        recent_.set_capacity(n);
    }

    /// n, as keep_recent last set it (0 by default). O(1).
    [[nodiscard]] std::size_t recent_capacity() const noexcept {
        table_.use_here();
        return recent_.capacity();
    }

    // --- Observation -------------------------------------------------------------------------

    /// The number of entries, each with a live value (a value dying on another thread leaves
    /// before its release returns); exact at one instant. In weakref:: takes the 16 shard
    /// locks. O(1) in weakref::local::, O(shards) in weakref::.
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

    /// The keys of the live entries at one instant (copies; no value is held). Throws
    /// std::bad_alloc and what copying K throws. In weakref:: under the 16 shard locks.
    /// O(n + b).
    [[nodiscard]] std::vector<K> keys() const {
        std::vector<K> out;
        if (const table* t = table_.get()) {
            t->collect(out, [](std::vector<K>& o, const entry& e) {
                // Not locked: a ref taken here could be the last one, dropped under the lock.
                if (!e.block()->expired()) {
                    o.push_back(e.key);
                }
            });
        }
        return out;
    }
    /// The live values at one instant, held strongly (dropping them may run deaths). Throws
    /// std::bad_alloc. In weakref:: under the 16 shard locks. O(n + b).
    [[nodiscard]] std::vector<mapped_type> values() const {
        std::vector<mapped_type> out;
        if (const table* t = table_.get()) {
            t->collect(out, [](std::vector<mapped_type>& o, const entry& e) {
                if (mapped_type v = table::template lock_referent<V>(e)) {
                    o.push_back(std::move(v));
                }
            });
        }
        return out;
    }
    /// Weak refs to the live values at one instant: a snapshot that keeps nothing alive.
    /// Throws std::bad_alloc. In weakref:: under the 16 shard locks. O(n + b).
    [[nodiscard]] std::vector<basic_weak_ref<V, Policy>> value_refs() const {
        std::vector<basic_weak_ref<V, Policy>> out;
        if (const table* t = table_.get()) {
            t->collect(out, [](std::vector<basic_weak_ref<V, Policy>>& o, const entry& e) {
                if (!e.block()->expired()) {
                    e.block()->add_weak(); // the entry's own unit keeps the block
                    o.emplace_back(e.value(), adopt);
                }
            });
        }
        return out;
    }
    /// The live entries at one instant, values held strongly. Throws std::bad_alloc and what
    /// copying K throws. In weakref:: under the 16 shard locks. O(n + b).
    [[nodiscard]] std::vector<value_type> items() const {
        std::vector<value_type> out;
        mapped_type spare; // takes the value if the key's copy throws: dropped after the lock
        if (const table* t = table_.get()) {
            t->collect(out, [&spare](std::vector<value_type>& o, const entry& e) {
                mapped_type v = table::template lock_referent<V>(e);
                if (!v) {
                    return;
                }
                WEAKREF_TRY {
                    o.emplace_back(e.key, mapped_type()); // copies K: may throw
                }
                WEAKREF_CATCH_ALL {
                    spare = std::move(v);
                    WEAKREF_RETHROW;
                }
                o.back().second = std::move(v);
            });
        }
        return out;
    }

    /// Installs the removal listener, `listener(const K& key, removal_cause cause)`, called
    /// after an entry left the map, on the thread that removed it, with no lock of the map
    /// held (it may use the map). Replaces an earlier one; on_remove(nullptr) removes it. The
    /// listener must not throw. A copy of the map copies it; see removal_cause for who is told
    /// what. Throws std::bad_alloc. Thread-safe in weakref::. O(1); one allocation.
    template <class F> void on_remove(F fn) {
        if constexpr (std::is_same_v<F, std::nullptr_t>) {
            if (table* t = table_.get()) {
                t->set_listener(nullptr);
            }
        } else {
            static_assert(std::is_invocable_v<F&, const K&, removal_cause>,
                          "weakref: weak_value_map::on_remove takes listener(const K& key, "
                          "weakref::removal_cause cause)");
            static_assert(std::is_copy_constructible_v<F>,
                          "weakref: on_remove takes a copyable callable (a copy of the "
                          "container copies its listener)");
            table_.ensure().set_listener(listener::make(std::move(fn)));
        }
    }

    ///@{
    /// The same live entries: keys equal and mapped to the same value. In weakref:: each side
    /// is read at one instant (one after the other: two threads comparing a == b and b == a
    /// at once do not deadlock); `a == a` is true. Throws std::bad_alloc and what copying K,
    /// Hash or KeyEqual throws. O(n + b) of each side.
    friend bool operator==(const basic_weak_value_map& a, const basic_weak_value_map& b) {
        if (&a == &b) {
            return true;
        }
        const std::vector<value_type> left = a.items();
        const std::vector<value_type> right = b.items();
        if (left.size() != right.size()) {
            return false;
        }
        std::unordered_map<const K*, const V*, snapshot_hash, snapshot_equal> index(
            right.size(), snapshot_hash{&a.hash_}, snapshot_equal{&a.equal_});
        for (const value_type& item : right) {
            index.emplace(&item.first, item.second.get());
        }
        for (const value_type& item : left) {
            auto it = index.find(&item.first);
            if (it == index.end() || it->second != item.second.get()) {
                return false;
            }
        }
        return true;
    }
    friend bool operator!=(const basic_weak_value_map& a, const basic_weak_value_map& b) {
        return !(a == b);
    }
    ///@}

    // --- Iteration in place: weakref::local:: only ---------------------------------------------

    /// Internal: the iterator's projection from an entry to `*it`.
    struct project {
        /// The entry's key and the value's ref the iterator holds. O(1).
        std::pair<const K&, const mapped_type&> operator()(const entry& e,
                                                           const mapped_type& v) const noexcept {
            return {e.key, v};
        }
    };
    ///@{
    /// Iterates over the entries in place, without a copy; `*it` is a
    /// `std::pair<const K&, const mapped_type&>` whose value the iterator holds strongly, so the
    /// loop body may drop every other ref to it. The container must not otherwise change while
    /// an iterator is in use (no insertion, no erase, no death of another referent), as with
    /// std::unordered_map; debug builds stop the program with a message when it did. To change
    /// the container in the loop, iterate over items(): a snapshot. Not in weakref::, where
    /// other threads could change the container at any time. `++it` amortised O(1); a walk
    /// O(n + b).
    using const_iterator = table_iterator<weak_table<entry, Policy>, entry, mapped_type, project>;
    template <class P = Policy, std::enable_if_t<!P::thread_safe, int> = 0>
    const_iterator begin() const noexcept {
        return const_iterator(table_.get());
    }
    template <class P = Policy, std::enable_if_t<!P::thread_safe, int> = 0>
    const_iterator end() const noexcept {
        return const_iterator();
    }
    ///@}

    /// A copy of the map's Hash; throws what copying it throws. O(1).
    [[nodiscard]] hasher hash_function() const { return hash_; }
    /// A copy of the map's KeyEqual; throws what copying it throws. O(1).
    [[nodiscard]] key_equal key_eq() const { return equal_; }

private:
    // Keys of a snapshot by address, hashed and compared as keys (operator==).
    struct snapshot_hash {
        const Hash* hash;
        std::size_t operator()(const K* k) const { return static_cast<std::size_t>((*hash)(*k)); }
    };
    struct snapshot_equal {
        const KeyEqual* equal;
        bool operator()(const K* a, const K* b) const { return (*equal)(*a, *b); }
    };

    template <class... Args> static mapped_type make_value(Args&&... args) {
        return detail::make_ref<V, Policy>(std::forward<Args>(args)...);
    }

    template <class Q> auto matcher(const Q& key) const {
        return [this, &key](const entry& e) -> bool { return equal_(e.key, key); };
    }

    template <class Q> std::size_t hash_of(const Q& key) const {
        return static_cast<std::size_t>(hash_(key));
    }

    static std::size_t shard_index(const table& t, std::size_t h) noexcept {
        return static_cast<std::size_t>(&t.shard_for(h) - t.begin());
    }

    /// keep_recent: `v` (empty: nothing), just used through an entry of hash `h`, goes first in
    /// its shard's list. Out of line, so that with n == 0 an operation pays one load. Called
    /// with no lock or guard held: it may let a value go.
    WEAKREF_NOINLINE void remember(const table& t, std::size_t h,
                                   const mapped_type& v) const noexcept {
        if (!v) {
            return;
        }
        recent_.use(shard_index(t, h), v, [&t, h, p = v.get()] {
            // Whether an entry of hash h still refers to the value (see recent_tier::use).
            typename table::read_guard reading(t);
            return table::find(t.shard_for(h), h, [p](const entry& e) { return e.value() == p; }) !=
                   nullptr;
        });
    }

    template <class KeyArg> bool put(KeyArg&& key, const mapped_type& value, bool assign) {
        if (!value) {
            detail::throw_invalid_argument("weakref: weak_value_map cannot hold an empty ref");
        }
        const std::size_t h = hash_of(key);
        table& t = table_.ensure();
        shard& s = t.shard_for(h);
        V* const object = const_cast<V*>(value.get());
        // An assignment with no listener installed and no keep_recent tells nobody, so it
        // needs no graveyard: a live value is re-pointed (its old referent's weak unit released
        // after the lock by `later`), a missing key is linked if its shard has room. A shard
        // that must grow, or an entry whose value died (retarget refuses it), takes the general
        // path below.
        if (assign && !recent_.active() && !t.listening()) {
            mapped_type unkept; // as below: keep_recent may have been turned on meanwhile
            typename table::unit_release later(t);
            guard lock(s.mutex);
            entry* const old = table::find_held(s, h, matcher(key));
            if (old == nullptr) {
                if (table::has_room(s)) {
                    table::link(s, new entry(&t, object, h, std::forward<KeyArg>(key)));
                    return true; // nothing thrown after the entry's construction
                }
            } else if (old->value() == object) {
                return false;
            } else {
                V* const previous = old->value();
                if (table::retarget(s, old, object, later)) {
                    // A use on another thread may have put the old value into lists made since
                    // the look at n above (see recent_tier::forget_removed).
                    unkept = recent_.forget_removed(shard_index(t, h), previous);
                    return false; // a live value replaced: nothing added
                }
            }
        }
        bool replaced = false;
        bool old_died = false;
        bool added = false;
        bool unchanged = false;
        mapped_type unkept; // keep_recent's ref to a replaced value: dropped after the locks
        {
            graveyard grave(t, removal_cause::erased);
            {
                guard lock(s.mutex);
                entry* old = table::find_held(s, h, matcher(key));
                if (old != nullptr && old->value() == object) {
                    if (!assign || !recent_.active()) {
                        return false; // already there; nothing to do, nothing told
                    }
                    unchanged = true; // nothing told either, but a use for keep_recent
                } else {
                    const bool was_dead = old != nullptr && old->block()->expired();
                    if (old != nullptr && !assign && !was_dead) {
                        return false;
                    }
                    V* const previous = old != nullptr ? old->value() : nullptr;
                    // The common case: the entry now refers to the new value, and keeps its key
                    // (as a Python dict keeps the key object it first stored).
                    if (old != nullptr && table::retarget(s, old, object, grave)) {
                        replaced = !was_dead;
                        // A value that died but whose death had not yet taken the entry's hook:
                        // that death now finds nothing to remove, so its notice is given here.
                        old_died = was_dead;
                        added = was_dead;
                        if (replaced) {
                            // Whatever n is now: a use may have just put it into the tier
                            // (see recent_tier::forget_removed). Its block is held until the
                            // graveyard's grace period: no other object at its address.
                            unkept = recent_.forget_removed(shard_index(t, h), previous);
                        }
                    } else {
                        table::reserve_one(s, grave);
                        auto* fresh = new entry(&t, object, h, std::forward<KeyArg>(key));
                        // From here on nothing throws. (A dead value is in no tier.)
                        added = old == nullptr || old->block()->expired();
                        if (old != nullptr) {
                            t.remove(s, old, grave); // its death is running: it reports itself
                        }
                        table::link(s, fresh);
                    }
                }
            }
            if (replaced || old_died) {
                // The entry kept its key (retarget): `key` was not moved from.
                if (auto* l = static_cast<listener*>(grave.listening())) {
                    l->call(l, static_cast<const K&>(key),
                            replaced ? removal_cause::replaced : removal_cause::died);
                }
            }
        }
        if (WEAKREF_UNLIKELY(recent_.active()) && (added || replaced || unchanged)) {
            remember(t, h, value); // inserted or assigned: a use
        }
        return added;
    }

    template <class KeyArg> bool put_moved(KeyArg&& key, mapped_type&& value, bool assign) {
        // The caller's ref is taken over, and dropped after the map's locks: the map holds the
        // value weakly.
        const mapped_type held(std::move(value));
        return put(std::forward<KeyArg>(key), held, assign);
    }

    template <class Q> mapped_type get_impl(const Q& key) const {
        const table* t = table_.get();
        if (t == nullptr) {
            return mapped_type();
        }
        const std::size_t h = hash_of(key);
        mapped_type v;
        {
            typename table::read_guard reading(*t);
            const entry* e = table::find(t->shard_for(h), h, matcher(key));
            if (e != nullptr) {
                v = table::template lock_referent<V>(*e);
            }
        }
        if (WEAKREF_UNLIKELY(recent_.active())) {
            remember(*t, h, v); // after the guard: it may let a value go
        }
        return v;
    }

    template <class Q> bool contains_impl(const Q& key) const {
        const table* t = table_.get();
        if (t == nullptr) {
            return false;
        }
        const std::size_t h = hash_of(key);
        typename table::read_guard reading(*t);
        const entry* e = table::find(t->shard_for(h), h, matcher(key));
        return e != nullptr && !e->block()->expired();
    }

    template <class Q> bool erase_impl(const Q& key) {
        table* t = table_.get();
        if (t == nullptr) {
            return false;
        }
        const std::size_t h = hash_of(key);
        shard& s = t->shard_for(h);
        // keep_recent's ref to the value, if the tier holds it: dropped after every lock.
        mapped_type unkept;
        graveyard grave(*t, removal_cause::erased);
        guard lock(s.mutex);
        entry* e = table::find_held(s, h, matcher(key));
        // A value that died, whose death has not yet taken the entry, is left to that death:
        // it is not live, so erase returns false and the death tells `died`.
        if (e == nullptr || e->block()->expired() || !t->remove(s, e, grave)) {
            return false;
        }
        // The value leaves keep_recent's tier too, whatever n is now (a use may have just put
        // it there: see recent_tier::forget_removed). The buried entry holds its block.
        unkept = recent_.forget_removed(shard_index(*t, h), e->value());
        return true;
    }

    /// Erases `key`'s entry from `t` if it still refers to `value` (erase_if's second step).
    static bool erase_if_same(table& t, const KeyEqual& equal, const K& key, std::size_t h,
                              const V* value) {
        shard& s = t.shard_for(h);
        graveyard grave(t, removal_cause::erased);
        guard lock(s.mutex);
        entry* e =
            table::find_held(s, h, [&](const entry& x) -> bool { return equal(x.key, key); });
        return e != nullptr && e->value() == value && t.remove(s, e, grave);
    }

    template <class Q> mapped_type take_impl(const Q& key) {
        table* t = table_.get();
        if (t == nullptr) {
            return mapped_type();
        }
        const std::size_t h = hash_of(key);
        shard& s = t->shard_for(h);
        mapped_type out;    // declared before the lock: a ref dropped after it
        mapped_type unkept; // keep_recent's ref to it, likewise (never the last: out holds it)
        graveyard grave(*t, removal_cause::erased);
        guard lock(s.mutex);
        entry* e = table::find_held(s, h, matcher(key));
        if (e != nullptr) {
            // Only a live value is taken; a dead one is left to its death, which tells `died`.
            out = table::template lock_referent<V>(*e);
            if (out && !t->remove(s, e, grave)) {
                out = mapped_type(); // dying: not ours to hand out (not the last ref: safe)
            } else if (out) {
                // Whatever n is now (see recent_tier::forget_removed).
                unkept = recent_.forget_removed(shard_index(*t, h), out.get());
            }
        }
        return out;
    }

    /// The creation of one key: the key, built from the lookup type only when a creation is
    /// needed (std::string from std::string_view, say).
    struct value_creation : flight::node {
        // NOLINTNEXTLINE(modernize-pass-by-value): Q is mostly not K (a view of a string key)
        template <class Q> explicit value_creation(const Q& k) : key(k) {}
        K key;
    };

    template <class Q, class F> mapped_type get_or_insert_impl(const Q& key, F& make) {
        const std::size_t h = hash_of(key);
        table& t = table_.ensure();
        mapped_type found;
        {
            // A present key: a lookup, as get().
            typename table::read_guard reading(t);
            if (const entry* e = table::find(t.shard_for(h), h, matcher(key))) {
                found = table::template lock_referent<V>(*e);
            }
        }
        if (!found) {
            found = create_once(t, h, key, make);
        }
        if (WEAKREF_UNLIKELY(recent_.active())) {
            remember(t, h, found);
        }
        return found;
    }

    template <class Q, class F>
    mapped_type create_once(table& t, std::size_t h, const Q& key, F& make) {
        shard& s = t.shard_for(h);
        return flight::get_or_create(
            s, h,
            [&]() -> std::optional<mapped_type> {
                if (const entry* e = table::find_held(s, h, matcher(key))) { // under the lock
                    if (mapped_type v = table::template lock_referent<V>(*e)) {
                        return v;
                    }
                }
                return std::nullopt;
            },
            [&](const typename flight::node& c) {
                return equal_(static_cast<const value_creation&>(c).key, key);
            },
            [&]() -> std::unique_ptr<typename flight::node> {
                return std::make_unique<value_creation>(key);
            },
            [&](typename flight::node& c) { return create(t, s, h, c, make); });
    }

    template <class F>
    mapped_type create(table& t, shard& s, std::size_t h, typename flight::node& c, F& make) {
        mapped_type made = make();
        mapped_type winner;
        {
            // What it removes is an entry whose value died (its death had not yet taken the
            // hook): told `died`, as that death would have.
            graveyard grave(t, removal_cause::died);
            typename flight::lock_type lock(s.mutex);
            if (made) {
                // The look-up (key-equal), the growth and the key copy may throw: then the
                // creation is withdrawn by single_flight, its waiters woken, and the map left
                // as it was.
                const K& key = static_cast<value_creation&>(c).key;
                entry* old = table::find_held(s, h, matcher(key));
                mapped_type existing =
                    old != nullptr ? table::template lock_referent<V>(*old) : mapped_type();
                if (existing) {
                    // Inserted by insert() while make() ran: the first value wins, as with
                    // Python's setdefault. Ours is dropped by the caller, outside the lock.
                    winner = std::move(existing);
                } else {
                    table::reserve_one(s, grave);
                    auto* fresh = new entry(&t, const_cast<V*>(made.get()), h, key);
                    if (old != nullptr) {
                        t.remove(s, old, grave);
                    }
                    table::link(s, fresh);
                    winner = made;
                }
                c.result = winner;
            }
            flight::publish(s, c);
            flight::leave(lock, c);
        }
        return made ? winner : mapped_type();
    }

    void copy_from(const basic_weak_value_map& other) {
        for (auto& item : other.items()) {
            insert(std::move(item.first), std::move(item.second));
        }
        if (listener_base<Policy>* l = table::clone_listener(other.table_.get())) {
            table_.ensure().set_listener(l);
        }
    }

    Hash hash_;
    KeyEqual equal_;
    // keep_recent's strong tier. Before table_, so destroyed after it: the values it lets go
    // then die with no entry left to report (destroying the map tells no listener).
    mutable recent_tier<V, Policy> recent_;
    table_handle<table, Policy> table_;
};

} // namespace weakref::detail
