// SPDX-License-Identifier: MIT
// weak_value_map: a hash map whose entries leave the moment their value dies
// (Python's WeakValueDictionary).
#pragma once

#include "detail/weak_table.hpp"
#include "fwd.hpp"
#include "ref.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <type_traits>
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
/// Every entry holds its key and a weak count on its value, and is armed on the value's death:
/// the entry is gone from every observation before the call that released the value's last
/// strong ref returns, and before any other callback of the value or its destructor runs.
/// Lookups return a strong ref in one step, so a value found is a value you hold.
///
/// Thread safety (weakref::): every member except assignment, swap and destruction may be
/// called from any number of threads at once, and values may die on any thread at any time.
/// Entries are spread over 16 independently locked shards by hash. Hash, KeyEqual and key
/// copies may run under a shard lock and must not use the map; no destructor or callback ever
/// runs under one. weakref::local:: has no lock at all.
///
/// A hash that changes for a key already in the map makes lookups of that key miss; it cannot
/// corrupt the map: removal at death uses the hash recorded at insertion.
template <class K, class V, class Hash, class KeyEqual, class Policy> class basic_weak_value_map {
public:
    using key_type = K;
    using mapped_type = basic_ref<V, Policy>;
    using value_type = std::pair<K, basic_ref<V, Policy>>;
    using size_type = std::size_t;
    using hasher = Hash;
    using key_equal = KeyEqual;

private:
    struct entry : table_entry<Policy> {
        template <class KeyArg>
        entry(hook_sink<Policy>* sink, V* value, std::size_t hash, KeyArg&& k)
            : table_entry<Policy>(sink, const_cast<std::remove_cv_t<V>*>(value), hash),
              key(std::forward<KeyArg>(k)) {}
        V* value() const noexcept { return static_cast<V*>(this->object_); }
        K key;
    };
    using table = weak_table<entry, Policy>;
    using shard = typename table::shard;
    using graveyard = typename table::graveyard;
    using guard = std::lock_guard<typename table_locks<Policy>::mutex>;

    static constexpr bool transparent = is_transparent_pair<Hash, KeyEqual>;
    template <class Q>
    using if_lookup_key =
        std::enable_if_t<transparent && !std::is_convertible_v<const Q&, const K&>, int>;

public:
    /// An empty map. Allocates nothing until the first insertion; never throws unless Hash or
    /// KeyEqual's default constructor does.
    basic_weak_value_map() = default;
    explicit basic_weak_value_map(const Hash& hash, const KeyEqual& equal = KeyEqual())
        : hash_(hash), equal_(equal) {}

    /// A map of the live entries of `other` at one instant. O(other.size()).
    basic_weak_value_map(const basic_weak_value_map& other)
        : hash_(other.hash_), equal_(other.equal_) {
        for (auto& item : other.items()) {
            insert(std::move(item.first), std::move(item.second));
        }
    }
    /// Takes `other`'s entries; `other` is left empty and usable. O(1), never throws.
    basic_weak_value_map(basic_weak_value_map&& other) noexcept(
        std::is_nothrow_move_constructible_v<Hash>&& std::is_nothrow_move_constructible_v<KeyEqual>)
        : hash_(std::move(other.hash_)), equal_(std::move(other.equal_)),
          table_(std::move(other.table_)) {}
    basic_weak_value_map& operator=(const basic_weak_value_map& other) {
        if (this != &other) {
            basic_weak_value_map copy(other);
            swap(copy);
        }
        return *this;
    }
    basic_weak_value_map& operator=(basic_weak_value_map&& other) noexcept(
        std::is_nothrow_move_assignable_v<Hash>&& std::is_nothrow_move_assignable_v<KeyEqual>) {
        if (this != &other) {
            hash_ = std::move(other.hash_);
            equal_ = std::move(other.equal_);
            table_ = std::move(other.table_);
        }
        return *this;
    }
    /// Leaves every value untouched; values that die later touch nothing of the map.
    ~basic_weak_value_map() = default;

    void swap(basic_weak_value_map& other) noexcept(
        std::is_nothrow_swappable_v<Hash>&& std::is_nothrow_swappable_v<KeyEqual>) {
        using std::swap;
        swap(hash_, other.hash_);
        swap(equal_, other.equal_);
        table_.swap(other.table_);
    }
    friend void swap(basic_weak_value_map& a,
                     basic_weak_value_map& b) noexcept(noexcept(a.swap(b))) {
        a.swap(b);
    }

    // --- Insertion -------------------------------------------------------------------------

    /// Adds (key, value) unless `key` has a live value; returns whether it added. Throws
    /// std::invalid_argument for an empty `value`. Strong guarantee. Expected O(1).
    bool insert(const K& key, const mapped_type& value) { return put(key, value, false); }
    bool insert(K&& key, const mapped_type& value) { return put(std::move(key), value, false); }

    /// Maps `key` to `value`, replacing a live value; returns true if it added, false if it
    /// replaced. Throws std::invalid_argument for an empty `value`. Strong guarantee.
    bool insert_or_assign(const K& key, const mapped_type& value) { return put(key, value, true); }
    bool insert_or_assign(K&& key, const mapped_type& value) {
        return put(std::move(key), value, true);
    }

    /// The live value of `key`, or an empty ref. Expected O(1).
    mapped_type get(const K& key) const { return get_impl(key); }
    template <class Q, if_lookup_key<Q> = 0> mapped_type get(const Q& key) const {
        return get_impl(key);
    }

    /// The live value of `key`; where there is none, `make()` (returning a ref<V>) is run
    /// outside every lock, and its result is inserted and returned. In weakref::, concurrent
    /// callers for one key run `make` once and all get its result; callers for other keys are
    /// not held up. If `make` throws, the caller that ran it gets the exception, the map is
    /// unchanged, and a waiting caller runs `make` itself. An empty result is returned to the
    /// caller that made it and not inserted. Calling get_or_insert for the same key from inside
    /// `make` throws std::logic_error.
    template <class F> mapped_type get_or_insert(const K& key, F&& make) {
        return get_or_insert_impl(key, make);
    }
    template <class Q, class F, if_lookup_key<Q> = 0>
    mapped_type get_or_insert(const Q& key, F&& make) {
        return get_or_insert_impl(key, make);
    }

    /// Whether `key` has a live value.
    bool contains(const K& key) const { return contains_impl(key); }
    template <class Q, if_lookup_key<Q> = 0> bool contains(const Q& key) const {
        return contains_impl(key);
    }

    /// Removes `key`'s entry; returns whether it had a live value.
    bool erase(const K& key) { return erase_impl(key); }
    template <class Q, if_lookup_key<Q> = 0> bool erase(const Q& key) { return erase_impl(key); }

    /// Removes every entry. The values are untouched.
    void clear() noexcept {
        if (table* t = table_.get()) {
            t->clear();
        }
    }

    /// The number of entries, each with a live value (a value dying on another thread leaves
    /// before its release returns). O(1) in weakref::local::, O(shards) in weakref::.
    [[nodiscard]] size_type size() const noexcept {
        const table* t = table_.get();
        if (t == nullptr) {
            return 0;
        }
        typename table::lock_all lock(*t);
        return t->size();
    }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }

    /// The keys of the live entries at one instant. O(size()).
    [[nodiscard]] std::vector<K> keys() const {
        std::vector<K> out;
        const table* t = table_.get();
        if (t == nullptr) {
            return out;
        }
        typename table::lock_all lock(*t);
        for (const shard& s : *t) {
            table::for_each(s, [&](const entry& e) {
                // Not locked: a ref taken here could be the last one, dropped under the lock.
                if (!e.block()->expired()) {
                    out.push_back(e.key);
                }
            });
        }
        return out;
    }
    /// The live values at one instant, held strongly. O(size()).
    [[nodiscard]] std::vector<mapped_type> values() const {
        std::vector<mapped_type> out;
        snapshot([&](const entry&, mapped_type& v) { out.push_back(std::move(v)); });
        return out;
    }
    /// The live entries at one instant, values held strongly. O(size()).
    [[nodiscard]] std::vector<value_type> items() const {
        std::vector<value_type> out;
        snapshot([&](const entry& e, mapped_type& v) {
            out.emplace_back(e.key, mapped_type());
            out.back().second = std::move(v);
        });
        return out;
    }

    // --- Iteration in place: weakref::local:: only ---------------------------------------------

    /// Iterates over the entries in place, without a copy; `*it` holds the current referent
    /// strongly, so the loop body may drop every other ref to it. The container must not
    /// otherwise change while an iterator is in use (no insertion, no erase, no death of another
    /// referent), as with std::unordered_map; debug builds stop the program with a message
    /// when it did. To change the container in the loop, iterate over items(): a snapshot.
    /// Not in weakref::, where other threads could change the container at any time.
    struct project {
        std::pair<const K&, const mapped_type&> operator()(const entry& e,
                                                           const mapped_type& v) const noexcept {
            return {e.key, v};
        }
    };
    using const_iterator = table_iterator<weak_table<entry, Policy>, entry, mapped_type, project>;
    template <class P = Policy, std::enable_if_t<!P::thread_safe, int> = 0>
    const_iterator begin() const noexcept {
        return const_iterator(table_.get());
    }
    template <class P = Policy, std::enable_if_t<!P::thread_safe, int> = 0>
    const_iterator end() const noexcept {
        return const_iterator();
    }

    [[nodiscard]] hasher hash_function() const { return hash_; }
    [[nodiscard]] key_equal key_eq() const { return equal_; }

