// SPDX-License-Identifier: MIT
// weak_interner: one live object per value, stored once, forgotten at the object's death
// (Guava's Interners.newWeakInterner, Boost.Flyweight's refcounted factory).
#pragma once

#include "detail/locks.hpp"
#include "detail/single_flight.hpp"
#include "detail/weak_table.hpp"
#include "fwd.hpp"
#include "ref.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace weakref::detail {

template <class Hash, class KeyEqual, class = void>
inline constexpr bool interner_transparent = false;
template <class Hash, class KeyEqual>
inline constexpr bool interner_transparent<
    Hash, KeyEqual, std::void_t<typename Hash::is_transparent, typename KeyEqual::is_transparent>> =
    true;

/// The canonical objects of a type, held weakly: weak_interner<T, Hash, KeyEqual> in either
/// flavour. intern(value) returns the live object equal to `value`, or makes one (make_ref<T>
/// from `value`) that becomes the canonical one; the entry leaves at that object's death.
///
/// The object is its own key: an entry is a weak table's bare entry (48 bytes on a 64-bit
/// target: its death hook, chain link, hash and referent), with no copy of the value. A
/// weak_value_map<std::string, Symbol> holds each name twice, in the key and in the Symbol.
///
/// Thread safety (weakref::): every member except assignment, swap and destruction may be
/// called from any number of threads at once, and objects may die on any thread at any time.
/// Concurrent intern calls with equal values all receive one object. intern of a present value
/// and contains take no lock: they walk the table under an epoch guard, take a strong ref to
/// each candidate whose hash matches (a candidate already dying is skipped), and compare it
/// with KeyEqual after leaving the guard, on an object they hold alive. An absent value is
/// made outside every lock, while concurrent callers with an equal value wait for it.
///
/// Hash and KeyEqual may run under a shard lock (in weakref::local::, inside a lookup's walk
/// too) and must not use the interner, nor drop the last reference to an object canonical
/// here (its death needs the interner). Under that lock KeyEqual may read a canonical object
/// whose strong count just reached zero on another thread: its death has not begun (that
/// death needs the lock to remove the entry), so the object is intact. An interned object
/// must not change its value (its hash or equality) while it is canonical: lookups of it
/// would then miss, and a second object for its old value could be made; the table itself is
/// never corrupted (removal uses the hash recorded when the object was interned).
///
/// In the costs, n is the number of canonical objects and b of buckets (they never shrink).
template <class T, class Hash, class KeyEqual, class Policy> class basic_weak_interner {
    static_assert(std::is_object_v<T> && !std::is_const_v<T> && !std::is_volatile_v<T> &&
                      !std::is_array_v<T>,
                  "weakref: weak_interner<T> interns objects: T must be a non-const, non-array "
                  "object type");

public:
    ///@{
    /// The interned type, the handle intern() returns, what size() returns, and the hash and
    /// equality the objects are compared with.
    using value_type = T;
    using ref_type = basic_ref<T, Policy>;
    using size_type = std::size_t;
    using hasher = Hash;
    using key_equal = KeyEqual;
    ///@}

private:
    struct entry : table_entry<Policy> {
        using table_entry<Policy>::table_entry;
        [[nodiscard]] T* object_ptr() const noexcept { return static_cast<T*>(this->object()); }

        // The interner has no removal listener: these are never called with one.
        static void notify(listener_base<Policy>* /*unused*/, entry& /*unused*/,
                           removal_cause /*unused*/) noexcept {}
        // The container, for the message of the debug builds' thread check.
        static constexpr const char* container_name = "weak_interner";
        static constexpr bool listener_sees_referent = false;
        // Nobody holds an entry past its grace period (see table_entry::settle_unit).
        static constexpr bool settles_at_grace = true;
        static void drop_payload(entry& /*unused*/) noexcept {}
        static void free(void* p) noexcept { delete static_cast<entry*>(p); }
    };
    using table = weak_table<entry, Policy>;
    using shard = typename table::shard;
    using graveyard = typename table::graveyard;
    using flight = single_flight<Policy, shard, ref_type>;

    /// An intern in flight: `probe` is a value equal to the one being interned, for the
    /// callers that come meanwhile to compare with (under the shard lock). It points at the
    /// creator's own argument where the object is copied from it after registration, or at
    /// the object made before registration (from a moved value, or from a lookup key).
    struct interning : flight::node {
        const T* probe = nullptr;
        ref_type made;
    };

    static constexpr bool transparent = interner_transparent<Hash, KeyEqual>;
    template <class Q>
    using if_lookup_key =
        std::enable_if_t<transparent && !std::is_convertible_v<const Q&, const T&>, int>;

public:
    /// An empty interner. Allocates nothing until the first intern; never throws unless Hash
    /// or KeyEqual's default constructor does.
    basic_weak_interner() = default;
    /// An empty interner that hashes and compares with copies of `hash` and `equal`. Throws
    /// what copying them throws. O(1).
    explicit basic_weak_interner(const Hash& hash, const KeyEqual& equal = KeyEqual())
        : hash_(hash), equal_(equal) {}

    /// An interner whose canonical objects are those of `other` at one instant: the same
    /// objects, not copies. `other` may be in use on other threads. Throws std::bad_alloc and
    /// what Hash, KeyEqual or copying them throws. O(n + b) of `other`.
    basic_weak_interner(const basic_weak_interner& other)
        : hash_(other.hash_), equal_(other.equal_) {
        for (const ref_type& r : other.values()) {
            adopt_canonical(r);
        }
    }
    /// Takes `other`'s entries; `other` is left empty and usable (its Hash and KeyEqual are
    /// copied, not moved). No other thread may use either interner meanwhile. O(1).
    basic_weak_interner(basic_weak_interner&& other) noexcept(
        std::is_nothrow_copy_constructible_v<Hash>&& std::is_nothrow_copy_constructible_v<KeyEqual>)
        : hash_(other.hash_), equal_(other.equal_), table_(std::move(other.table_)) {}
    /// Forgets its own entries (the objects live on, no longer canonical here) and takes a
    /// copy of `other`'s. Strong guarantee; throws what the copy constructor throws. No other
    /// thread may use `*this` meanwhile. O(n + b) of both.
    basic_weak_interner& operator=(const basic_weak_interner& other) {
        if (this != &other) {
            basic_weak_interner copy(other);
            swap(copy);
        }
        return *this;
    }
    /// Forgets its own entries (the objects live on) and takes `other`'s, with its Hash and
    /// KeyEqual (copied); `other` is left empty. Throws only what copying Hash or KeyEqual
    /// throws. No other thread may use either interner meanwhile. O(n + b) of `*this`.
    basic_weak_interner& operator=(basic_weak_interner&& other) noexcept(
        std::is_nothrow_copy_assignable_v<Hash>&& std::is_nothrow_copy_assignable_v<KeyEqual>) {
        if (this != &other) {
            hash_ = other.hash_;
            equal_ = other.equal_;
            table_ = std::move(other.table_);
        }
        return *this;
    }
    /// Leaves every object untouched; objects that die later touch nothing of the interner.
    /// No other thread may use the interner meanwhile. O(n + b).
    ~basic_weak_interner() = default;

    /// weakref::local:: only: the owner thread gives the container up, so that another thread
    /// may use it (the next thread to use it owns it); see weak_value_map::hand_over.
    template <class P = Policy, std::enable_if_t<!P::thread_safe, int> = 0>
    void hand_over() noexcept {
        table_.hand_over();
    }

    /// Exchanges the two interners' entries, Hash and KeyEqual. Throws only what swapping Hash
    /// or KeyEqual throws. No other thread may use either interner meanwhile. O(1).
    void swap(basic_weak_interner& other) noexcept(
        std::is_nothrow_swappable_v<Hash>&& std::is_nothrow_swappable_v<KeyEqual>) {
        using std::swap;
        swap(hash_, other.hash_);
        swap(equal_, other.equal_);
        table_.swap(other.table_);
    }
    /// `a.swap(b)`.
    friend void swap(basic_weak_interner& a, basic_weak_interner& b) noexcept(noexcept(a.swap(b))) {
        a.swap(b);
    }

    // --- Interning ---------------------------------------------------------------------------

    /// The live object equal to `value`, or a new one, make_ref<T>(value), which becomes the
    /// canonical one. In weakref::, concurrent callers with equal values all receive one
    /// object, made once, outside every lock (a caller that comes while it is made waits for
    /// it; callers with other values are not held up). Throws what Hash, KeyEqual, T's copy
    /// constructor or the allocation throw, and then changes nothing. A present value costs a
    /// lookup: no lock, one strong-count increment, one KeyEqual.
    ref_type intern(const T& value) { return intern_impl(value, value); }

    /// As intern(const T&), moving `value` into the new object if one is made. Where equal
    /// values are interned at once on several threads, each such caller may make its object
    /// before finding that another one won: the losers' objects are destroyed (outside every
    /// lock), and `value` is left moved-from whichever object is returned.
    ref_type intern(T&& value) { return intern_impl(value, std::move(value)); }

    /// Heterogeneous intern, where Hash and KeyEqual are transparent and T is constructible
    /// from Q (a std::string interner fed std::string_views): `key` is hashed and compared as
    /// it is, and a T is made from it only if no live object equals it. As with intern(T&&),
    /// racing equal callers may each make a T, of which one is kept.
    template <class Q, if_lookup_key<Q> = 0> ref_type intern(const Q& key) {
        static_assert(std::is_constructible_v<T, const Q&>,
                      "weakref: weak_interner<T>::intern(key) makes a T from the key: T must be "
                      "constructible from it");
        return intern_impl(key, key);
    }

    // --- Observation -------------------------------------------------------------------------

    ///@{
    /// Whether a live object equal to `value` (or to a heterogeneous `key`, as intern(key)
    /// takes it) is canonical here. Throws what Hash or KeyEqual throws. In weakref:: takes no
    /// lock; it holds each candidate it compares (and may so end one that its last user dropped
    /// on another thread meanwhile: that death then runs here). Expected O(1).
    bool contains(const T& value) const { return static_cast<bool>(find_live(value)); }
    template <class Q, if_lookup_key<Q> = 0> bool contains(const Q& key) const {
        return static_cast<bool>(find_live(key));
    }
    ///@}

    /// The number of canonical objects, each alive (an object dying on another thread leaves
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

    /// The canonical objects at one instant, held strongly (dropping them may run deaths).
    /// Throws std::bad_alloc. In weakref:: under the 16 shard locks. O(n + b).
    [[nodiscard]] std::vector<ref_type> values() const {
        std::vector<ref_type> out;
        if (const table* t = table_.get()) {
            t->collect(out, [](std::vector<ref_type>& o, const entry& e) {
                if (e.block()->try_add_strong()) {
                    o.emplace_back(e.object_ptr(), adopt); // no growth: collect reserved
                }
            });
        }
        return out;
    }

    /// A copy of the interner's Hash; throws what copying it throws. O(1).
    [[nodiscard]] hasher hash_function() const { return hash_; }
    /// A copy of the interner's KeyEqual; throws what copying it throws. O(1).
    [[nodiscard]] key_equal key_eq() const { return equal_; }

private:
    template <class Q> std::size_t hash_of(const Q& key) const {
        return static_cast<std::size_t>(hash_(key));
    }

    /// The live canonical object equal to `key`, or empty. No lock. In weakref::, inside the
    /// guard it only takes a strong ref to a candidate whose hash matches (try_add_strong; a
    /// dying one is skipped); KeyEqual then runs outside the guard, on an object held alive,
    /// and a candidate that is not equal is released outside it too (that release may be a
    /// death). In weakref::local:: it compares in the walk (see below).
    template <class Q> ref_type find_live(const Q& key) const {
        const table* t = table_.get();
        if (t == nullptr) {
            return ref_type();
        }
        return find_live(*t, hash_of(key), key);
    }
    template <class Q> ref_type find_live(const table& t, std::size_t h, const Q& key) const {
        if constexpr (!Policy::thread_safe) {
            // weakref::local::: no other thread can end a candidate while KeyEqual reads it,
            // and an entry in the chain has a live referent whenever user code runs (a death
            // removes it before anything else, see table_iterator::hold). So KeyEqual runs in
            // the walk, as find_locked (and weak_value_map::get) do, and only the equal object
            // is taken: no ref to take and drop per candidate, no list of unequal ones, and the
            // object's count is read while its value is compared, not before.
            return find_locked(t.shard_for(h), h, key);
        } else {
            // The common case, a first candidate that is equal (or none), pays for no list of
            // unequal candidates; a full collision of hashes goes on out of line.
            ref_type candidate = take_candidate(t, h, nullptr);
            if (!candidate || equal_(static_cast<const T&>(*candidate), key)) {
                return candidate;
            }
            return find_live_colliding(t, h, key, std::move(candidate));
        }
    }

    /// Under a read guard taken here: a strong ref to the first live object of hash `h`
    /// that `unequal` (null: none) does not hold, or empty.
    ref_type take_candidate(const table& t, std::size_t h,
                            const std::vector<ref_type>* unequal) const {
        ref_type candidate;
        typename table::read_guard reading(t);
        table::find(t.shard_for(h), h, [&](const entry& e) {
            T* object = e.object_ptr();
            if (unequal != nullptr) {
                for (const ref_type& seen : *unequal) {
                    if (seen.get() == object) {
                        return false;
                    }
                }
            }
            if (!e.block()->try_add_strong()) {
                return false; // dying: its entry leaves in a moment
            }
            candidate = ref_type(object, adopt);
            return true;
        });
        return candidate;
    }

    /// find_live after `first`, a candidate of hash `h` that is not equal to `key`.
    template <class Q>
    WEAKREF_NOINLINE ref_type find_live_colliding(const table& t, std::size_t h, const Q& key,
                                                  ref_type first) const {
        // Candidates that matched the hash but not the value: held until the end, so that
        // none of them dies and lends its address to another object before the walk is over.
        std::vector<ref_type> unequal;
        unequal.push_back(std::move(first));
        for (;;) {
            ref_type candidate = take_candidate(t, h, &unequal);
            if (!candidate || equal_(static_cast<const T&>(*candidate), key)) {
                return candidate;
            }
            unequal.push_back(std::move(candidate));
        }
    }

    /// Under the shard lock: the canonical object equal to `probe`, strongly, if it lives.
    /// Reads candidates without holding them: none in the chain has begun its death (see the
    /// class comment), and a dying one is skipped after the comparison.
    template <class Q> ref_type find_locked(const shard& s, std::size_t h, const Q& probe) const {
        ref_type out;
        table::find_held(s, h, [&](const entry& e) {
            T* object = e.object_ptr();
            if (!equal_(static_cast<const T&>(*object), probe) || !e.block()->try_add_strong()) {
                return false;
            }
            out = ref_type(object, adopt);
            return true;
        });
        return out;
    }

    /// intern: a lookup, else one creation per value among concurrent callers. `key` is what
    /// is hashed and compared; `arg` what the object is made from (`key` itself, or a T
    /// moved from).
    template <class Q, class Arg> ref_type intern_impl(const Q& key, Arg&& arg) {
        const std::size_t h = hash_of(key);
        table& t = table_.ensure();
        if (ref_type found = find_live(t, h, key)) {
            return found;
        }
        return intern_absent(t, h, key, std::forward<Arg>(arg));
    }

    /// intern_impl of a value that the lookup did not find. Out of line: inlined, its frame
    /// (the creation's lambdas, the lock, the graveyard) made every intern of a present value
    /// save and restore the registers and the stack it needs.
    template <class Q, class Arg>
    WEAKREF_NOINLINE ref_type intern_absent(table& t, std::size_t h, const Q& key, Arg&& arg) {
        // The caller's own T is compared in place and copied only once this caller is the
        // creator; anything else (a T to move from, a lookup key) is made into the object
        // first, which the others then compare with.
        constexpr bool copy_late = std::is_same_v<Arg, const T&>;
        const T* moved_into = nullptr; // the object `key` was moved into, once it was
        shard& s = t.shard_for(h);
        const auto same_as_key = [&](const T& x) {
            if constexpr (std::is_same_v<Q, T>) {
                return equal_(x, moved_into != nullptr ? *moved_into : key);
            } else {
                return equal_(x, key);
            }
        };
        return flight::get_or_create(
            s, h,
            [&]() -> std::optional<ref_type> {
                ref_type r =
                    moved_into != nullptr ? find_locked(s, h, *moved_into) : find_locked(s, h, key);
                if (r) {
                    return r;
                }
                return std::nullopt;
            },
            [&](const typename flight::node& c) {
                return same_as_key(*static_cast<const interning&>(c).probe);
            },
            [&]() -> std::unique_ptr<typename flight::node> {
                auto fresh = std::make_unique<interning>();
                if constexpr (copy_late) {
                    fresh->probe = std::addressof(arg);
                } else {
                    fresh->made = detail::make_ref<T, Policy>(std::forward<Arg>(arg));
                    fresh->probe = fresh->made.get();
                    if constexpr (std::is_same_v<Q, T>) {
                        moved_into = fresh->probe; // `key` may be the moved-from value
                    }
                }
                return fresh;
            },
            [&](typename flight::node& c) -> ref_type {
                auto& mine = static_cast<interning&>(c);
                if constexpr (copy_late) {
                    // Outside every lock; callers that come meanwhile compare with `arg`.
                    mine.made = detail::make_ref<T, Policy>(arg);
                }
                return link_canonical(t, s, h, c, std::move(mine.made));
            });
    }

    /// Makes `made` canonical: links its entry, publishes it to the waiters and returns it.
    /// An equal object whose death is running may still be in the chain: it leaves by itself.
    ref_type link_canonical(table& t, shard& s, std::size_t h, typename flight::node& c,
                            ref_type made) {
        {
            graveyard grave(t, removal_cause::erased); // a grown shard's old buckets
            typename flight::lock_type lock(s.mutex);
            // Growth and the entry's allocation may throw: then single_flight withdraws the
            // creation and wakes its waiters, and nothing was linked.
            table::reserve_one(s, grave);
            auto* fresh = new entry(&t, made.get(), h);
            table::link(s, fresh);
            c.result = made;
            flight::publish(s, c);
            flight::leave(lock, c);
        }
        return made;
    }

    /// For a copy: links a canonical object of another interner unless an equal one is here.
    void adopt_canonical(const ref_type& r) {
        const T& value = *r;
        const std::size_t h = hash_of(value);
        table& t = table_.ensure();
        shard& s = t.shard_for(h);
        ref_type existing; // dropped after the lock
        graveyard grave(t, removal_cause::erased);
        lock_guard<typename table_locks<Policy>::mutex> lock(s.mutex);
        existing = find_locked(s, h, value);
        if (existing) {
            return;
        }
        table::reserve_one(s, grave);
        table::link(s, new entry(&t, const_cast<T*>(r.get()), h));
    }

    Hash hash_;
    KeyEqual equal_;
    table_handle<table, Policy> table_;
};

} // namespace weakref::detail
