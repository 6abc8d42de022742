// SPDX-License-Identifier: MIT
// weak_set: a set of objects, compared by identity, that forgets each one the moment it dies
// (Python's WeakSet).
#pragma once

#include "detail/locks.hpp"
#include "detail/weak_table.hpp"
#include "fwd.hpp"
#include "ref.hpp"
#include "weak_key_map.hpp"

#include <cstddef>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace weakref::detail {

/// A set of weakly held objects, by identity: weak_set<T> in either flavour. A weak_key_map
/// with nothing mapped: an element leaves the set at its death, before any other callback of
/// the element or its destructor runs.
///
/// Thread safety (weakref::): as weak_value_map; contains() takes no lock. In the costs, n is
/// the number of elements, b of buckets (they never shrink), m the other operand's elements.
template <class T, class Policy> class basic_weak_set {
public:
    /// What the set holds weakly and hands out strongly: a ref to an element.
    using value_type = basic_ref<T, Policy>;
    /// What size() returns.
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
        // Nobody holds an entry past its grace period (see table_entry::settle_unit).
        static constexpr bool settles_at_grace = true;
        static void drop_payload(entry& /*unused*/) noexcept {}
        static void free(void* p) noexcept { delete static_cast<entry*>(p); }
    };
    using table = weak_table<entry, Policy>;
    using shard = typename table::shard;
    using graveyard = typename table::graveyard;
    using guard = lock_guard<typename table_locks<Policy>::mutex>;

