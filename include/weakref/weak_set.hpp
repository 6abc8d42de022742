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
#include <unordered_set>
#include <vector>

namespace weakref::detail {

/// A set of weakly held objects, by identity: weak_set<T> in either flavour. A weak_key_map
/// with nothing mapped: an element leaves the set at its death, before any other callback of
/// the element or its destructor runs.
///
/// Thread safety (weakref::): as weak_value_map; contains() takes no lock.
template <class T, class Policy> class basic_weak_set {
public:
    using value_type = basic_ref<T, Policy>;
    using size_type = std::size_t;

private:
    using listener = removal_listener<Policy, const T*, removal_cause>;

    struct entry : table_entry<Policy> {
        using table_entry<Policy>::table_entry;
        T* element() const noexcept { return static_cast<T*>(this->object()); }

        static void notify(listener_base<Policy>* l, entry& e, removal_cause cause) noexcept {
            auto* self = static_cast<listener*>(l);
            self->call(self, e.element(), cause);
        }
        // Whether the listener is given the referent (then a removal holds it until told).
        // The container, for the message of the debug builds' thread check.
        static constexpr const char* container_name = "weak_set";
        static constexpr bool listener_sees_referent = true;
        static void drop_payload(entry& /*unused*/) noexcept {}
        static void free(void* p) noexcept { delete static_cast<entry*>(p); }
    };
    using table = weak_table<entry, Policy>;
    using shard = typename table::shard;
    using graveyard = typename table::graveyard;
    using guard = std::lock_guard<typename table_locks<Policy>::mutex>;

public:
    basic_weak_set() noexcept = default;
    /// A set of the live elements of `other` at one instant, with a copy of its listener.
    basic_weak_set(const basic_weak_set& other) {
        for (const value_type& r : other.items()) {
            insert(r);
        }
        if (listener_base<Policy>* l = table::clone_listener(other.table_.get())) {
            table_.ensure().set_listener(l);
        }
    }
    basic_weak_set(basic_weak_set&& other) noexcept = default;
    /// Replaces the elements by `other`'s (the old ones told `cleared`).
    basic_weak_set& operator=(const basic_weak_set& other) {
        if (this != &other) {
            basic_weak_set copy(other);
            clear();
            swap(copy);
        }
        return *this;
    }
    basic_weak_set& operator=(basic_weak_set&& other) noexcept {
        if (this != &other) {
            clear();
            table_ = std::move(other.table_);
        }
        return *this;
    }
    ~basic_weak_set() = default;

    /// weakref::local:: only: the owner thread gives the container up, so that another thread
    /// may use it (the next thread to use it owns it); see weak_value_map::hand_over.
    template <class P = Policy, std::enable_if_t<!P::thread_safe, int> = 0>
    void hand_over() noexcept {
        table_.hand_over();
    }

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
        graveyard grave(t, removal_cause::erased);
        guard lock(s.mutex);
        entry* old = table::find(s, h, same(object));
        if (old != nullptr && !old->block()->expired()) {
            return false;
        }
        table::reserve_one(s, grave);
        auto* fresh = new entry(&t, object, h);
        if (old != nullptr) {
            t.remove(s, old, grave); // its death is running: it reports itself
        }
        table::link(s, fresh);
        return true;
    }

    /// Whether `r`'s referent is in the set (and alive). In weakref:: takes no lock.
    bool contains(const value_type& r) const { return contains(r.get()); }
    bool contains(const T* p) const {
        const table* t = table_.get();
        if (t == nullptr || p == nullptr) {
            return false;
        }
        const std::size_t h = identity_hash(p);
        typename table::read_guard reading(*t);
        const entry* e = table::find(t->shard_for(h), h, same(p));
        return e != nullptr && !e->block()->expired();
    }

    /// Removes `r`'s referent; returns whether it was in the set (listener: `erased`).
    bool erase(const value_type& r) { return erase(r.get()); }
    bool erase(const T* p) { return erase_from(table_.get(), p); }

