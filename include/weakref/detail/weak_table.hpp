// SPDX-License-Identifier: MIT
// weak_table: the one hash table that every weak container is built on.
#pragma once

#include "../ref.hpp"
#include "config.hpp"
#include "control_block.hpp"
#include "death_hooks.hpp"
#include "locks.hpp"
#include "policy.hpp"
#include "reclamation.hpp"
#include "teardown.hpp"

#include <climits>
#include <cstddef>
#include <cstdint>
// std::forward_iterator_tag is declared in <iterator>, which brings the stream iterators and,
// behind them, <string> and the stream buffers. <memory> needs the tags itself (its
// uninitialized algorithms dispatch on them), and libstdc++ and libc++ define them there.
// Elsewhere, <iterator>.
#include <memory>
#if !defined(__GLIBCXX__) && !defined(_LIBCPP_VERSION)
#include <iterator>
#endif
#include <new>
#include <utility>

namespace weakref {

/// Why an entry left a container, as its removal listener (on_remove) is told.
enum class removal_cause {
    died,     ///< its referent died (weak_value_map: the value; the others: the key object)
    erased,   ///< erase, erase_if, take, weak_set::pop, a compound set operator
    replaced, ///< insert_or_assign over a live value
    cleared,  ///< clear(), or an assignment over the container
};

/// Frees now the memory (and, for weak_value_map, the keys) of entries that thread-safe
/// containers removed but still keep because a lookup running on another thread could be
/// reading them; waits for such lookups to finish. Never needed for correctness: that memory
/// is freed anyway, a few removals later on the thread that removed it. For tests that count
/// memory, and programs that want it back at a point of their choosing. O(threads + entries
/// waiting).
inline void flush_retired() noexcept { detail::epoch_domain::instance().flush(); }

namespace local {
using weakref::removal_cause;
/// Nothing to do: the local flavour frees removed entries at once.
inline void flush_retired() noexcept {}
} // namespace local

} // namespace weakref

namespace weakref::detail {

/// A lock that is never taken: the local flavour's mutex.
struct null_mutex {
    void lock() noexcept {}
    bool try_lock() noexcept { return true; }
    void unlock() noexcept {}
};

/// The locks of a table, by flavour: shard mutexes for writers (readers take none in either
/// flavour), a small lock for the removal listener, and how many shards.
template <class Policy> struct table_locks {
    using mutex = detail::mutex;
    using small = tiny_lock;
    /// Writers split over 2^shard_bits independently locked shards, so that writers on
    /// different keys rarely meet.
    static constexpr unsigned shard_bits = 4;
};
template <> struct table_locks<local_policy> {
    using mutex = null_mutex;
    using small = null_mutex;
    static constexpr unsigned shard_bits = 0;
};

/// When memory that readers may still hold is freed, by flavour: after a grace period of the
/// table's epoch domain (weakref::), or at once (weakref::local::, where nothing reads
/// concurrently).
template <class Policy> struct table_reclamation {
    using domain = epoch_domain;
    using guard = epoch_domain::guard;
    static domain* current() noexcept { return &epoch_domain::instance(); }
    static void retire(domain* d, void* p, void (*free)(void*) noexcept,
                       std::size_t weight = 1) noexcept {
        d->retire(p, free, weight);
    }
    /// An entry, or a weak unit: small and retired often, so sealed with others under one
    /// epoch (see epoch_domain::retire_batched).
    static void retire_batched(domain* d, void* p, void (*free)(void*) noexcept,
                               bool (*settle)(void*) noexcept = nullptr) noexcept {
        d->retire_batched(p, free, settle);
    }
};
template <> struct table_reclamation<local_policy> {
    struct domain {};
    struct guard {
        explicit guard(domain& /*unused*/) noexcept {}
    };
    static domain* current() noexcept {
        static domain none;
        return &none;
    }
    static void retire(domain* /*unused*/, void* p, void (*free)(void*) noexcept,
                       std::size_t /*weight*/ = 1) noexcept {
        free(p);
    }
    static void retire_batched(domain* /*unused*/, void* p, void (*free)(void*) noexcept,
                               bool (*settle)(void*) noexcept = nullptr) noexcept {
        if (settle == nullptr || settle(p)) {
            free(p);
        }
    }
};

/// What every entry of a weak table holds: the death hook that removes it, its place in its
/// bucket's chain, its hash, and its referent, on whose control block it holds one weak unit
/// (so the block, and the hook list the entry sits in, outlive the entry).
///
/// The entry is the hook (a base, not a member), so the table gets from one to the other with
/// a static_cast. 24 + 8 + 8 + 8 bytes before the container's own fields.
///
/// In weakref:: lookups read entries without a lock: `chain_` and `object_` are atomics
/// published with release; `hash_` and the container's key never change. An entry leaves its
/// chain under the shard lock and is freed after a grace period (table_reclamation), so a
/// lookup that still stands on it reads valid memory.
template <class Policy> struct table_entry : death_hook<Policy> {
    table_entry(hook_sink<Policy>* sink, void* object, std::size_t hash) noexcept
        : death_hook<Policy>(sink), hash_(hash), object_(object) {
        // The caller holds a strong ref to the referent: add_weak is safe (see control_block).
        control_block<Policy>::of(object)->add_weak();
    }
    table_entry(const table_entry&) = delete;
    table_entry& operator=(const table_entry&) = delete;
    ~table_entry() {
        // relaxed: a settled entry was settled on this thread, just before its free (see
        // settle_unit); an unsettled one is read again by block(), with acquire, as before.
        const auto w = reinterpret_cast<std::uintptr_t>(object_.load(std::memory_order_relaxed));
        if ((w & settled_bit) == 0) {
            block()->release_weak();
        } else if ((w & last_unit_bit) != 0) {
            control_block<Policy>::of(reinterpret_cast<void*>(w & ~tag_bits))->deallocate();
        }
    }

    /// retired_item::settle of an entry freed through a ring: its weak unit is dropped as it
    /// leaves the ring, under the ring's lock, so that a flush() that no longer finds the entry
    /// never counts it (weak_count() is exact across threads while another thread runs the
    /// entry's free, a key's destructor included). The grace period has ended: no lookup reads
    /// `object_` any more, and it keeps the outcome for the destructor, in its low bits (the
    /// referent sits 16 bytes above an 8-aligned block): settled, and whether that was the
    /// block's last unit, which the destructor then frees, after the lock. Always true: the
    /// entry's own free must still run.
    bool settle_unit() noexcept {
        void* const object = this->object();
        // acq_rel inside drop_weak, as every weak release: the thread that frees the block
        // sees every other thread's last use of it.
        const bool last = control_block<Policy>::of(object)->drop_weak();
        // relaxed: read only by this entry's destructor, on this thread (the free that follows
        // the settle runs on the thread that took the item out of its ring).
        object_.store(reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(object) |
                                              settled_bit | (last ? last_unit_bit : 0U)),
                      std::memory_order_relaxed);
        return true;
    }

