// SPDX-License-Identifier: MIT
// recent_tier: weak_value_map::keep_recent's strong front tier, the values of the most recently
// used entries held strongly, one small LRU list per shard.
#pragma once

#include "../ref.hpp"
#include "config.hpp"
#include "locks.hpp"
#include "policy.hpp"
#include "weak_table.hpp"

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

namespace weakref::detail {

/// The strong tier of a weak_value_map: it holds a strong ref to the values of the entries used
/// last, so that a cached value outlives its last user for a while.
///
/// What "the n most recently used" means: the tier has one list per shard of the map's table
/// (16 in weakref::, 1 in weakref::local::), each holding the values of its shard's
/// ceil(n / shards) most recently used entries, most recent first. weakref::local:: thus keeps
/// exactly the n most recently used; weakref:: keeps a value while it is among the
/// ceil(n / 16) most recently used of its own shard, and at most 16 * ceil(n / 16) in all.
/// A value is held once however many of its entries are used (the lists go by value).
///
/// Cost: n == 0 (the default) costs the map one relaxed load of n per operation. With n > 0 a
/// use locks its shard's list (a spin lock of its own, held for a few instructions, never the
/// table's writer mutex); a use of the value already first in its list takes no lock and
/// writes nothing shared, so a hot key read on many threads does not bounce a line. Expected
/// O(1) per use, by an open-addressed index over the list; the list grows on demand up to its
/// capacity (memory for n slots is not taken before n values are held).
///
/// Release: what the tier lets go of (the value pushed out by a use, the surplus of a lowered
/// n, what clear() and erase drop) is released after the list's lock, outside every lock of
/// the map: a value that dies then removes its entry as any death does.
template <class V, class Policy> class recent_tier {
public:
    using value_ref = basic_ref<V, Policy>;
    static constexpr std::size_t shard_count = std::size_t{1} << table_locks<Policy>::shard_bits;

private:
    using small_lock = typename table_locks<Policy>::small;
    static constexpr std::uint32_t none = 0xFFFFFFFFU;

    // A place in a list: the value held, and its neighbours (more recent, less recent); a free
    // slot chains the free list through `next`.
    struct slot {
        value_ref value;
        std::uint32_t prev = none;
        std::uint32_t next = none;
    };

    /// One shard's list. Everything but `front` is guarded by `lock`.
    struct alignas(64) shard {
        // The most recently used value, or null: written under `lock`, read without it by
        // use(), which skips the lock when its value is already first.
        typename Policy::template cell<const void*> front{nullptr};
        mutable small_lock lock;
        std::uint32_t capacity = 0;  // ceil(n / shard_count), at most none - 1
        std::uint32_t size = 0;      // values held
        std::uint32_t allocated = 0; // slots in `slots`
        std::uint32_t head = none;   // most recent
        std::uint32_t tail = none;   // least recent: the next to go
        std::uint32_t spare = none;  // the free slots
        unsigned index_bits = 0;
        slot* slots = nullptr;
        std::uint32_t* index = nullptr; // 2^index_bits cells: slot + 1, or 0 (empty)

        shard() noexcept = default;
        shard(const shard&) = delete;
        shard& operator=(const shard&) = delete;
        ~shard() { free_arrays(); }

        void free_arrays() noexcept {
            delete[] slots; // releases the values still held (the caller holds no lock)
            delete[] index;
            slots = nullptr;
            index = nullptr;
            allocated = 0;
            index_bits = 0;
            head = tail = spare = none;
            size = 0;
        }

        [[nodiscard]] std::size_t home(const void* p) const noexcept {
            const auto a = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p));
            return static_cast<std::size_t>((a * 0x9E3779B97F4A7C15ULL) >> (64 - index_bits));
        }
        [[nodiscard]] std::size_t mask() const noexcept {
            return (std::size_t{1} << index_bits) - 1;
        }
        [[nodiscard]] const void* held(std::uint32_t cell) const noexcept {
            return slots[cell - 1].value.get();
        }