    /// Removes and returns some live element (empty if none); the listener is told `erased`.
    value_type pop() {
        table* t = table_.get();
        if (t == nullptr) {
            return value_type();
        }
        for (shard& s : *t) {
            value_type out; // declared before the lock: a ref dropped after it
            graveyard grave(*t, removal_cause::erased);
            guard lock(s.mutex);
            entry* chosen = nullptr;
            table::for_each(s, [&](entry& e) {
                if (chosen == nullptr && e.block()->try_add_strong()) {
                    out = value_type(e.element(), adopt);
                    chosen = &e;
                }
            });
            if (chosen != nullptr && t->remove(s, chosen, grave)) {
                return out;
            }
        }
        return value_type();
    }

    /// Erases the live elements for which `pred(const T&)` is true; returns how many. Each
    /// live element is offered once, held strongly, with no lock of the set held.
    template <class Pred> std::size_t erase_if(Pred pred) {
        table* t = table_.get();
        if (t == nullptr) {
            return 0;
        }
        // From here on only `t` (pinned) is used, never `this`: the listener, told of an
        // erase, may destroy the set.
        typename table::pin held(*t);
        std::vector<value_type> offered;
        t->collect(offered, [](std::vector<value_type>& o, const entry& e) {
            if (e.block()->try_add_strong()) {
                o.emplace_back(e.element(), adopt);
            }
        });
        std::size_t erased = 0;
        for (const value_type& r : offered) {
            if (pred(static_cast<const T&>(*r)) && erase_from(t, r.get())) {
                ++erased;
            }
        }
        return erased;
    }

