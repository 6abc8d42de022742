// SPDX-License-Identifier: MIT
// weak_key_map: data attached to objects owned elsewhere, dropped the moment the object dies
// (Python's WeakKeyDictionary).
#pragma once

#include "detail/weak_table.hpp"
#include "fwd.hpp"
#include "ref.hpp"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace weakref::detail {

/// The hash of a referent's identity: its address.
inline std::size_t identity_hash(const volatile void* p) noexcept {
    return static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(p));
}

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
/// Thread safety (weakref::): as weak_value_map. V's copy and move constructors may run under
/// a shard lock (insert, get) and must not use the map; V's destructor never does.
template <class K, class V, class Policy> class basic_weak_key_map {
public:
    using key_type = basic_ref<K, Policy>;
    using mapped_type = V;
    using value_type = std::pair<basic_ref<K, Policy>, V>;
    using size_type = std::size_t;

private:
    struct entry : table_entry<Policy> {
        template <class... Args>
        entry(hook_sink<Policy>* sink, void* key, std::size_t hash, Args&&... args)
            : table_entry<Policy>(sink, key, hash), value(std::forward<Args>(args)...) {}
        K* key() const noexcept { return static_cast<K*>(this->object_); }
        V value;
    };
    using table = weak_table<entry, Policy>;
    using shard = typename table::shard;
    using graveyard = typename table::graveyard;
    using guard = std::lock_guard<typename table_locks<Policy>::mutex>;

public:
    /// An empty map; allocates nothing until the first insertion.
    basic_weak_key_map() noexcept = default;
    /// A map of the live entries of `other` at one instant; V is copied.
    basic_weak_key_map(const basic_weak_key_map& other) {
        for (auto& item : other.items()) {
            insert(item.first, std::move(item.second));
        }
    }
    /// Takes `other`'s entries; `other` is left empty and usable. O(1), never throws.
    basic_weak_key_map(basic_weak_key_map&& other) noexcept = default;
    basic_weak_key_map& operator=(const basic_weak_key_map& other) {
        if (this != &other) {
            basic_weak_key_map copy(other);
            swap(copy);
        }
        return *this;
    }
    basic_weak_key_map& operator=(basic_weak_key_map&& other) noexcept = default;
    /// Destroys every V (outside every lock); keys are untouched.
    ~basic_weak_key_map() = default;

    void swap(basic_weak_key_map& other) noexcept { table_.swap(other.table_); }
    friend void swap(basic_weak_key_map& a, basic_weak_key_map& b) noexcept { a.swap(b); }

    /// Adds (key, value) unless `key` is already in the map; returns whether it added.
    /// Throws std::invalid_argument for an empty `key`. Strong guarantee. Expected O(1).
    bool insert(const key_type& key, const V& value) { return put(key, false, value); }
    bool insert(const key_type& key, V&& value) { return put(key, false, std::move(value)); }

    /// Maps `key` to `value`; true if it added, false if it replaced (the old V is destroyed
    /// outside the lock). Throws std::invalid_argument for an empty `key`. Strong guarantee.
    bool insert_or_assign(const key_type& key, const V& value) { return put(key, true, value); }
    bool insert_or_assign(const key_type& key, V&& value) {
        return put(key, true, std::move(value));
    }

    /// A copy of the value of `key`, or nothing if `key` is not in the map (or dead).
    std::optional<V> get(const key_type& key) const { return get(key.get()); }
    std::optional<V> get(const K* key) const {
        std::optional<V> out;
        visit(key, [&](const entry& e) { out.emplace(e.value); });
        return out;
    }

    bool contains(const key_type& key) const { return contains(key.get()); }
    bool contains(const K* key) const {
        bool found = false;
        visit(key, [&](const entry&) { found = true; });
        return found;
    }

    /// Removes `key`'s entry, destroying its V outside the lock; returns whether it was there.
    bool erase(const key_type& key) { return erase(key.get()); }
    bool erase(const K* key) {
        table* t = table_.get();
        if (t == nullptr || key == nullptr) {
            return false;
        }
        const std::size_t h = identity_hash(key);
        shard& s = t->shard_for(h);
        graveyard grave;
        guard lock(s.mutex);
        entry* e = table::find(s, h, same(key));
        return e != nullptr && t->remove(s, e, grave);
    }

    /// Removes every entry; every V is destroyed outside the lock.
    void clear() noexcept {
        if (table* t = table_.get()) {
            t->clear();
        }
    }

    [[nodiscard]] size_type size() const noexcept {
        const table* t = table_.get();
        if (t == nullptr) {
            return 0;
        }
        typename table::lock_all lock(*t);
        return t->size();
    }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }

    /// The live keys at one instant, held strongly.
    [[nodiscard]] std::vector<key_type> keys() const {
        std::vector<key_type> out;
        snapshot([&](const entry&, key_type& k) { out.push_back(std::move(k)); });
        return out;
    }
    /// The live entries at one instant, keys held strongly, values copied.
    [[nodiscard]] std::vector<value_type> items() const {
        std::vector<value_type> out;
        snapshot([&](const entry& e, key_type& k) {
            out.emplace_back(key_type(), e.value); // copies V: may throw
            out.back().first = std::move(k);
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
        std::pair<const key_type&, const V&> operator()(const entry& e,
                                                        const key_type& k) const noexcept {
            return {k, e.value};
        }
    };
    using const_iterator = table_iterator<weak_table<entry, Policy>, entry, key_type, project>;
    template <class P = Policy, std::enable_if_t<!P::thread_safe, int> = 0>
    const_iterator begin() const noexcept {
        return const_iterator(table_.get());
    }
    template <class P = Policy, std::enable_if_t<!P::thread_safe, int> = 0>
    const_iterator end() const noexcept {
        return const_iterator();
    }

private:
    static auto same(const void* key) {
        return [key](const entry& e) { return e.object_ == key; };
    }

    template <class Arg> bool put(const key_type& key, bool assign, Arg&& value) {
        if (!key) {
            WEAKREF_THROW(
                std::invalid_argument("weakref: weak_key_map cannot hold an empty ref as a key"));
        }
        void* const object = const_cast<std::remove_cv_t<K>*>(key.get());
        const std::size_t h = identity_hash(object);
        table& t = table_.ensure();
        shard& s = t.shard_for(h);
        graveyard grave;
        guard lock(s.mutex);
        entry* old = table::find(s, h, same(object));
        if (old != nullptr && !assign && !old->block()->expired()) {
            return false;
        }
        table::reserve_one(s);
        auto* fresh = new entry(&t, object, h, std::forward<Arg>(value));
        // From here on nothing throws.
        const bool added = old == nullptr || old->block()->expired();
        if (old != nullptr) {
            t.remove(s, old, grave);
        }
        table::link(s, fresh);
        return added;
    }

    /// Calls f(entry) under the lock if `key` has a live entry.
    template <class F> void visit(const K* key, F&& f) const {
        const table* t = table_.get();
        if (t == nullptr || key == nullptr) {
            return;
        }
        const std::size_t h = identity_hash(key);
        const shard& s = t->shard_for(h);
        guard lock(s.mutex);
        const entry* e = table::find(s, h, same(key));
        if (e != nullptr && !e->block()->expired()) {
            f(*e);
        }
    }

    /// Calls f(entry, key) under lock_all for each live key. `f` moves the key out only once
    /// nothing more can throw: if it throws, the key goes to `spare`, declared before the
    /// lock, so that it is dropped after the lock is released.
    template <class F> void snapshot(F&& f) const {
        key_type spare;
        const table* t = table_.get();
        if (t == nullptr) {
            return;
        }
        typename table::lock_all lock(*t);
        for (const shard& s : *t) {
            table::for_each(s, [&](const entry& e) {
                if (!e.block()->try_add_strong()) {
                    return;
                }
                key_type k(e.key(), adopt);
                WEAKREF_TRY { f(e, k); }
                WEAKREF_CATCH_ALL {
                    spare = std::move(k);
                    WEAKREF_RETHROW;
                }
            });
        }
    }

    table_handle<table, Policy> table_;
};

} // namespace weakref::detail