        /// The slot holding `p`, or none.
        [[nodiscard]] std::uint32_t find(const void* p) const noexcept {
            if (size == 0) {
                return none;
            }
            for (std::size_t i = home(p); index[i] != 0; i = (i + 1) & mask()) {
                if (held(index[i]) == p) {
                    return index[i] - 1;
                }
            }
            return none;
        }
        void index_insert(std::uint32_t at) noexcept {
            std::size_t i = home(slots[at].value.get());
            while (index[i] != 0) {
                i = (i + 1) & mask();
            }
            index[i] = at + 1;
        }
        /// Takes slot `at` out of the index (its value still set): backward-shift deletion,
        /// so that no probe sequence is broken by the hole.
        void index_erase(std::uint32_t at) noexcept {
            std::size_t i = home(slots[at].value.get());
            while (index[i] != at + 1) {
                i = (i + 1) & mask();
            }
            for (std::size_t j = (i + 1) & mask(); index[j] != 0; j = (j + 1) & mask()) {
                const std::size_t k = home(held(index[j]));
                // The cell at j may move back to i unless its home lies in (i, j].
                if (((j - k) & mask()) >= ((j - i) & mask())) {
                    index[i] = index[j];
                    i = j;
                }
            }
            index[i] = 0;
        }

        void unlink(std::uint32_t at) noexcept {
            slot& s = slots[at];
            if (s.prev != none) {
                slots[s.prev].next = s.next;
            } else {
                head = s.next;
            }
            if (s.next != none) {
                slots[s.next].prev = s.prev;
            } else {
                tail = s.prev;
            }
        }
        void push_front(std::uint32_t at) noexcept {
            slot& s = slots[at];
            s.prev = none;
            s.next = head;
            if (head != none) {
                slots[head].prev = at;
            } else {
                tail = at;
            }
            head = at;
        }
        void publish_front() noexcept {
            // relaxed: a hint for use()'s shortcut, which reads no memory through it.
            front.store(head != none ? static_cast<const void*>(slots[head].value.get()) : nullptr,
                        std::memory_order_relaxed);
        }

        /// Takes the value of slot `at` out of the list into `out` (empty before).
        void take(std::uint32_t at, value_ref& out) noexcept {
            index_erase(at);
            unlink(at);
            out = std::move(slots[at].value);
            slots[at].next = spare;
            spare = at;
            --size;
        }

        /// More slots (doubling, up to the capacity), the index rebuilt; false if memory ran
        /// out (the list then keeps what it has). Runs under the lock: allocation only, no
        /// value is released (moved-from refs are empty).
        bool grow() noexcept {
            const std::uint32_t want =
                allocated == 0 ? (capacity < 8U ? capacity : 8U)
                               : (allocated > capacity / 2U ? capacity : allocated * 2U);
            unsigned bits = 1;
            while ((std::size_t{1} << bits) < std::size_t{want} * 2U) {
                ++bits;
            }
            auto* fresh_slots = new (std::nothrow) slot[want];
            auto* fresh_index = new (std::nothrow) std::uint32_t[std::size_t{1} << bits]();
            if (fresh_slots == nullptr || fresh_index == nullptr) {
                delete[] fresh_slots;
                delete[] fresh_index;
                return false;
            }
            for (std::uint32_t i = 0; i < allocated; ++i) {
                fresh_slots[i].value = std::move(slots[i].value);
                fresh_slots[i].prev = slots[i].prev;
                fresh_slots[i].next = slots[i].next;
            }
            for (std::uint32_t i = want; i-- > allocated;) {
                fresh_slots[i].next = spare;
                spare = i;
            }
            delete[] slots; // every ref in it moved out: releases nothing
            delete[] index;
            slots = fresh_slots;
            index = fresh_index;
            index_bits = bits;
            allocated = want;
            for (std::uint32_t at = head; at != none; at = slots[at].next) {
                index_insert(at);
            }
            return true;
        }

        /// A use of `v`: first in the list from now on. Returns whether `v` was not held
        /// before (an insertion); what it pushed out goes to `evicted` (empty before).
        bool touch(const value_ref& v, value_ref& evicted) noexcept {
            if (capacity == 0) {
                return false;
            }
            std::uint32_t at = find(v.get());
            if (at != none) {
                if (at != head) {
                    unlink(at);
                    push_front(at);
                    publish_front();
                }
                return false;
            }
            if (size >= capacity || (spare == none && !grow())) {
                if (tail == none) {
                    return false; // no memory for a first slot: nothing kept
                }
                take(tail, evicted); // frees a slot
            }
            at = spare;
            spare = slots[at].next;
            slots[at].value = v; // a strong count for the tier
            index_insert(at);
            push_front(at);
            ++size;
            publish_front();
            return true;
        }