    void clear() noexcept {
        if (table* t = table_.get()) {
            t->clear(removal_cause::cleared);
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
        const table* t = table_.get();
        if (t == nullptr) {
            return out;
        }
        for (;;) {
            const std::size_t room = t->size();
            out.reserve(room + room / 8 + 8);
            typename table::lock_all lock(*t);
            if (t->size() > out.capacity()) {
                continue; // grew meanwhile: reserve more, outside the locks
            }
            for (const shard& s : *t) {
                table::for_each(s, [&](const entry& e) {
                    if (e.block()->try_add_strong()) {
                        out.emplace_back(e.element(), adopt); // no growth: reserved above
                    }
                });
            }
            return out;
        }
    }

    /// Installs the removal listener, `listener(const T* element, removal_cause cause)`
    /// (at `died` the element's destructor has not run yet); see weak_value_map::on_remove.
    template <class F> void on_remove(F fn) {
        if constexpr (std::is_same_v<F, std::nullptr_t>) {
            if (table* t = table_.get()) {
                t->set_listener(nullptr);
            }
        } else {
            static_assert(std::is_invocable_v<F&, const T*, removal_cause>,
                          "weakref: weak_set::on_remove takes listener(const T* element, "
                          "weakref::removal_cause cause)");
            static_assert(std::is_copy_constructible_v<F>,
                          "weakref: on_remove takes a copyable callable (a copy of the "
                          "container copies its listener)");
            table_.ensure().set_listener(listener::make(std::move(fn)));
        }
    }

    // --- Set algebra (Python's WeakSet) ------------------------------------------------------

    /// Every live element of this set is in `other`. Each side read at one instant.
    [[nodiscard]] bool is_subset_of(const basic_weak_set& other) const {
        if (this == &other) {
            return true;
        }
        const auto mine = items();
        const auto theirs = identities(other.items());
        for (const value_type& r : mine) {
            if (theirs.count(r.get()) == 0) {
                return false;
            }
        }
        return true;
    }
    [[nodiscard]] bool is_superset_of(const basic_weak_set& other) const {
        return other.is_subset_of(*this);
    }
    /// No live element in common.
    [[nodiscard]] bool is_disjoint(const basic_weak_set& other) const {
        const auto mine = items();
        if (this == &other) {
            return mine.empty();
        }
        const auto theirs = identities(other.items());
        for (const value_type& r : mine) {
            if (theirs.count(r.get()) != 0) {
                return false;
            }
        }
        return true;
    }

    /// Adds every live element of `other`.
    basic_weak_set& operator|=(const basic_weak_set& other) {
        if (this != &other) {
            for (const value_type& r : other.items()) {
                insert(r);
            }
        }
        return *this;
    }
    /// Keeps only the elements also in `other` (the others told `erased`).
    basic_weak_set& operator&=(const basic_weak_set& other) {
        if (this != &other) {
            const auto keep = identities(other.items());
            erase_if([&keep](const T& x) { return keep.count(&x) == 0; });
        }
        return *this;
    }
    /// Removes the elements of `other` (`erased`); `s -= s` empties s.
    basic_weak_set& operator-=(const basic_weak_set& other) {
        if (this == &other) {
            erase_if([](const T& /*unused*/) { return true; });
            return *this;
        }
        for (const value_type& r : other.items()) {
            erase(r);
        }
        return *this;
    }
    /// Keeps the elements in exactly one of the two; `s ^= s` empties s.
    basic_weak_set& operator^=(const basic_weak_set& other) {
        if (this == &other) {
            erase_if([](const T& /*unused*/) { return true; });
            return *this;
        }
        for (const value_type& r : other.items()) {
            if (!erase(r)) {
                insert(r);
            }
        }
        return *this;
    }
    /// A new set (with no listener).
    friend basic_weak_set operator|(const basic_weak_set& a, const basic_weak_set& b) {
        basic_weak_set out = without_listener(a);
        out |= b;
        return out;
    }
    friend basic_weak_set operator&(const basic_weak_set& a, const basic_weak_set& b) {
        basic_weak_set out = without_listener(a);
        out &= b;
        return out;
    }
    friend basic_weak_set operator-(const basic_weak_set& a, const basic_weak_set& b) {
        basic_weak_set out = without_listener(a);
        out -= b;
        return out;
    }
    friend basic_weak_set operator^(const basic_weak_set& a, const basic_weak_set& b) {
        basic_weak_set out = without_listener(a);
        out ^= b;
        return out;
    }

    /// The same live elements. Each side read at one instant, one after the other.
    friend bool operator==(const basic_weak_set& a, const basic_weak_set& b) {
        if (&a == &b) {
            return true;
        }
        const auto left = a.items();
        const auto right = identities(b.items());
        if (left.size() != right.size()) {
            return false;
        }
        for (const value_type& r : left) {
            if (right.count(r.get()) == 0) {
                return false;
            }
        }
        return true;
    }
    friend bool operator!=(const basic_weak_set& a, const basic_weak_set& b) { return !(a == b); }

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
    /// Erases `p` from `t` (erase, and erase_if after its predicate, which may have destroyed
    /// the set but not the table it pinned).
    static bool erase_from(table* t, const T* p) {
        if (t == nullptr || p == nullptr) {
            return false;
        }
        const std::size_t h = identity_hash(p);
        shard& s = t->shard_for(h);
        graveyard grave(*t, removal_cause::erased);
        guard lock(s.mutex);
        entry* e = table::find(s, h, same(p));
        return e != nullptr && t->remove(s, e, grave);
    }

    static auto same(const void* p) {
        return [p](const entry& e) { return e.object() == p; };
    }

    /// The addresses of a snapshot's elements (the snapshot keeps them alive meanwhile).
    static std::unordered_set<const T*> identities(const std::vector<value_type>& items) {
        std::unordered_set<const T*> out(items.size());
        for (const value_type& r : items) {
            out.insert(r.get());
        }
        return out;
    }

    static basic_weak_set without_listener(const basic_weak_set& a) {
        basic_weak_set out;
        for (const value_type& r : a.items()) {
            out.insert(r);
        }
        return out;
    }

    table_handle<table, Policy> table_;
};

} // namespace weakref::detail