    /// The referent. acquire: pairs with retarget's release, so a lookup that sees the new
    /// referent sees its block's counts as they were when it was linked.
    [[nodiscard]] void* object() const noexcept { return object_.load(std::memory_order_acquire); }
    [[nodiscard]] control_block<Policy>* block() const noexcept {
        return control_block<Policy>::of(object());
    }
    /// acquire (a lock-free lookup's): pairs with the release that linked the next entry, whose
    /// fields are then initialised; relaxed under the shard lock (see find_held). Bit 0 is the
    /// orphan mark (see weak_table::mark_orphan), masked off.
    [[nodiscard]] table_entry*
    next_in_chain(std::memory_order order = std::memory_order_acquire) const noexcept {
        return reinterpret_cast<table_entry*>(reinterpret_cast<std::uintptr_t>(chain_.load(order)) &
                                              ~std::uintptr_t{1});
    }

    typename Policy::template cell<table_entry*> chain_{nullptr}; // next in the bucket
    const std::size_t hash_;
    typename Policy::template cell<void*> object_;

private:
    static constexpr std::uintptr_t settled_bit = 1;   // settle_unit dropped the weak unit
    static constexpr std::uintptr_t last_unit_bit = 2; // ... and it was the block's last
    static constexpr std::uintptr_t tag_bits = settled_bit | last_unit_bit;
};

/// One shard's array of bucket heads, replaced (and the old one retired) when it grows.
template <class Policy> struct alignas(alignof(void*)) bucket_array {
    using slot = typename Policy::template cell<table_entry<Policy>*>;
    std::size_t bits;

    [[nodiscard]] std::size_t count() const noexcept { return std::size_t{1} << bits; }
    slot* slots() noexcept { return std::launder(reinterpret_cast<slot*>(this + 1)); }
    const slot* slots() const noexcept {
        return std::launder(reinterpret_cast<const slot*>(this + 1));
    }

    /// 2^bits empty buckets; throws std::bad_alloc.
    static bucket_array* make(unsigned bits) {
        static_assert(alignof(slot) <= alignof(bucket_array));
        const std::size_t n = std::size_t{1} << bits;
        void* mem = ::operator new(sizeof(bucket_array) + n * sizeof(slot));
        auto* a = ::new (mem) bucket_array{static_cast<std::size_t>(bits)};
        auto* s = reinterpret_cast<slot*>(a + 1);
        for (std::size_t i = 0; i < n; ++i) {
            ::new (static_cast<void*>(s + i)) slot(nullptr);
        }
        return a;
    }
    static void free(void* p) noexcept { ::operator delete(p); }
};

/// A container's removal listener, shared by count: a removal on one thread may be calling it
/// while on_remove() replaces it on another. `Entry::notify` knows its signature.
template <class Policy> struct listener_base {
    typename Policy::template cell<std::size_t> refs{1};
    void (*destroy)(listener_base*) noexcept;
    listener_base* (*clone)(const listener_base*); // for a copy of the container; may throw

    void add_ref() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        // acq_rel: the last user destroys the callable after every other's last call.
        if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            destroy(this);
        }
    }
};

/// A removal listener that takes `Args...` (each container's signature), type-erased.
template <class Policy, class... Args> struct removal_listener : listener_base<Policy> {
    void (*call)(removal_listener*, Args...) noexcept;

    /// Copies `fn` into a new listener (one reference held by the caller).
    template <class F> static removal_listener* make(F fn) {
        struct of : removal_listener {
            explicit of(F&& f) : fn_(std::move(f)) {
                this->destroy = [](listener_base<Policy>* l) noexcept {
                    delete static_cast<of*>(l);
                };
                this->clone = [](const listener_base<Policy>* l) -> listener_base<Policy>* {
                    F copy(static_cast<const of*>(l)->fn_);
                    return new of(std::move(copy));
                };
                this->call = [](removal_listener* l, Args... args) noexcept {
                    // noexcept: a listener that throws ends the program, as a callback does.
                    static_cast<of*>(l)->fn_(std::forward<Args>(args)...);
                };
            }
            F fn_;
        };
        return new of(std::move(fn));
    }
};