public:
    /// An empty set; allocates nothing. O(1).
    basic_weak_set() noexcept = default;
    /// A set of the live elements of `other` at one instant, with a copy of its listener.
    /// `other` may be in use on other threads. Throws std::bad_alloc. O(n + b) of `other`.
    basic_weak_set(const basic_weak_set& other) {
        for (const value_type& r : other.items()) {
            insert(r);
        }
        if (listener_base<Policy>* l = table::clone_listener(other.table_.get())) {
            table_.ensure().set_listener(l);
        }
    }
    /// Takes `other`'s elements and listener; `other` is left empty and usable. No other thread
    /// may use either set meanwhile. O(1).
    basic_weak_set(basic_weak_set&& other) noexcept = default;
    /// Replaces the elements by `other`'s live ones and the listener by a copy of its (the old
    /// elements told `cleared`). Throws std::bad_alloc; no other thread may use `*this`
    /// meanwhile. O(n + b) of both.
    /// The copy is put in place first, then the old elements are told: a listener may use or
    /// destroy `*this` and `other`, which the assignment touches no more.
    basic_weak_set& operator=(const basic_weak_set& other) {
        if (this != &other) {
            basic_weak_set copy(other);
            swap(copy);
            copy.clear(); // the old elements, now the local's: nothing of *this
        }
        return *this;
    }
    /// Takes `other`'s elements and listener; `other` is left empty. Then the old elements are
    /// told `cleared` (a listener may use or destroy either set). No other thread may use either
    /// set meanwhile. O(n + b) of `*this`.
    basic_weak_set& operator=(basic_weak_set&& other) noexcept {
        if (this != &other) {
            basic_weak_set old(std::move(*this));
            table_ = std::move(other.table_);
            old.clear(); // nothing of *this or other is touched from here on
        }
        return *this;
    }
    /// Leaves every element untouched and calls no listener; waits for the removals it
    /// retired itself (weakref::). No other thread may use the set meanwhile. O(n + b).
    ~basic_weak_set() = default;

    /// weakref::local:: only: the owner thread gives the container up, so that another thread
    /// may use it (the next thread to use it owns it); see weak_value_map::hand_over.
    template <class P = Policy, std::enable_if_t<!P::thread_safe, int> = 0>
    void hand_over() noexcept {
        table_.hand_over();
    }

    /// Exchanges the two sets' elements and listeners. No other thread may use either set
    /// meanwhile. O(1).
    void swap(basic_weak_set& other) noexcept { table_.swap(other.table_); }
    /// `a.swap(b)`.
    friend void swap(basic_weak_set& a, basic_weak_set& b) noexcept { a.swap(b); }

    /// Adds `r`'s referent unless it is already in; returns whether it added. Throws
    /// std::invalid_argument for an empty `r`, or std::bad_alloc; strong guarantee. Thread-safe
    /// in weakref:: (locks one shard). Expected amortised O(1); allocates one entry.
    bool insert(const value_type& r) {
        if (!r) {
            detail::throw_invalid_argument("weakref: weak_set cannot hold an empty ref");
        }
        void* const object = const_cast<std::remove_cv_t<T>*>(r.get());
        const std::size_t h = identity_hash(object);
        table& t = table_.ensure();
        shard& s = t.shard_for(h);
        graveyard grave(t, removal_cause::erased);
        guard lock(s.mutex);
        entry* old = table::find_held(s, h, same(object));
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

    ///@{
    /// Whether the referent (given as a ref or a pointer to a live object; empty or null finds
    /// nothing) is in the set and alive. Throws nothing of its own. In weakref:: takes no lock.
    /// Expected O(1).
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
    ///@}

    ///@{
    /// Removes the referent (a ref or a pointer); returns whether it was in the set, false if
    /// it is dying on another thread (listener: `erased`). Thread-safe in weakref:: (locks one
    /// shard). Expected O(1).
    bool erase(const value_type& r) { return erase(r.get()); }
    bool erase(const T* p) { return erase_from(table_.get(), p); }
    ///@}

    /// Removes and returns some live element, held strongly (empty if none; which one is
    /// unspecified); the listener is told `erased`. Python's WeakSet.pop. Thread-safe in
    /// weakref::. Amortised O(1) when the set is dense, O(n + b) at worst.
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
    /// live element is offered once, held strongly, with no lock of the set held; `pred` must
    /// not use the set. Each erased element is told `erased`. Throws what `pred` throws and
    /// std::bad_alloc (what was erased stays erased). O(n + b): a snapshot, then one erase per
    /// accepted element.
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

    /// Removes every element (each told `cleared`), leaving the referents untouched.
    /// Thread-safe in weakref::. O(n + b).
    void clear() noexcept {
        if (table* t = table_.get()) {
            t->clear(removal_cause::cleared);
        }
    }

    /// The number of live elements, exact at one instant. In weakref:: takes the 16 shard
    /// locks in turn (held together); O(1) in weakref::local::.
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

    /// The live elements at one instant, held strongly (dropping the vector may run deaths).
    /// Throws std::bad_alloc. In weakref:: takes the 16 shard locks together. O(n + b).
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
    /// `on_remove(nullptr)` removes it. Throws std::bad_alloc. O(1); one allocation.
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

    /// Every live element of this set is in `other`. Each side read at one instant. Throws
    /// std::bad_alloc. O(n + m): two snapshots and an index of one.
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
    /// Every live element of `other` is in this set: `other.is_subset_of(*this)`.
    [[nodiscard]] bool is_superset_of(const basic_weak_set& other) const {
        return other.is_subset_of(*this);
    }
    /// No live element in common; `a.is_disjoint(a)` is `a.empty()`. As is_subset_of: each
    /// side at one instant, std::bad_alloc, O(n + m).
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

    /// Adds every live element of `other` (nothing told). The compound operators read `other`
    /// (and `*this` where needed) at one instant, throw std::bad_alloc, and cost O(n + m) plus
    /// one insertion or erase per changed element.
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
    ///@{
    /// A new set (union, intersection, difference, symmetric difference) with no listener;
    /// the operands are unchanged. Throws std::bad_alloc. O(n + m).
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
    ///@}

    ///@{
    /// The same live elements (identity). Each side read at one instant, one after the other,
    /// so `a == b` and `b == a` on two threads do not deadlock; `a == a` is true. Throws
    /// std::bad_alloc. O(n + m).
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
    ///@}

    // --- Iteration in place: weakref::local:: only ---------------------------------------------

    /// Internal: the iterator's projection from an entry to `*it`.
    struct project {
        /// The element's ref the iterator holds. O(1).
        const value_type& operator()(const entry& /*unused*/, const value_type& r) const noexcept {
            return r;
        }
    };
    ///@{
    /// Iterates over the entries in place, without a copy; `*it` is the current element's
    /// `const value_type&`, held strongly, so the loop body may drop every other ref to it. The
    /// container must not otherwise change while an iterator is in use (no insertion, no erase,
    /// no death of another referent), as with std::unordered_map; debug builds stop the program
    /// with a message when it did. To change the container in the loop, iterate over items():
    /// a snapshot. Not in weakref::, where other threads could change the container at any
    /// time. `++it` amortised O(1); a walk O(n + b).
    using const_iterator = table_iterator<weak_table<entry, Policy>, entry, value_type, project>;
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
        entry* e = table::find_held(s, h, same(p));
        return e != nullptr && t->remove(s, e, grave);
    }

    static auto same(const void* p) {
        return [p](const entry& e) { return e.object() == p; };
    }

    /// The addresses of a snapshot's elements (the snapshot keeps them alive meanwhile), as
    /// the keys of a map: <unordered_map> is read by the maps anyway, <unordered_set> would
    /// add its own header to every include of weakref (docs/compile-time.md).
    static std::unordered_map<const T*, bool> identities(const std::vector<value_type>& items) {
        std::unordered_map<const T*, bool> out(items.size());
        for (const value_type& r : items) {
            out.emplace(r.get(), true);
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