        /// Moves up to `room` of the least recent values into `out` while more than `keep`
        /// are held; returns how many it moved.
        std::size_t shed_into(std::uint32_t keep, value_ref* out, std::size_t room) noexcept {
            std::size_t n = 0;
            while (size > keep && n < room) {
                take(tail, out[n++]);
            }
            publish_front();
            return n;
        }
    };

    /// The lists, made at the first keep_recent(n > 0) and kept until the map goes; shared by
    /// count with an erase_if that may outlive the map (a listener may destroy it).
    struct block {
        shard shards[shard_count];
        typename table_locks<Policy>::mutex config; // serialises set_capacity
        typename Policy::template cell<std::size_t> holders{1};

        void add_holder() noexcept { holders.fetch_add(1, std::memory_order_relaxed); }
        void release() noexcept {
            // acq_rel: the last holder frees the lists (and releases their values) after every
            // other holder's last use.
            if (holders.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                delete this;
            }
        }
    };

public:
    recent_tier() noexcept = default;
    recent_tier(const recent_tier&) = delete;
    recent_tier& operator=(const recent_tier&) = delete;
    /// Takes `other`'s capacity and lists; `other` keeps nothing and has n == 0.
    recent_tier(recent_tier&& other) noexcept
        : capacity_(other.capacity_.exchange(0, std::memory_order_relaxed)),
          block_(other.block_.exchange(nullptr, std::memory_order_acq_rel)) {}
    recent_tier& operator=(recent_tier&& other) noexcept {
        if (this != &other) {
            recent_tier gone(std::move(*this)); // released at the end, with no lock held
            capacity_.store(other.capacity_.exchange(0, std::memory_order_relaxed),
                            std::memory_order_relaxed);
            block_.store(other.block_.exchange(nullptr, std::memory_order_acq_rel),
                         std::memory_order_release);
        }
        return *this;
    }
    /// Releases every value held (with no lock of the map held: the caller's members are
    /// destroyed by then, or it holds none).
    ~recent_tier() {
        if (block* b = block_.load(std::memory_order_acquire)) {
            b->release();
        }
    }
    void swap(recent_tier& other) noexcept {
        const std::size_t n = capacity_.load(std::memory_order_relaxed);
        capacity_.store(other.capacity_.load(std::memory_order_relaxed), std::memory_order_relaxed);
        other.capacity_.store(n, std::memory_order_relaxed);
        block* b = block_.load(std::memory_order_acquire);
        block_.store(other.block_.load(std::memory_order_acquire), std::memory_order_release);
        other.block_.store(b, std::memory_order_release);
    }

    /// n, as keep_recent set it.
    [[nodiscard]] std::size_t capacity() const noexcept {
        return capacity_.load(std::memory_order_relaxed);
    }
    /// Whether anything may be kept: the one load the map's operations pay when n == 0.
    /// relaxed: a hint; what the lists hold is decided under their locks.
    [[nodiscard]] bool active() const noexcept {
        return capacity_.load(std::memory_order_relaxed) != 0;
    }

    /// Sets n: each list's capacity becomes ceil(n / shard_count); a list that holds more lets
    /// its least recent values go before this returns (released outside every lock, so a
    /// dying value's destructor may use the map, even call keep_recent). Throws std::bad_alloc
    /// (and changes nothing) if the lists cannot be made. Concurrent calls: the last to set
    /// the capacities wins, for every list.
    void set_capacity(std::size_t n) {
        block* b = block_.load(std::memory_order_acquire);
        if (b == nullptr) {
            if (n == 0) {
                return;
            }
            auto* fresh = new block();
            // seq_cst on success: release publishes the lists, and the lists' existence takes
            // its place in the single order of forget_removed's and use()'s fences (see there).
            // acquire on failure: sees the winner's lists.
            if (block_.compare_exchange_strong(b, fresh, std::memory_order_seq_cst,
                                               std::memory_order_acquire)) {
                b = fresh;
            } else {
                delete fresh;
            }
        }
        const std::size_t per_shard = n / shard_count + (n % shard_count != 0 ? 1 : 0);
        const auto capacity =
            static_cast<std::uint32_t>(per_shard < none - 1U ? per_shard : none - 1U);
        {
            lock_guard<typename table_locks<Policy>::mutex> serial(b->config);
            for (shard& s : b->shards) {
                lock_guard<small_lock> lock(s.lock);
                s.capacity = capacity;
            }
            capacity_.store(n, std::memory_order_relaxed);
        }
        // The surplus, after the serialising lock: to each list's capacity as it is now. A
        // value let go may die, and its death (a callback, a destructor) may destroy the map
        // and this tier: the lists are held until the loop is done, and nothing of `this` is
        // used after it. relaxed: the map's own unit keeps the block alive until this one is
        // taken; the acq_rel of the release below orders every use of the lists before the
        // last holder frees them.
        b->add_holder();
        for (shard& s : b->shards) {
            shed(s, false);
        }
        b->release();
    }

    /// A use of `v` (live, held by the caller) through an entry of shard `i`: `v` becomes the
    /// first of that shard's list. `still_mapped()` (called with no lock held) says whether
    /// the entry still refers to `v`: an erase, take, clear or assignment that ran between the
    /// caller's lookup and this call took `v` off the list before it was put back, and then
    /// `v` is let go again here, so that the tier never keeps a value the map no longer maps.
    /// noexcept: memory for the list that runs out keeps fewer values.
    template <class StillMapped>
    void use(std::size_t i, const value_ref& v, StillMapped&& still_mapped) const noexcept {
        // seq_cst: this load synchronizes with set_capacity's seq_cst CAS as seq_cst operations
        // both, so that the lists' creation strongly happens before the fence below (the
        // argument at forget_removed needs it); otherwise an acquire.
        block* b = block_.load(std::memory_order_seq_cst);
        if (b == nullptr) {
            return;
        }
        shard& s = b->shards[i];
        if (s.front.load(std::memory_order_relaxed) == static_cast<const void*>(v.get())) {
            return; // first already: nothing to move
        }
        value_ref evicted; // declared before the lock: released after it
        bool inserted = false;
        {
            lock_guard<small_lock> lock(s.lock);
            inserted = s.touch(v, evicted);
        }
        if constexpr (Policy::thread_safe) {
            // The remover took v off the list under this lock after unlinking the entry; an
            // insertion that came later in the lock's order therefore sees the entry gone.
            // A remover that found no lists did not take it off: the fence pairs with its
            // fence in forget_removed, so that it saw the lists or this check sees its unlink.
            if (inserted) {
                store_load_fence(); // (none in TSan builds, which do not model fences)
                if (!still_mapped()) {
                    value_ref again = forget(i, v.get());
                }
            }
        } else {
            static_cast<void>(inserted);
            static_cast<void>(still_mapped);
        }
    }

    /// Takes `v` off shard `i`'s list; returns the tier's ref to it (empty if it held none),
    /// for the caller to drop after its own locks. May be called under a shard lock of the
    /// map (the list's lock is a leaf).
    [[nodiscard]] value_ref forget(std::size_t i, const void* v) const noexcept {
        return take_from(block_.load(std::memory_order_acquire), i, v);
    }

    /// forget() for a remover that has just unlinked `v`'s entry (an erase, a take, an
    /// assignment), whatever n is now: a use on another thread may have put `v` into lists made
    /// a moment ago, after this remover's look at n. `v`'s block is held by the entry (so no
    /// other value is at its address). May be called under a shard lock of the map.
    [[nodiscard]] value_ref forget_removed(std::size_t i, const void* v) const noexcept {
        if constexpr (Policy::thread_safe) {
            // seq_cst fence, after the unlink and before the look at the lists; it pairs with
            // the fence use() runs after an insertion, before its recheck of the entry. In the
            // single order S of seq_cst operations, either this fence comes first (then the
            // recheck, after the other fence, sees the unlink, and use() lets v go itself), or
            // use()'s fence does (then the lists' seq_cst creation, which strongly happens
            // before use()'s fence, precedes this fence in S, and the load below sees them:
            // take_from then takes v off, or finds the insertion not yet made, which then
            // comes after this unlink in the lists' lock order and sees it at the recheck).
            // TSan builds, which do not model fences, have none (see store_load_fence).
            store_load_fence();
        }
        return take_from(block_.load(std::memory_order_acquire), i, v);
    }

    /// Lets every value go (released outside every lock); n stays. A value let go may die and
    /// its death destroy the map: the map calls holder::clear_all() on lists it holds instead.
    void clear() noexcept {
        const holder lists(*this, existing_only{});
        lists.clear_all();
    }

    /// Tag of holder's constructor that makes no lists.
    struct existing_only {};

    /// The lists, held for a member that drops values after the map may have been destroyed
    /// (erase_if, whose listener may destroy the map).
    class holder {
    public:
        /// Makes the lists if there are none yet (throws std::bad_alloc): a use may put a
        /// value into lists made after this holder was, which the holder, used where the map
        /// may be gone, could not reach.
        explicit holder(recent_tier& t) : block_(t.lists()) { block_->add_holder(); }
        /// Holds the lists that exist now, if any (clear: a use after this look is a use after
        /// the clear). relaxed: the tier's own unit keeps the block alive until this one is
        /// taken; each release is acq_rel, so the last holder frees it after every use.
        holder(const recent_tier& t, existing_only /*unused*/) noexcept
            : block_(t.block_.load(std::memory_order_acquire)) {
            if (block_ != nullptr) {
                block_->add_holder();
            }
        }
        holder(const holder&) = delete;
        holder& operator=(const holder&) = delete;
        ~holder() {
            if (block_ != nullptr) {
                block_->release();
            }
        }
        /// forget() on the held lists, which exist whatever n is; the ref it returns is
        /// released here (call it with no lock held, after the entry's removal: the lists'
        /// lock orders this after a use's insertion, or the use's recheck after the removal).
        void drop(std::size_t i, const void* v) const noexcept {
            value_ref out = take_from(block_, i, v);
        }
        /// Lets every value of the held lists go (released outside every lock), with nothing
        /// of the map or the tier used meanwhile: a death may destroy them.
        void clear_all() const noexcept {
            if (block_ != nullptr) {
                for (shard& s : block_->shards) {
                    shed(s, true);
                }
            }
        }

    private:
        block* block_;
    };