private:
    static mapped_type lock_value(const entry& e) noexcept {
        if (e.block()->try_add_strong()) {
            return mapped_type(e.value(), adopt);
        }
        return mapped_type();
    }

    template <class Q> auto matcher(const Q& key) const {
        return [this, &key](const entry& e) -> bool { return equal_(e.key, key); };
    }

    template <class Q> std::size_t hash_of(const Q& key) const {
        return static_cast<std::size_t>(hash_(key));
    }

    template <class KeyArg> bool put(KeyArg&& key, const mapped_type& value, bool assign) {
        if (!value) {
            WEAKREF_THROW(
                std::invalid_argument("weakref: weak_value_map cannot hold an empty ref"));
        }
        const std::size_t h = hash_of(key);
        table& t = table_.ensure();
        shard& s = t.shard_for(h);
        V* const object = const_cast<V*>(value.get());
        graveyard grave;
        guard lock(s.mutex);
        entry* old = table::find(s, h, matcher(key));
        if (old != nullptr) {
            if (old->value() == object) {
                return false; // already there; nothing to do
            }
            const bool was_dead = old->block()->expired();
            if (!assign && !was_dead) {
                return false;
            }
            // The common case: the entry now refers to the new value, and keeps its key (as a
            // Python dict keeps the key object it first stored).
            if (t.retarget(s, old, object, grave)) {
                return was_dead;
            }
        }
        table::reserve_one(s);
        auto* fresh = new entry(&t, object, h, std::forward<KeyArg>(key));
        // From here on nothing throws.
        const bool added = old == nullptr || old->block()->expired();
        if (old != nullptr) {
            t.remove(s, old, grave);
        }
        table::link(s, fresh);
        return added;
    }

    template <class Q> mapped_type get_impl(const Q& key) const {
        const table* t = table_.get();
        if (t == nullptr) {
            return mapped_type();
        }
        const std::size_t h = hash_of(key);
        const shard& s = t->shard_for(h);
        guard lock(s.mutex);
        const entry* e = table::find(s, h, matcher(key));
        return e != nullptr ? lock_value(*e) : mapped_type();
    }

    template <class Q> bool contains_impl(const Q& key) const {
        const table* t = table_.get();
        if (t == nullptr) {
            return false;
        }
        const std::size_t h = hash_of(key);
        const shard& s = t->shard_for(h);
        guard lock(s.mutex);
        const entry* e = table::find(s, h, matcher(key));
        return e != nullptr && !e->block()->expired();
    }

    template <class Q> bool erase_impl(const Q& key) {
        table* t = table_.get();
        if (t == nullptr) {
            return false;
        }
        const std::size_t h = hash_of(key);
        shard& s = t->shard_for(h);
        graveyard grave;
        guard lock(s.mutex);
        entry* e = table::find(s, h, matcher(key));
        return e != nullptr && t->remove(s, e, grave);
    }

    /// Calls f(entry, value) under lock_all for each entry whose value could be locked. `f`
    /// moves the value out only once nothing more can throw: if it throws, the value goes to
    /// `spare`, declared before the lock, so that it is dropped after the lock is released.
    template <class F> void snapshot(F&& f) const {
        mapped_type spare;
        const table* t = table_.get();
        if (t == nullptr) {
            return;
        }
        typename table::lock_all lock(*t);
        for (const shard& s : *t) {
            table::for_each(s, [&](const entry& e) {
                mapped_type v = lock_value(e);
                if (!v) {
                    return;
                }
                WEAKREF_TRY { f(e, v); }
                WEAKREF_CATCH_ALL {
                    spare = std::move(v);
                    WEAKREF_RETHROW;
                }
            });
        }
    }

    /// One get_or_insert in flight for one key.
    struct creation : creation_link {
        // Q is the lookup type (std::string_view for std::string keys, say): the key is built
        // from it here only, once a creation is really needed.
        template <class Q>
        creation(std::size_t h, const Q& k) // NOLINT(modernize-pass-by-value)
            : key(k), owner(Policy::this_thread()) {
            this->hash_ = h;
        }
        K key;
        typename Policy::thread_id owner;
        unsigned users = 1; // the creator and its waiters; the last one frees it
        bool done = false;  // set with `result` (empty if the creation failed)
        mapped_type result;
    };

    template <class Q, class F> mapped_type get_or_insert_impl(const Q& key, F& make) {
        const std::size_t h = hash_of(key);
        table& t = table_.ensure();
        shard& s = t.shard_for(h);
        std::unique_ptr<creation> mine; // freed, if unused, after every lock below
        for (;;) {
            std::unique_lock<typename table_locks<Policy>::mutex> lock(s.mutex);
            if (const entry* e = table::find(s, h, matcher(key))) {
                if (mapped_type v = lock_value(*e)) {
                    return v;
                }
            }
            if (creation* other = find_creation(s, h, key)) {
                if (other->owner == Policy::this_thread()) {
                    WEAKREF_THROW(std::logic_error(
                        "weakref: get_or_insert re-entered for the key it is creating"));
                }
                if (mapped_type shared = wait_for(s, lock, other)) {
                    return shared;
                }
                continue; // the creation failed or made nothing: try ourselves
            }
            if (!mine) {
                lock.unlock();
                mine = std::make_unique<creation>(h, key); // copies the key: may throw
                continue; // look again: someone may have inserted or started meanwhile
            }
            mine->next_ = s.creating;
            s.creating = mine.get();
            break;
        }
        return create(t, s, *mine.release(), make);
    }

    template <class F> mapped_type create(table& t, shard& s, creation& c, F& make) {
        mapped_type made;
        WEAKREF_TRY { made = make(); }
        WEAKREF_CATCH_ALL {
            finish(s, c, mapped_type());
            WEAKREF_RETHROW;
        }
        mapped_type winner;
        {
            graveyard grave;
            std::unique_lock<typename table_locks<Policy>::mutex> lock(s.mutex);
            if (made) {
                // The look-up (key-equal), the growth and the key copy may throw: then the
                // creation is withdrawn, its waiters woken, and the map left as it was.
                WEAKREF_TRY {
                    entry* old = table::find(s, h_of(c), matcher(c.key));
                    mapped_type existing = old != nullptr ? lock_value(*old) : mapped_type();
                    if (existing) {
                        // Inserted by insert() while make() ran: the first value wins, as with
                        // Python's setdefault. Ours is dropped below, outside the lock.
                        winner = std::move(existing);
                    } else {
                        table::reserve_one(s);
                        auto* fresh = new entry(&t, const_cast<V*>(made.get()), h_of(c), c.key);
                        if (old != nullptr) {
                            t.remove(s, old, grave);
                        }
                        table::link(s, fresh);
                        winner = made;
                    }
                }
                WEAKREF_CATCH_ALL {
                    lock.unlock();
                    finish(s, c, mapped_type());
                    WEAKREF_RETHROW;
                }
            }
            publish(s, c, winner);
            if (--c.users == 0) {
                lock.unlock();
                delete &c;
            }
        }
        return made ? winner : mapped_type();
    }

    static std::size_t h_of(const creation& c) noexcept { return c.hash_; }

    template <class Q> creation* find_creation(const shard& s, std::size_t h, const Q& key) const {
        for (creation_link* c = s.creating; c != nullptr; c = c->next_) {
            if (c->hash_ == h && equal_(static_cast<creation*>(c)->key, key)) {
                return static_cast<creation*>(c);
            }
        }
        return nullptr;
    }

    /// Under the lock: takes `c` off the shard's list, stores its result, wakes the waiters.
    static void publish(shard& s, creation& c, const mapped_type& result) noexcept {
        for (creation_link** at = &s.creating; *at != nullptr; at = &(*at)->next_) {
            if (*at == &c) {
                *at = c.next_;
                break;
            }
        }
        c.result = result;
        c.done = true;
        s.creation_done.notify_all();
    }

    /// A failed creation: publish an empty result, without the lock on entry.
    static void finish(shard& s, creation& c, const mapped_type& result) noexcept {
        bool last = false;
        {
            std::lock_guard<typename table_locks<Policy>::mutex> lock(s.mutex);
            publish(s, c, result);
            last = --c.users == 0;
        }
        if (last) {
            delete &c;
        }
    }

    /// Waits, under `lock`, for `c` to finish; returns its result (empty if it failed).
    static mapped_type
    wait_for(shard& s, std::unique_lock<typename table_locks<Policy>::mutex>& lock, creation* c) {
        ++c->users;
        while (!c->done) {
            WEAKREF_ASSERT(Policy::thread_safe, "a single-threaded map waited for a creation");
            s.creation_done.wait(lock);
        }
        mapped_type result = c->result;
        if (--c->users == 0) {
            lock.unlock();
            delete c; // drops its ref outside the lock
            lock.lock();
        }
        return result;
    }

    Hash hash_;
    KeyEqual equal_;
    table_handle<table, Policy> table_;
};

} // namespace weakref::detail