/// The table behind one container: entries in 2^table_locks::shard_bits shards, each a
/// chained hash table with its own writer lock. Heap-allocated and shared with the deaths in
/// flight: the container holds one unit of `holders_`; so does each death that still needs
/// the table after its entry left (see remove_of), and each member that runs user code while
/// it still walks the table (clear, erase_if), so the table outlives all of them even when the
/// container is gone.
///
/// Readers (weakref::): a lookup takes no lock and writes nothing shared. It walks a chain
/// under an epoch guard; entries and bucket arrays taken out of the table are freed only after
/// a grace period. Insertions link at a chain's head and removals leave the removed entry's
/// link intact, so a lookup never misses an entry that stayed in the table, except while a
/// shard's buckets grow: `resizing` is odd then, and a lookup that found nothing retries if it
/// changed. A lookup that finds an entry locks its referent in one step (try_add_strong), so
/// what it returns lives.
///
/// Locks: a shard lock may be held while a hook lock (a leaf) is taken, never the reverse; two
/// shard locks are taken only by lock_all, in index order. No destructor, callback or listener
/// runs under a shard lock: what leaves the table goes to a `graveyard` declared before the
/// lock, which tells the listener, destroys and retires it after the lock is released.
template <class Entry, class Policy> class weak_table : public hook_sink<Policy> {
public:
    using entry_base = table_entry<Policy>;
    using mutex_type = typename table_locks<Policy>::mutex;
    using buckets = bucket_array<Policy>;
    using reclamation = table_reclamation<Policy>;
    using domain = typename reclamation::domain;
    using listener = listener_base<Policy>;

    static constexpr unsigned shard_bits = table_locks<Policy>::shard_bits;
    static constexpr std::size_t shard_count = std::size_t{1} << shard_bits;

    struct shard {
        using mutex_type = typename table_locks<Policy>::mutex;
        // Read by lookups: the buckets and the resize count (odd while one runs). Written only
        // when the shard grows.
        alignas(64) typename Policy::template cell<buckets*> heads{nullptr};
        typename Policy::template cell<unsigned> resizing{0};
        // Writers only, on a line of their own, so that a writer's lock does not take the
        // readers' line away from them.
        alignas(64) mutable mutex_type mutex;
        typename Policy::template cell<std::size_t> size{0}; // written under `mutex`
        std::size_t changes = 0;               // links and unlinks: the local iterators' check
        void* creating = nullptr;              // get_or_insert in flight (see single_flight.hpp)
        condition_variable* waiters = nullptr; // their condition, made on first wait
        // Set under `mutex` when an entry leaves (it will be retired): the table's release
        // then waits for the grace period, so that a destroyed container has let go of all
        // its memory (and its referents' weak units).
        typename Policy::template cell<bool> retired{false};
    };

    // The listener references held on this thread, innermost first: each graveyard's and each
    // death's call (see tell). release() waits for the others only.
    struct call_frame {
        const listener* l;
        call_frame* outer;
    };
    WEAKREF_EXPORT static inline thread_local call_frame* active_calls_ = nullptr;
    static std::size_t calls_here(const listener* l) noexcept {
        std::size_t n = 0;
        for (const call_frame* f = active_calls_; f != nullptr; f = f->outer) {
            n += f->l == l ? 1 : 0;
        }
        return n;
    }

    /// The read side of a lookup: in weakref::, an epoch guard on the table's domain.
    class read_guard {
    public:
        explicit read_guard(const weak_table& t) noexcept : guard_(*t.domain_) {}

    private:
        typename reclamation::guard guard_;
    };

    /// Entries taken out of the table under a lock (and a bucket array or weak unit let go of)
    /// are handed to a graveyard declared before the lock. When it goes out of scope, after the
    /// lock, it tells the removal listener (`cause`), destroys what the entries held and
    /// retires their memory. It touches the table only to read the listener and the domain at
    /// its construction, so a destructor it runs may destroy the container.
    class graveyard {
    public:
        graveyard(weak_table& t, removal_cause cause) noexcept
            : domain_(t.domain_), listener_(t.acquire_listener()), cause_(cause),
              holds_referents_(listener_ != nullptr && Entry::listener_sees_referent),
              frame_{listener_, active_calls_} {
            // The reference held here counts as this thread's own for release(), which a
            // destructor run below may reach: it must not wait for us. (Reading the
            // thread-local only when a listener is there makes GCC 12 at -O3 warn of a
            // dangling pointer, -Wdangling-pointer, where the frame is popped in time.)
            if (listener_ != nullptr) {
                active_calls_ = &frame_;
            }
        }
        graveyard(const graveyard&) = delete;
        graveyard& operator=(const graveyard&) = delete;
        ~graveyard() {
            while (first_ != nullptr) {
                Entry* e = std::exchange(first_, next_of(first_));
                if (listener_ != nullptr) {
                    Entry::notify(listener_, *e, cause_);
                }
                Entry::drop_payload(*e); // a weak_key_map's value: destroyed now
                if (holds_referents_) {
                    e->block()->release_strong(); // taken by detach; may end the referent now
                }
                reclamation::retire_batched(domain_, e, &Entry::free, entry_settle());
            }
            if (units_ != nullptr) {
                unit_release::release(domain_, units_);
            }
            if (array_ != nullptr) {
                // An outgrown bucket array: large, and a growing table retires little else.
                reclamation::retire(domain_, array_, &buckets::free, epoch_domain::batch);
            }
            if (listener_ != nullptr) {
                active_calls_ = frame_.outer;
                listener_->release();
            }
        }
        /// Whether the entries buried here come with a strong ref to their referent (taken
        /// under the hook lock by detach), released after the listener: the listener sees a
        /// live object.
        [[nodiscard]] bool holds_referents() const noexcept { return holds_referents_; }
        void bury(Entry* e) noexcept {
            // The hook is detached: its next_ word is free to chain the dead.
            e->next_ = reinterpret_cast<std::uintptr_t>(first_);
            first_ = e;
        }
        /// The weak unit an entry held on a referent it let go of (retarget): readers may
        /// still be looking at that block, so it is released after a grace period.
        void release_unit_later(control_block<Policy>* block) noexcept {
            WEAKREF_ASSERT(units_ == nullptr, "one deferred weak release per graveyard");
            units_ = block;
        }
        void retire_array(buckets* a) noexcept {
            WEAKREF_ASSERT(array_ == nullptr, "one retired bucket array per graveyard");
            array_ = a;
        }
        /// The listener (with one reference held), for a `replaced` notice the caller gives
        /// itself after the lock (directly: the graveyard's frame covers it, see tell).
        [[nodiscard]] listener* listening() const noexcept { return listener_; }

    private:
        static Entry* next_of(Entry* e) noexcept { return reinterpret_cast<Entry*>(e->next_); }

        domain* domain_;
        listener* listener_;
        removal_cause cause_;
        bool holds_referents_;
        call_frame frame_;
        Entry* first_ = nullptr;
        control_block<Policy>* units_ = nullptr;
        buckets* array_ = nullptr;
    };

    weak_table() noexcept
        : hook_sink<Policy>{&remove_of, &finish_of}, domain_(reclamation::current()) {}
    weak_table(const weak_table&) = delete;
    weak_table& operator=(const weak_table&) = delete;
    ~weak_table() {
        for (shard& s : shards_) {
            WEAKREF_ASSERT(s.size.load(std::memory_order_relaxed) == 0,
                           "a weak table freed with entries");
            buckets::free(s.heads.load(std::memory_order_relaxed));
            delete s.waiters;
        }
        if (listener* l = listener_.load(std::memory_order_relaxed)) {
            l->release();
        }
    }

    // --- Hashing ---------------------------------------------------------------------------

    /// Spreads a user hash over all bits (std::hash<int> is the identity): multiplication by
    /// 2^64 / phi, then the shard from the top bits and the bucket from the bits below them.
    static std::size_t mix(std::size_t h) noexcept {
        return static_cast<std::size_t>(static_cast<std::uint64_t>(h) * 0x9E3779B97F4A7C15ULL);
    }
    static constexpr unsigned size_bits = sizeof(std::size_t) * CHAR_BIT;

    shard& shard_for(std::size_t h) noexcept {
        if constexpr (shard_bits == 0) {
            return shards_[0];
        } else {
            return shards_[mix(h) >> (size_bits - shard_bits)];
        }
    }
    const shard& shard_for(std::size_t h) const noexcept {
        return const_cast<weak_table*>(this)->shard_for(h);
    }
    static std::size_t bucket_of(std::size_t h, std::size_t bits) noexcept {
        return (mix(h) << shard_bits) >> (size_bits - bits);
    }

    // --- Lookups: under a read_guard, or under the shard lock ------------------------------

    /// The entry of `s` with hash `h` that `match` accepts, dead or alive; null if none. Runs
    /// `match` (the container's key equality) with no lock held.
    template <class Match> static Entry* find(const shard& s, std::size_t h, Match&& match) {
        if constexpr (!Policy::thread_safe) {
            return find_held(s, h, match); // nothing moves under a local lookup
        }
        for (unsigned spins = 0, tries = 0;; ++tries) {
            if (tries == 8) {
                // Resizes (or a chain that grew past the walk's bound) kept sending this walk
                // astray: look under the shard's lock, where nothing moves.
                lock_guard<mutex_type> lock(s.mutex);
                return find_held(s, h, match);
            }
            // acquire: a resize that started is seen before any entry it moved.
            const unsigned seq = s.resizing.load(std::memory_order_acquire);
            bool astray = false;
            if (Entry* e = walk(s, h, match, astray)) {
                return e;
            }
            // A miss is true unless a resize ran meanwhile or the walk gave up (the loads in
            // walk are acquires, so this one cannot move before them).
            if (!astray && (seq & 1U) == 0 && s.resizing.load(std::memory_order_acquire) == seq) {
                return nullptr;
            }
            Policy::pause(spins);
        }
    }

    /// find, for a caller that holds `s`'s lock (and, in weakref::local::, for every caller):
    /// no chain changes and no resize runs meanwhile, so one walk answers, with no bound to
    /// keep and no resize count to check. The writers' lookup.
    template <class Match> static Entry* find_held(const shard& s, std::size_t h, Match&& match) {
        // relaxed: every link, unlink and resize of `s` was made under the lock we hold (or on
        // this thread), so it happens before these loads.
        const buckets* a = s.heads.load(std::memory_order_relaxed);
        if (a == nullptr) {
            return nullptr;
        }
        for (entry_base* e = a->slots()[bucket_of(h, a->bits)].load(std::memory_order_relaxed);
             e != nullptr; e = e->next_in_chain(std::memory_order_relaxed)) {
            if (e->hash_ == h && match(*static_cast<Entry*>(e))) {
                return static_cast<Entry*>(e);
            }
        }
        return nullptr;
    }

    /// One walk of the chain of `h` in `s`'s current buckets. Sets `astray` (and returns
    /// null) if the walk outgrew the bucket count, which only a concurrent resize or a burst of
    /// insertions into the chain ahead of it can cause: the caller looks again.
    template <class Match>
    static Entry* walk(const shard& s, std::size_t h, Match& match, bool& astray) {
        const buckets* a = s.heads.load(std::memory_order_acquire);
        if (a == nullptr) {
            return nullptr;
        }
        const std::size_t bound = a->count() + 64;
        std::size_t steps = 0;
        for (entry_base* e = a->slots()[bucket_of(h, a->bits)].load(std::memory_order_acquire);
             e != nullptr; e = e->next_in_chain()) {
            if (++steps > bound) {
                astray = true;
                return nullptr;
            }
            if (e->hash_ == h && match(*static_cast<Entry*>(e))) {
                return static_cast<Entry*>(e);
            }
        }
        return nullptr;
    }

    /// The entry's referent, strongly, if it lives; empty otherwise. One step: no check and
    /// then act (hazard 2).
    template <class T> static basic_ref<T, Policy> lock_referent(const entry_base& e) noexcept {
        void* object = e.object();
        if (control_block<Policy>::of(object)->try_add_strong()) {
            return basic_ref<T, Policy>(static_cast<T*>(object), adopt);
        }
        return basic_ref<T, Policy>();
    }

    // --- Writers, under the shard lock -------------------------------------------------------

    /// Makes room for one more entry in `s`; throws std::bad_alloc and changes nothing if the
    /// buckets cannot grow. A grown shard's old array goes to `grave`. Load factor at most 1.
    static void reserve_one(shard& s, graveyard& grave) {
        buckets* old = s.heads.load(std::memory_order_relaxed);
        const std::size_t size = s.size.load(std::memory_order_relaxed);
        if (old != nullptr && size < old->count()) {
            return;
        }
        buckets* fresh = buckets::make(old == nullptr ? 3U : static_cast<unsigned>(old->bits + 1));
        if (old == nullptr) {
            // release: a lookup that sees the array sees it initialised.
            s.heads.store(fresh, std::memory_order_release);
            return;
        }
        // Entries move to new chains: lookups may miss meanwhile, and retry on the odd count.
        const unsigned seq = s.resizing.load(std::memory_order_relaxed);
        s.resizing.store(seq + 1, std::memory_order_relaxed);
        for (std::size_t b = 0; b < old->count(); ++b) {
            for (entry_base* e = old->slots()[b].load(std::memory_order_relaxed); e != nullptr;) {
                entry_base* next = e->chain_.load(std::memory_order_relaxed);
                auto& head = fresh->slots()[bucket_of(e->hash_, fresh->bits)];
                // release: a lookup that follows this link sees the odd count first (and so
                // retries if it misses).
                e->chain_.store(head.load(std::memory_order_relaxed), std::memory_order_release);
                head.store(e, std::memory_order_relaxed);
                e = next;
            }
        }
        s.heads.store(fresh, std::memory_order_release);
        s.resizing.store(seq + 2, std::memory_order_release);
        grave.retire_array(old);
    }

    /// Puts a new entry into `s` (after reserve_one) and arms its death hook. The caller holds
    /// a strong ref to the referent.
    static void link(shard& s, entry_base* e) noexcept {
        e->block()->link(e);
        auto& head =
            s.heads.load(std::memory_order_relaxed)
                ->slots()[bucket_of(e->hash_, s.heads.load(std::memory_order_relaxed)->bits)];
        e->chain_.store(head.load(std::memory_order_relaxed), std::memory_order_relaxed);
        // release: a lookup that finds the entry sees it initialised.
        head.store(e, std::memory_order_release);
        s.size.store(s.size.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        ++s.changes;
        ++linked_here_;
    }

    /// Takes `e` out of `s`'s chains and disarms it: detached, it goes to `grave`; if its death
    /// is already running on another thread, that thread frees it (see remove_of), and the
    /// table keeps one holder unit for it. Returns whether the hook was detached, i.e. whether
    /// the referent was alive (or at least not yet dying) at this instant.
    bool remove(shard& s, entry_base* e, graveyard& grave) noexcept {
        unchain(s, e);
        return retire(e, grave);
    }

    /// The referent change of a retarget, under the shard lock: `e` leaves its referent's
    /// hook list and joins `object`'s, with a weak unit on it. Returns the old referent's
    /// block, whose weak unit the caller still holds, or null (and nothing changed) if that
    /// referent is dead or dying.
    static control_block<Policy>* swap_referent(shard& s, entry_base* e, void* object) noexcept {
        control_block<Policy>* const old_block = e->block();
        if (old_block->detach(e) != detach_result::detached) {
            return nullptr;
        }
        control_block<Policy>* const fresh = control_block<Policy>::of(object);
        fresh->add_weak();
        // release: a lookup that reads the new referent sees its weak unit taken.
        e->object_.store(object, std::memory_order_release);
        fresh->link(e);
        ++s.changes;
        return old_block;
    }
    /// Points entry `e` of `s` at `object` (alive: the caller holds a strong ref) in place of
    /// its referent: same key, same place in its chain, no allocation. The entry's hook moves
    /// from the old referent's list to the new one's; the old referent's weak unit is released
    /// after a grace period, by `grave`. False, and nothing changed, if the old referent's
    /// death already took the hook on another thread: then the caller replaces the entry, and
    /// that death frees the old one.
    static bool retarget(shard& s, entry_base* e, void* object, graveyard& grave) noexcept {
        control_block<Policy>* const old_block = swap_referent(s, e, object);
        if (old_block == nullptr) {
            return false; // dead or dying: the caller replaces the entry, the death reports it
        }
        grave.release_unit_later(old_block);
        return true;
    }
    /// The weak unit of a referent an entry let go of (swap_referent), for a writer that tells
    /// nobody (no listener installed, nothing kept for later) and so needs no graveyard.
    /// Declared before the shard lock, it releases the unit after it: in weakref:: after a
    /// grace period (a lookup may still be reading that block), as a graveyard's
    /// release_unit_later does; in weakref::local:: at once (no lookup runs meanwhile; nor is
    /// that the block's last unit: its referent lives, so its strong refs hold one).
    class unit_release {
    public:
        explicit unit_release(const weak_table& t) noexcept : domain_(t.domain_) {}
        unit_release(const unit_release&) = delete;
        unit_release& operator=(const unit_release&) = delete;
        ~unit_release() {
            if (Policy::thread_safe && block_ != nullptr) {
                release(domain_, block_);
            }
        }
        void hold(control_block<Policy>* block) noexcept {
            if constexpr (!Policy::thread_safe) {
                // Not the last unit (see above): frees nothing. (The same as release(), which
                // local reclamation runs at once, but 4 instructions fewer an assignment.)
                block->release_weak();
            } else {
                WEAKREF_ASSERT(block_ == nullptr, "one deferred weak release per unit_release");
                block_ = block;
            }
        }
        /// Releases `block`'s unit after a grace period (at once in weakref::local::).
        static void release(domain* d, control_block<Policy>* block) noexcept {
            reclamation::retire_batched(d, block, &deallocate_block, &drop_unit);
        }

    private:
        // In two (see retired_item::settle): the count is dropped as the unit leaves its ring,
        // so that weak_count() never counts it after a flush; the block, if that was its last
        // unit, is freed after the ring's lock.
        static bool drop_unit(void* block) noexcept {
            return static_cast<control_block<Policy>*>(block)->drop_weak();
        }
        static void deallocate_block(void* block) noexcept {
            static_cast<control_block<Policy>*>(block)->deallocate();
        }

        domain* domain_;
        control_block<Policy>* block_ = nullptr;
    };
    /// retarget for a writer with no graveyard: the old referent's weak unit goes to `later`.
    static bool retarget(shard& s, entry_base* e, void* object, unit_release& later) noexcept {
        control_block<Policy>* const old_block = swap_referent(s, e, object);
        if (old_block == nullptr) {
            return false;
        }
        later.hold(old_block);
        return true;
    }
    /// Whether a removal listener is installed now. In weakref:: it may be installed or
    /// removed at any moment after: a writer that finds none tells nobody, as if it had run
    /// before the installation (a graveyard reads it once, the same way).
    [[nodiscard]] bool listening() const noexcept {
        // acquire: acquire_listener then calls through what it read (set_listener's release).
        return listener_.load(std::memory_order_acquire) != nullptr;
    }
    /// Whether `s` has room for one more entry without growing (reserve_one would do nothing).
    [[nodiscard]] static bool has_room(const shard& s) noexcept {
        const buckets* a = s.heads.load(std::memory_order_relaxed);
        return a != nullptr && s.size.load(std::memory_order_relaxed) < a->count();
    }

    /// remove() for every entry of `s`.
    void remove_all(shard& s, graveyard& grave) noexcept {
        buckets* a = s.heads.load(std::memory_order_relaxed);
        if (a == nullptr) {
            return;
        }
        for (std::size_t b = 0; b < a->count(); ++b) {
            // release: a lookup that reads the empty bucket sees nothing of what was there.
            entry_base* e = a->slots()[b].exchange(nullptr, std::memory_order_acq_rel);
            s.retired.store(e != nullptr || s.retired.load(std::memory_order_relaxed),
                            std::memory_order_relaxed);
            while (e != nullptr) {
                entry_base* next = e->chain_.load(std::memory_order_relaxed);
                retire(e, grave); // e's own link stays intact for a lookup standing on it
                e = next;
            }
        }
        s.size.store(0, std::memory_order_relaxed);
        ++s.changes;
    }

    /// Calls f(entry) for every entry of `s`, dead or alive. Under the shard lock.
    template <class F> static void for_each(const shard& s, F&& f) {
        const buckets* a = s.heads.load(std::memory_order_relaxed);
        if (a == nullptr) {
            return;
        }
        for (std::size_t b = 0; b < a->count(); ++b) {
            for (entry_base* e = a->slots()[b].load(std::memory_order_relaxed); e != nullptr;
                 e = e->chain_.load(std::memory_order_relaxed)) {
                f(*static_cast<Entry*>(e));
            }
        }
    }

    // --- The whole table ---------------------------------------------------------------------

    /// Every shard lock, in index order, released in reverse.
    class lock_all {
    public:
        explicit lock_all(const weak_table& t) : table_(t) {
            for (const shard& s : table_.shards_) {
                s.mutex.lock();
            }
        }
        lock_all(const lock_all&) = delete;
        lock_all& operator=(const lock_all&) = delete;
        ~lock_all() {
            for (std::size_t i = shard_count; i-- > 0;) {
                table_.shards_[i].mutex.unlock();
            }
        }

    private:
        const weak_table& table_;
    };

    shard* begin() noexcept { return shards_; }
    shard* end() noexcept { return shards_ + shard_count; }
    const shard* begin() const noexcept { return shards_; }
    const shard* end() const noexcept { return shards_ + shard_count; }

    /// Entries in the table (under lock_all, at one instant; otherwise a sum over shards).
    [[nodiscard]] std::size_t size() const noexcept {
        std::size_t n = 0;
        for (const shard& s : shards_) {
            n += s.size.load(std::memory_order_relaxed);
        }
        return n;
    }

    /// Holds the table for a member that runs user code while it still walks the table
    /// (clear, erase_if): a destructor it runs may destroy the container, and the table with
    /// it would be freed under the member's feet.
    class pin {
    public:
        explicit pin(weak_table& t) noexcept : table_(t) {
            t.holders_.fetch_add(1, std::memory_order_relaxed);
        }
        pin(const pin&) = delete;
        pin& operator=(const pin&) = delete;
        ~pin() { table_.release_holder(); }

    private:
        weak_table& table_;
    };

    /// Empties the table, shard by shard; each shard's entries go after its lock. Repeats the
    /// pass while the destructors it ran put entries back (a weak_key_map value may), but not
    /// for entries other threads insert meanwhile: those may stay, and clear() cannot be kept
    /// from returning by a busy inserter.
    void clear(removal_cause cause) noexcept {
        pin held(*this);
        std::size_t before = 0;
        do {
            before = linked_here_;
            for (shard& s : shards_) {
                graveyard grave(*this, cause);
                lock_guard<mutex_type> lock(s.mutex);
                remove_all(s, grave);
            }
        } while (linked_here_ != before && size() != 0);
    }

    /// The container lets go of the table: empties it, and frees it unless deaths in flight
    /// still hold it (the last of them frees it then). No other thread uses the container now.
    /// Destroying a container tells no listener: the listener goes first.
    void release() noexcept {
        // The listener goes first, and calls of it still running on other threads (a death
        // there) are waited for: they may use the container, which is about to go.
        listener* l = nullptr;
        {
            lock_guard<typename table_locks<Policy>::small> lock(listener_lock_);
            l = listener_.exchange(nullptr, std::memory_order_acq_rel);
        }
        if (l != nullptr) {
            const std::size_t mine = calls_here(l);
            // acquire: pairs with each call's release of its reference (see listener_base).
            for (unsigned spins = 0; l->refs.load(std::memory_order_acquire) > 1 + mine;) {
                Policy::pause(spins);
            }
            l->release();
        }
        do {
            clear(removal_cause::cleared);
        } while (size() != 0);
        if constexpr (Policy::thread_safe) {
            bool retired = false;
            for (shard& s : shards_) {
                retired = retired || s.retired.load(std::memory_order_relaxed);
            }
            if (retired) {
                // What this container removed is freed before its destructor returns (unless
                // called inside a lookup): an allocator's state, a key's destructor, a
                // referent's memory need not outlive the container.
                domain_->flush();
            }
        }
        release_holder();
    }

    /// The one snapshot path: fills `out` under lock_all with at most one element per entry
    /// (`fill(out, entry)`), having reserved room for every entry first, so that nothing of
    /// the user's is moved or destroyed under the lock by the vector's growth (hazard 20).
    /// `out` must be empty and declared before the call (what it holds is destroyed after).
    template <class Vector, class Fill> void collect(Vector& out, Fill&& fill) const {
        for (;;) {
            const std::size_t room = size(); // a hint: the check below is under the locks
            out.reserve(room + room / 8 + 8);
            lock_all lock(*this);
            if (size() > out.capacity()) {
                continue; // grew meanwhile: reserve more, outside the locks
            }
            for (const shard& s : shards_) {
                for_each(s, [&](const Entry& e) { fill(out, e); });
            }
            return;
        }
    }

    // --- The removal listener ------------------------------------------------------------------

    /// Installs `l` (taking its reference), or none; the old one is released after the lock.
    void set_listener(listener* l) noexcept {
        listener* old = nullptr;
        {
            lock_guard<typename table_locks<Policy>::small> lock(listener_lock_);
            old = listener_.exchange(l, std::memory_order_acq_rel);
        }
        if (old != nullptr) {
            old->release();
        }
    }
    /// Calls `notify()` of listener `l` (one reference held by the caller), recording the call
    /// on this thread for release(), which waits for calls on other threads only.
    template <class Notify> static void tell(listener* l, Notify&& notify) noexcept {
        call_frame frame{l, active_calls_};
        active_calls_ = &frame;
        notify();
        active_calls_ = frame.outer;
    }

    /// A copy of `from`'s listener, or null (for a copy of the container); may throw.
    static listener* clone_listener(const weak_table* from) {
        listener* l = from != nullptr ? const_cast<weak_table*>(from)->acquire_listener() : nullptr;
        if (l == nullptr) {
            return nullptr;
        }
        listener* copy = nullptr;
        WEAKREF_TRY { copy = l->clone(l); }
        WEAKREF_CATCH_ALL {
            l->release();
            WEAKREF_RETHROW;
        }
        l->release();
        return copy;
    }
    /// The listener with a reference held for the caller, or null (one load when none).
    [[nodiscard]] listener* acquire_listener() noexcept {
        // acquire (listening): pairs with set_listener, so the callable is seen constructed.
        if (!listening()) {
            return nullptr;
        }
        lock_guard<typename table_locks<Policy>::small> lock(listener_lock_);
        listener* l = listener_.load(std::memory_order_relaxed);
        if (l != nullptr) {
            l->add_ref();
        }
        return l;
    }

    /// weakref::local:: in debug builds: stops the program unless the calling thread owns
    /// the container (taking it if nobody does); see thread_owner. Nothing in weakref::.
    void use_here() const noexcept { owner_.use(Entry::container_name); }
    /// As use_here(), but leaves an unowned container unowned; `action` names what the caller
    /// does ("destroyed").
    void check_here(const char* action) const noexcept {
        owner_.check(Entry::container_name, action);
    }
    /// The owner gives the container up: the next thread to use it owns it.
    void hand_over() noexcept { owner_.release(Entry::container_name); }

private:
    // Entries this thread has linked into tables of this type, for clear() to tell the
    // entries its own destructors put back from those other threads insert.
    static inline thread_local std::size_t linked_here_ = 0;

    // An orphan is an entry the container took out of the table while its referent's death
    // was running or about to run on another thread (see retire): that death frees it. The
    // mark is bit 0 of the entry's chain link, which keeps pointing at the next entry for a
    // lookup still standing on it (lookups mask the bit); the death reads it under the shard
    // lock. (Not the hook's link word: the death's take_all overwrites that.)
    static void mark_orphan(entry_base* e) noexcept {
        const auto next =
            reinterpret_cast<std::uintptr_t>(e->chain_.load(std::memory_order_relaxed));
        e->chain_.store(reinterpret_cast<entry_base*>(next | 1U), std::memory_order_relaxed);
    }
    static bool is_orphan(const entry_base* e) noexcept {
        return (reinterpret_cast<std::uintptr_t>(e->chain_.load(std::memory_order_relaxed)) & 1U) !=
               0;
    }
    // The domain parked in a dead entry's hook link word for pass 2 (bit 0 set, so that the
    // word never reads as linked).
    static void park_domain(entry_base* e, domain* d) noexcept {
        e->link_ = reinterpret_cast<std::uintptr_t>(d) | 1U;
    }
    static domain* parked_domain(const entry_base* e) noexcept {
        return reinterpret_cast<domain*>(e->link_ & ~std::uintptr_t{1});
    }

    static void unchain(shard& s, entry_base* e) noexcept {
        s.retired.store(true, std::memory_order_relaxed);
        buckets* a = s.heads.load(std::memory_order_relaxed);
        auto* at = &a->slots()[bucket_of(e->hash_, a->bits)];
        while (at->load(std::memory_order_relaxed) != e) {
            WEAKREF_ASSERT(at->load(std::memory_order_relaxed) != nullptr,
                           "a weak table entry missing from its chain");
            at = &at->load(std::memory_order_relaxed)->chain_;
        }
        // release: a lookup that reads the new link sees the rest of the chain. e's own link
        // stays: a lookup standing on e walks on.
        at->store(e->chain_.load(std::memory_order_relaxed), std::memory_order_release);
        s.size.store(s.size.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        ++s.changes;
    }

    bool retire(entry_base* e, graveyard& grave) noexcept {
        switch (e->block()->detach(e, grave.holds_referents())) {
        case detach_result::detached:
            grave.bury(static_cast<Entry*>(e));
            return true;
        case detach_result::dying: // its death takes the hook in a moment: as running
        case detach_result::running:
            // The death thread took the hook before we took the entry: it is waiting for this
            // shard's lock in remove_of, and will find the mark and free the entry. It needs
            // the table until then.
            mark_orphan(e);
            holders_.fetch_add(1, std::memory_order_relaxed);
            return false;
        case detach_result::idle:
            break;
        }
        WEAKREF_ASSERT(false, "a weak table entry whose hook was neither armed nor running");
        return false;
    }

    void release_holder() noexcept {
        // acq_rel: the last holder frees the table after every other holder's last use of it.
        if (holders_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            delete this;
        }
    }

    // --- A referent's death (see hook_sink) ----------------------------------------------------

    /// Pass 1, on the thread that released the last strong ref, before any user code of the
    /// death: the entry leaves its shard. From then on the container no longer knows the entry
    /// and may be destroyed. So, unless pass 2 must still tell the listener (then the death
    /// holds the table), the hook is re-pointed at `dead_entry`, a sink that outlives every
    /// table, with the table's domain in its link word. An orphan (taken out by the container
    /// while its death was already running, see retire) already holds the table.
    static bool remove_of(hook_sink<Policy>* sink, death_hook<Policy>* hook) noexcept {
        auto* table = static_cast<weak_table*>(sink);
        auto* e = static_cast<entry_base*>(hook);
        table->check_here("changed by the death of a referent");
        shard& s = table->shard_for(e->hash_);
        lock_guard<mutex_type> lock(s.mutex);
        if (is_orphan(e)) {
            return true;
        }
        unchain(s, e);
        if (table->listener_.load(std::memory_order_acquire) != nullptr) {
            table->holders_.fetch_add(1, std::memory_order_relaxed);
        } else {
            park_domain(e, table->domain_);
            e->sink_ = &dead_entry;
        }
        return true;
    }

    /// Pass 2: the listener is told (now: callbacks run at the moment of death), then what
    /// the entry held is destroyed and its memory retired; that destruction is put off with
    /// the death's others where the stack is nearly used up (see control_block::die).
    static void finish_of(hook_sink<Policy>* sink, death_hook<Policy>* hook,
                          bool put_off) noexcept {
        auto* e = static_cast<Entry*>(static_cast<entry_base*>(hook));
        if (sink != &dead_entry) {
            auto* table = static_cast<weak_table*>(sink);
            if (listener* l = table->acquire_listener()) {
                tell(l, [&] { Entry::notify(l, *e, removal_cause::died); });
                l->release();
            }
            park_domain(e, table->domain_);
            table->release_holder(); // may free the table: not used after this
        }
        if (WEAKREF_UNLIKELY(put_off)) {
            teardown::defer(e, &free_dead_entry);
        } else {
            free_dead_entry(e);
        }
    }
    static void free_dead_entry(void* p) noexcept {
        auto* e = static_cast<Entry*>(p);
        domain* d = parked_domain(e);
        Entry::drop_payload(*e);
        reclamation::retire_batched(d, e, &Entry::free, entry_settle());
    }
    /// The settle of a retired entry (see table_entry::settle_unit): in weakref::, for the
    /// containers whose entries nobody holds past their grace period. A weak_key_map entry can
    /// outlive it (an update or visit running on it holds a pin and reads its key), so it keeps
    /// its unit until its memory goes.
    static constexpr bool (*entry_settle() noexcept)(void*) noexcept {
        if constexpr (Policy::thread_safe && Entry::settles_at_grace) {
            return &settle_entry;
        } else {
            return nullptr;
        }
    }
    static bool settle_entry(void* p) noexcept {
        return static_cast<entry_base*>(static_cast<Entry*>(p))->settle_unit();
    }
    static bool never_removes(hook_sink<Policy>* /*sink*/, death_hook<Policy>* /*hook*/) noexcept {
        return true;
    }
    static inline hook_sink<Policy> dead_entry{&never_removes, &finish_of};

    shard shards_[shard_count];
    domain* const domain_; // the one every lookup and retirement of this table uses
    alignas(64) typename Policy::template cell<listener*> listener_{nullptr};
    typename table_locks<Policy>::small listener_lock_;
    // The container's unit, plus one per orphaned entry or death that still needs the table.
    typename Policy::template cell<std::size_t> holders_{1};
    // weakref::local:: only: the thread that owns the container (in this line's padding).
    typename Policy::thread_owner owner_;
};

/// A position in a weakref::local:: table, for the containers' begin() and end(): walks the
/// buckets in order. Changing the table (an insertion, an erase, a death) invalidates it, as
/// with std::unordered_map; debug builds stop the program at the next use of a cursor whose
/// table changed, instead of letting it read freed memory.
template <class Table> class table_cursor {
public:
    using entry_base = typename Table::entry_base;

    table_cursor() noexcept = default;
    explicit table_cursor(const Table* t) noexcept : table_(t) {
        if (table_ != nullptr) {
            changes_ = shard().changes;
            settle(0);
        }
    }

    [[nodiscard]] const entry_base* entry() const noexcept {
        check();
        return entry_;
    }
    [[nodiscard]] const entry_base* entry_or_null() const noexcept { return entry_; }

    /// Accepts the table's changes since the last check if the entry this cursor stands on is
    /// still in it (see table_iterator::operator++); stops the program in debug builds if it
    /// is not: its memory is gone.
    void resync() noexcept {
        if (table_ == nullptr || shard().changes == changes_) {
            return;
        }
        WEAKREF_ASSERT(entry_ == nullptr || still_linked(),
                       "the entry a weak container's iterator stands on was erased by a "
                       "callback the iterator's step ran: iterate over items() or keys() to "
                       "change the container in the loop");
        changes_ = shard().changes;
    }
    void next() noexcept {
        check();
        if (const entry_base* n = entry_->chain_.load(std::memory_order_relaxed)) {
            entry_ = n;
        } else {
            settle(bucket_ + 1);
        }
    }
    friend bool operator==(const table_cursor& a, const table_cursor& b) noexcept {
        return a.entry_ == b.entry_;
    }
    friend bool operator!=(const table_cursor& a, const table_cursor& b) noexcept {
        return a.entry_ != b.entry_;
    }

private:
    static_assert(Table::shard_count == 1, "weakref: begin() and end() are for weakref::local::");

    const typename Table::shard& shard() const noexcept { return *table_->begin(); }
    const typename Table::buckets* heads() const noexcept {
        return shard().heads.load(std::memory_order_relaxed);
    }

    void check() const noexcept {
        if (table_ != nullptr) {
            table_->use_here();
        }
        WEAKREF_ASSERT(table_ != nullptr && shard().changes == changes_,
                       "a weak container changed while an iterator was in use: iterate over "
                       "items() or keys() to change it in the loop");
    }

    [[nodiscard]] bool still_linked() const noexcept {
        const auto* a = heads();
        if (a == nullptr || bucket_ >= a->count()) {
            return false;
        }
        for (const entry_base* e = a->slots()[bucket_].load(std::memory_order_relaxed);
             e != nullptr; e = e->chain_.load(std::memory_order_relaxed)) {
            if (e == entry_) {
                return true;
            }
        }
        return false;
    }

    void settle(std::size_t bucket) noexcept {
        const auto* a = heads();
        const std::size_t count = a == nullptr ? 0 : a->count();
        for (; bucket < count; ++bucket) {
            if (const entry_base* e = a->slots()[bucket].load(std::memory_order_relaxed)) {
                bucket_ = bucket;
                entry_ = e;
                return;
            }
        }
        entry_ = nullptr;
    }

    const Table* table_ = nullptr;
    const entry_base* entry_ = nullptr;
    std::size_t bucket_ = 0;
    std::size_t changes_ = 0;
};

/// The iterator of a weakref::local:: container: a table_cursor, and a strong ref to the
/// referent of the entry it is on, so that the loop body can drop every other ref to it.
/// `Project(entry, ref)` makes what `*it` gives.
template <class Table, class Entry, class Ref, class Project> class table_iterator {
public:
    using iterator_category = std::forward_iterator_tag;
    using reference = decltype(Project()(std::declval<const Entry&>(), std::declval<const Ref&>()));
    using value_type = reference;
    using difference_type = std::ptrdiff_t;
    using pointer = void;

    table_iterator() noexcept = default;
    explicit table_iterator(const Table* t) noexcept : cursor_(t) { hold(); }

    reference operator*() const noexcept {
        return Project()(static_cast<const Entry&>(*cursor_.entry()), current_);
    }
    table_iterator& operator++() noexcept {
        cursor_.next();
        Ref previous = std::move(current_);
        hold();
        // Dropping the previous referent may end it and remove its entry: that change is this
        // iterator's own, and leaves the entry it now holds in place, unless a callback of
        // that death erased it (resync stops the program then, in debug builds).
        previous.reset();
        cursor_.resync();
        return *this;
    }
    table_iterator operator++(int) noexcept {
        table_iterator old = *this;
        ++*this;
        return old;
    }
    friend bool operator==(const table_iterator& a, const table_iterator& b) noexcept {
        return a.cursor_ == b.cursor_;
    }
    friend bool operator!=(const table_iterator& a, const table_iterator& b) noexcept {
        return a.cursor_ != b.cursor_;
    }

private:
    void hold() noexcept {
        // In weakref::local:: an entry in the table has a live referent: container hooks run
        // first at a death, before anything else can observe the table.
        const auto* e = cursor_.entry_or_null();
        if (e != nullptr) {
            current_ = Table::template lock_referent<typename Ref::element_type>(*e);
        }
    }

    table_cursor<Table> cursor_;
    Ref current_;
};

/// The container's handle on its table: created on first use (so default construction and
/// moves allocate nothing and cannot throw), given up on destruction.
template <class Table, class Policy> class table_handle {
public:
    table_handle() noexcept = default;
    table_handle(const table_handle&) = delete;
    table_handle& operator=(const table_handle&) = delete;
    table_handle(table_handle&& other) noexcept : table_(other.take()) {}
    table_handle& operator=(table_handle&& other) noexcept {
        if (this != &other) {
            check("assigned to");
            Table* mine = table_.exchange(other.take(), std::memory_order_acq_rel);
            if (mine != nullptr) {
                mine->release();
            }
        }
        return *this;
    }
    ~table_handle() {
        if (Table* t = table_.load(std::memory_order_acquire)) {
            t->check_here("destroyed");
            t->release();
        }
    }

    void swap(table_handle& other) noexcept {
        check("swapped");
        other.check("swapped");
        Table* a = table_.load(std::memory_order_acquire);
        Table* b = other.table_.load(std::memory_order_acquire);
        table_.store(b, std::memory_order_release);
        other.table_.store(a, std::memory_order_release);
    }

    /// The table, or null before the first insertion. weakref::local:: in debug builds: stops
    /// the program unless the calling thread owns the container (see thread_owner).
    [[nodiscard]] Table* get() const noexcept {
        // acquire: pairs with the release of the thread that created it.
        Table* t = table_.load(std::memory_order_acquire);
        if (t != nullptr) {
            t->use_here();
        }
        return t;
    }

    /// The table, created if needed (then owned by the calling thread); throws std::bad_alloc.
    Table& ensure() {
        Table* t = table_.load(std::memory_order_acquire);
        if (t != nullptr) {
            t->use_here();
            return *t;
        }
        auto* fresh = new Table();
        // acq_rel: release publishes the new table; acquire, on failure, sees the winner's.
        if (table_.compare_exchange_strong(t, fresh, std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
            fresh->use_here();
            return *fresh;
        }
        fresh->release();
        return *t;
    }

    /// The container is used here (get() without the table), for members that do not reach it.
    void use_here() const noexcept { static_cast<void>(get()); }

    /// weakref::local::: the owner thread gives the container up; the next thread to use it
    /// owns it. Stops the program in debug builds if called by another thread.
    void hand_over() noexcept {
        if (Table* t = table_.load(std::memory_order_acquire)) {
            t->hand_over();
        }
    }

private:
    /// Checks that a container that is moved, swapped or destroyed is not another thread's.
    /// Not in weakref::, where it would cost an atomic load that nothing needs.
    void check(const char* action) const noexcept {
        if constexpr (!Policy::thread_safe) {
            if (Table* t = table_.load(std::memory_order_relaxed)) {
                t->check_here(action);
            }
        }
    }
    Table* take() noexcept {
        check("moved from");
        return table_.exchange(nullptr, std::memory_order_acq_rel);
    }

    typename Policy::template cell<Table*> table_{nullptr};
};

} // namespace weakref::detail