private:
    /// The lists, made (with every capacity 0) if there are none. Throws std::bad_alloc.
    block* lists() {
        block* b = block_.load(std::memory_order_acquire);
        if (b != nullptr) {
            return b;
        }
        auto* fresh = new block();
        // seq_cst on success, acquire on failure: as in set_capacity.
        if (block_.compare_exchange_strong(b, fresh, std::memory_order_seq_cst,
                                           std::memory_order_acquire)) {
            return fresh;
        }
        delete fresh;
        return b;
    }

    static value_ref take_from(block* b, std::size_t i, const void* v) noexcept {
        value_ref out;
        if (b == nullptr || v == nullptr) {
            return out;
        }
        shard& s = b->shards[i];
        lock_guard<small_lock> lock(s.lock);
        const std::uint32_t at = s.find(v);
        if (at != none) {
            s.take(at, out);
            s.publish_front();
        }
        return out;
    }

    /// Lets `s` keep at most its capacity (or nothing, with `all`), in batches: each batch is
    /// released after the lock, so that a dying value's destructor never runs under it. A
    /// list left with capacity 0 gives its memory back.
    static void shed(shard& s, bool all) noexcept {
        constexpr std::size_t batch = 32;
        for (;;) {
            value_ref out[batch]; // released at the end of each round, after the lock
            std::size_t moved = 0;
            slot* slots = nullptr;
            std::uint32_t* index = nullptr;
            {
                lock_guard<small_lock> lock(s.lock);
                moved = s.shed_into(all ? 0U : s.capacity, out, batch);
                if (moved < batch && s.size == 0 && s.capacity == 0) {
                    slots = std::exchange(s.slots, nullptr);
                    index = std::exchange(s.index, nullptr);
                    s.allocated = 0;
                    s.index_bits = 0;
                    s.head = s.tail = s.spare = none;
                }
            }
            delete[] slots; // empty refs: releases nothing
            delete[] index;
            if (moved < batch) {
                return;
            }
        }
    }

    typename Policy::template cell<std::size_t> capacity_{0}; // n
    typename Policy::template cell<block*> block_{nullptr};
};

} // namespace weakref::detail
