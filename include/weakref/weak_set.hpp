// SPDX-License-Identifier: MIT
// weak_set: a set of objects, compared by identity, that forgets each one the moment it dies
// (Python's WeakSet).
#pragma once

#include "detail/weak_table.hpp"
#include "fwd.hpp"
#include "ref.hpp"
#include "weak_key_map.hpp"

#include <cstddef>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace weakref::detail {

/// A set of weakly held objects, by identity: weak_set<T> in either flavour. A weak_key_map
/// with nothing mapped: an element leaves the set at its death, before any other callback of
/// the element or its destructor runs.
///
/// Thread safety (weakref::): as weak_value_map.
template <class T, class Policy> class basic_weak_set {
public:
    using value_type = basic_ref<T, Policy>;
    using size_type = std::size_t;

private:
    struct entry : table_entry<Policy> {
        using table_entry<Policy>::table_entry;
        T* element() const noexcept { return static_cast<T*>(this->object_); }
    };
    using table = weak_table<entry, Policy>;
    using shard = typename table::shard;
    using graveyard = typename table::graveyard;
    using guard = std::lock_guard<typename table_locks<Policy>::mutex>;

public:
    basic_weak_set() noexcept = default;
    /// A set of the live elements of `other` at one instant.
    basic_weak_set(const basic_weak_set& other) {
        for (const value_type& r : other.items()) {
            insert(r);
        }
    }
    basic_weak_set(basic_weak_set&& other) noexcept = default;
    basic_weak_set& operator=(const basic_weak_set& other) {
        if (this != &other) {
            basic_weak_set copy(other);
            swap(copy);
        }
        return *this;
    }
    basic_weak_set& operator=(basic_weak_set&& other) noexcept = default;
    ~basic_weak_set() = default;

    void swap(basic_weak_set& other) noexcept { table_.swap(other.table_); }
    friend void swap(basic_weak_set& a, basic_weak_set& b) noexcept { a.swap(b); }

    /// Adds `r`'s referent unless it is already in; returns whether it added. Throws
    /// std::invalid_argument for an empty `r`. Strong guarantee. Expected O(1).
    bool insert(const value_type& r) {
        if (!r) {
            WEAKREF_THROW(std::invalid_argument("weakref: weak_set cannot hold an empty ref"));
        }
        void* const object = const_cast<std::remove_cv_t<T>*>(r.get());
        const std::size_t h = identity_hash(object);
        table& t = table_.ensure();
        shard& s = t.shard_for(h);
        graveyard grave;
        guard lock(s.mutex);
        entry* old = table::find(s, h, same(object));
        if (old != nullptr && !old->block()->expired()) {
            return false;
        }
        table::reserve_one(s);
        auto* fresh = new entry(&t, object, h);
        if (old != nullptr) {
            t.remove(s, old, grave);
        }
        table::link(s, fresh);
        return true;
    }

    bool contains(const value_type& r) const { return contains(r.get()); }
    bool contains(const T* p) const {
        const table* t = table_.get();
        if (t == nullptr || p == nullptr) {
            return false;
        }
        const std::size_t h = identity_hash(p);
        const shard& s = t->shard_for(h);
        guard lock(s.mutex);
        const entry* e = table::find(s, h, same(p));
        return e != nullptr && !e->block()->expired();
    }

    /// Removes `r`'s referent; returns whether it was in the set.
    bool erase(const value_type& r) { return erase(r.get()); }
    bool erase(const T* p) {
        table* t = table_.get();
        if (t == nullptr || p == nullptr) {
            return false;
        }
        const std::size_t h = identity_hash(p);
        shard& s = t->shard_for(h);
        graveyard grave;
        guard lock(s.mutex);
        entry* e = table::find(s, h, same(p));
        return e != nullptr && t->remove(s, e, grave);
    }

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

    /// The live elements at one instant, held strongly.
    [[nodiscard]] std::vector<value_type> items() const {
        std::vector<value_type> out;
        value_type spare; // takes an element if push_back throws: dropped after the lock
        const table* t = table_.get();
        if (t == nullptr) {
            return out;
        }
        typename table::lock_all lock(*t);
        for (const shard& s : *t) {
            table::for_each(s, [&](const entry& e) {
                if (!e.block()->try_add_strong()) {
                    return;
                }
                value_type r(e.element(), adopt);
                WEAKREF_TRY { out.push_back(std::move(r)); }
                WEAKREF_CATCH_ALL {
                    spare = std::move(r);
                    WEAKREF_RETHROW;
                }
            });
        }
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
        const value_type& operator()(const entry& /*unused*/, const value_type& r) const noexcept {
            return r;
        }
    };
    using const_iterator = table_iterator<weak_table<entry, Policy>, entry, value_type, project>;
    template <class P = Policy, std::enable_if_t<!P::thread_safe, int> = 0>
    const_iterator begin() const noexcept {
        return const_iterator(table_.get());
    }
    template <class P = Policy, std::enable_if_t<!P::thread_safe, int> = 0>
    const_iterator end() const noexcept {
        return const_iterator();
    }

private:
    static auto same(const void* p) {
        return [p](const entry& e) { return e.object_ == p; };
    }

    table_handle<table, Policy> table_;
};

} // namespace weakref::detail
