// SPDX-License-Identifier: MIT
// When memory that lock-free readers may still hold is freed: epoch-based reclamation for the
// thread-safe tables, immediate freeing for the local flavour.
#pragma once

#include "config.hpp"
#include "policy.hpp"
#include "teardown.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

namespace weakref::detail {

#if defined(__SANITIZE_THREAD__)
#define WEAKREF_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEAKREF_TSAN 1
#endif
#endif

/// The store-load fence of the epoch protocol (see epoch_domain::guard). ThreadSanitizer
/// does not model fences (GCC warns, -Wtsan): its builds announce with a seq_cst exchange
/// instead (see guard), and rely on the shard lock's release having made the unlink visible
/// before retire reads the epoch (a locked instruction on every machine TSan runs on).
inline void store_load_fence() noexcept {
#ifndef WEAKREF_TSAN
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

/// A small test-and-test-and-set lock (held for a few instructions: a list edit).
class tiny_lock {
public:
    void lock() noexcept {
        for (unsigned spins = 0;;) {
            // acquire: the previous holder's writes happen before ours.
            if (!locked_.exchange(true, std::memory_order_acquire)) {
                return;
            }
            while (locked_.load(std::memory_order_relaxed)) {
                spin_pause(spins);
            }
        }
    }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> locked_{false};
};

/// Something retired: `free(p)` runs once no reader can still hold `p`.
struct retired_item {
    void* p;
    void (*free)(void*) noexcept;
    std::uint64_t epoch; // the global epoch when it was retired
    /// Null, or what of `free` must be seen done the moment the item leaves its ring: run
    /// under the ring's lock (so it runs no user code and takes no lock), it returns whether
    /// `free` must still run. A weak unit's count is dropped so: a flush() that finds the ring
    /// without the item never counts the unit (weak_count() is exact across threads).
    bool (*settle)(void*) noexcept;

    /// Frees an item that no ring holds (settle, then free).
    void settle_and_free() const noexcept {
        if (settle == nullptr || settle(p)) {
            free(p);
        }
    }
};

/// A first-in, first-out array of retired items. Its last `unsealed()` items carry no epoch
/// yet (0; the global epoch starts at 1): their owner sealed them with one epoch for the lot
/// later (see epoch_domain::retire_batched). Sealed epochs need not increase along the ring (a
/// flush may seal older items with a later epoch than the owner gives newer ones): an item is
/// ripe by its own epoch, and waits for those before it, which only delays it.
class retired_ring {
public:
    retired_ring() noexcept = default;
    retired_ring(const retired_ring&) = delete;
    retired_ring& operator=(const retired_ring&) = delete;
    ~retired_ring() { ::operator delete(items_); }

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] std::size_t unsealed() const noexcept { return unsealed_; }
    /// How many items were ever pushed: names a point of the ring for seal().
    [[nodiscard]] std::uint64_t pushed() const noexcept { return pushed_; }
    /// Whether the first item is sealed and was retired two epochs or more before `e`.
    [[nodiscard]] bool ripe(std::uint64_t e) const noexcept {
        return size_ > unsealed_ && items_[first_].epoch + 2 <= e;
    }
    [[nodiscard]] const retired_item& front() const noexcept { return items_[first_]; }
    void pop() noexcept {
        first_ = (first_ + 1) & (capacity_ - 1);
        --size_;
    }
    /// Takes the first item out and settles it (see retired_item::settle), under the ring's
    /// lock. Its `free` runs after the lock, unless it is null: nothing left to do.
    retired_item take() noexcept {
        retired_item item = items_[first_];
        pop();
        if (item.settle != nullptr && !item.settle(item.p)) {
            item.free = nullptr;
        }
        return item;
    }
    /// Takes out (take()) ripe items by epoch `e`, up to `most` of them, until one has a free
    /// left, which is copied to `item`. Whether any was taken (else `item` is untouched); if
    /// so and `item.free` is null, all of the taken ones were settled in full.
    bool take_ripe(std::uint64_t e, std::size_t most, retired_item& item) noexcept {
        // Copies of the members, so that the calls to settle do not make them reloaded.
        retired_item* const items = items_;
        const std::size_t mask = capacity_ - 1;
        const std::size_t sealed = size_ - unsealed_;
        const std::size_t limit = most < sealed ? most : sealed;
        std::size_t first = first_;
        std::size_t n = 0;
        while (n != limit && items[first].epoch + 2 <= e) {
            const retired_item& x = items[first];
            first = (first + 1) & mask;
            ++n;
            if (x.settle == nullptr || x.settle(x.p)) {
                item = x;
                break; // freed after the lock, alone
            }
        }
        first_ = first;
        size_ -= n;
        return n != 0;
    }
    /// A sealed item (its epoch set). Seal the unsealed ones first (their epochs are older).
    /// False (and nothing changed) if memory ran out.
    bool push(const retired_item& item) noexcept {
        WEAKREF_ASSERT(item.epoch != 0, "an unsealed item pushed as sealed");
        WEAKREF_ASSERT(unsealed_ == 0, "a sealed item pushed behind unsealed ones");
        return append(item);
    }
    /// push_unsealed of the item {p, free, 0, settle}, only if the ring has room (no growth):
    /// the fast path of retire_batched.
    bool try_push_unsealed(void* p, void (*free)(void*) noexcept,
                           bool (*settle)(void*) noexcept) noexcept {
        if (size_ == capacity_) {
            return false;
        }
        retired_item& slot = items_[(first_ + size_) & (capacity_ - 1)];
        slot.p = p;
        slot.free = free;
        slot.epoch = 0;
        slot.settle = settle;
        ++size_;
        ++pushed_;
        ++unsealed_;
        return true;
    }
    /// An item (its epoch 0) whose epoch seal() gives later.
    bool push_unsealed(const retired_item& item) noexcept {
        WEAKREF_ASSERT(item.epoch == 0, "an unsealed item with an epoch");
        if (!append(item)) {
            return false;
        }
        ++unsealed_;
        return true;
    }
    /// Gives epoch `e` to the unsealed items pushed before the point `upto` (a pushed() value;
    /// by default, every unsealed item).
    void seal(std::uint64_t e, std::uint64_t upto = UINT64_MAX) noexcept {
        const std::uint64_t first_unsealed = pushed_ - unsealed_;
        upto = upto < pushed_ ? upto : pushed_;
        if (upto <= first_unsealed) {
            return;
        }
        const auto count = static_cast<std::size_t>(upto - first_unsealed);
        const std::size_t mask = capacity_ - 1;
        for (std::size_t i = first_ + size_ - unsealed_, end = i + count; i != end; ++i) {
            items_[i & mask].epoch = e;
        }
        unsealed_ -= count;
    }

private:
    bool append(const retired_item& item) noexcept {
        if (size_ == capacity_ && !grow()) {
            return false;
        }
        items_[(first_ + size_) & (capacity_ - 1)] = item;
        ++size_;
        ++pushed_;
        return true;
    }
    bool grow() noexcept {
        const std::size_t grown = capacity_ == 0 ? 64 : capacity_ * 2;
        auto* fresh =
            static_cast<retired_item*>(::operator new(grown * sizeof(retired_item), std::nothrow));
        if (fresh == nullptr) {
            return false;
        }
        for (std::size_t i = 0; i < size_; ++i) {
            fresh[i] = items_[(first_ + i) & (capacity_ - 1)];
        }
        ::operator delete(items_);
        items_ = fresh;
        first_ = 0;
        capacity_ = grown;
        return true;
    }

    retired_item* items_ = nullptr;
    std::size_t first_ = 0;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0; // a power of two, or 0
    std::size_t unsealed_ = 0; // the last items of the ring, not yet given an epoch
    std::uint64_t pushed_ = 0;
};

/// Epoch-based reclamation (Fraser's scheme, as crossbeam-epoch uses it), for the readers of
/// the thread-safe tables, which take no lock and write nothing shared.
///
/// A reader announces the global epoch in its thread's record for the length of a lookup
/// (epoch_guard). Memory a writer took out of a table is retired with the epoch of the
/// moment; it is freed once the global epoch has advanced twice since, which needs every
/// reader that was inside a lookup then to have left it. Each thread frees what it retired,
/// from its own ring, every `batch` retirements; a thread that exits hands its ring to the
/// domain, and the next thread that reclaims frees it.
///
/// Small, frequent retirements (an entry, a replaced value's weak unit) take no epoch of their
/// own (retire_batched): they wait unsealed in the ring, and one fence and one read of the
/// epoch seal all of them, at the thread's next reclaim or retire, at its exit, or at a flush
/// on any thread. The epoch a seal reads is later than each item's unlink, so they are freed
/// no earlier than their own epochs would have let them be; at most `batch` of them wait so.
///
/// Bounds: a lookup holds no lock and runs no user code but the table's hash and key
/// equality, so the epoch advances unless one of those blocks. A thread whose ring passes
/// `backlog` items waits for the epoch to advance before it retires more (unless it is inside
/// a lookup itself), so what a grace period keeps is at most `backlog` items per thread.
///
/// One domain per process is the aim, but a shared library built with hidden visibility gets
/// its own copy of `instance()`: so every table remembers the domain it was made in, and its
/// readers and writers all use that one, whichever library's code runs them.
class epoch_domain {
public:
    static constexpr std::size_t batch = 64;
    static constexpr std::size_t backlog = 8192;

    /// The domain of this copy of weakref (see above). Never destroyed: threads and tables may
    /// outlive static destruction. Exported (default visibility), so that shared libraries
    /// built with -fvisibility=hidden share one domain unless a version script hides it.
    WEAKREF_EXPORT static epoch_domain& instance() noexcept {
        // Never destroyed: threads may retire into it during static destruction. Out of memory
        // here, at a process's first container lookup, ends the program (noexcept).
        static auto* const domain =
            new epoch_domain(); // NOLINT(bugprone-unhandled-exception-at-new)
        return *domain;
    }

    /// One thread's slot: the epoch it announces, its nesting of lookups, and its ring.
    struct alignas(64) record {
        // 0 outside every lookup; else (epoch << 1) | 1.
        std::atomic<std::uint64_t> announced{0};
        unsigned nesting = 0;           // the owner's nested guards
        bool transient = false;         // taken during the owner's exit: returned after use
        std::size_t since_reclaim = 0;  // the owner's retirements since it last reclaimed
        std::atomic<bool> in_use{true}; // owned by a live thread
        record* next = nullptr;         // the domain's list; never unlinked
        tiny_lock ring_lock;            // the owner, and flush() on another thread
        retired_ring ring;              // under ring_lock
    };

    /// Announces the calling thread inside a lookup for its lifetime. Nests.
    class guard {
    public:
        explicit guard(epoch_domain& d) noexcept : domain_(d), record_(d.current()) {
            if (record_->nesting++ == 0) {
                // acquire: a reader that sees an epoch sees every unlink retired before it
                // advanced (the advance is a release).
                const std::uint64_t e = d.epoch_.load(std::memory_order_acquire);
#ifdef WEAKREF_TSAN
                record_->announced.exchange((e << 1) | 1, std::memory_order_seq_cst);
#else
                record_->announced.store((e << 1) | 1, std::memory_order_relaxed);
#endif
                // seq_cst fence: the announcement is visible to every scan that follows it in
                // the single total order before this thread reads any table pointer; a scan
                // that precedes it sees nothing, and then this thread's reads see every unlink
                // retired before that scan (the retirer's fence precedes the scan).
                store_load_fence();
            }
        }
        guard(const guard&) = delete;
        guard& operator=(const guard&) = delete;
        ~guard() {
            if (--record_->nesting == 0) {
                // release: every read of this lookup happens before a scan that sees it left.
                record_->announced.store(0, std::memory_order_release);
                if (WEAKREF_UNLIKELY(record_->transient)) {
                    domain_.detach(record_); // the thread is exiting: hand it back now
                }
            }
        }

    private:
        epoch_domain& domain_;
        record* record_;
    };

    /// Frees `p` with `free` once no lookup can still hold it. Call it with no lock held:
    /// the items whose time has come are freed here, and `free` may run user destructors.
    /// `weight` counts toward the batch: a large block (a bucket array a table outgrew)
    /// passes `batch`, so that it is reclaimed at once (freed now if no lookup runs) instead
    /// of waiting out 63 more retirements; a table that only grows retires nothing else.
    void retire(void* p, void (*free)(void*) noexcept, std::size_t weight = 1) noexcept {
        retire_sealed(retired_item{p, free, 0, nullptr}, weight);
    }

    /// retire() for a small item retired often (an entry, a replaced value's weak unit): no
    /// fence and no epoch now; the item waits unsealed for its thread's next seal (see the
    /// class comment). The same call conditions as retire(), and the weight of one. `settle`:
    /// see retired_item.
    void retire_batched(void* p, void (*free)(void*) noexcept,
                        bool (*settle)(void*) noexcept = nullptr) noexcept {
        record* r = current();
        if (WEAKREF_UNLIKELY(r->transient)) {
            // The record goes back soon: none of it may wait unsealed.
            retire_sealed(retired_item{p, free, 0, settle}, 1);
            return;
        }
        r->ring_lock.lock();
        const bool pushed = r->ring.try_push_unsealed(p, free, settle);
        r->ring_lock.unlock();
        if (WEAKREF_UNLIKELY(!pushed) || WEAKREF_UNLIKELY(++r->since_reclaim >= batch)) {
            retire_batched_slow(r, pushed, retired_item{p, free, 0, settle});
        }
    }

    /// Waits until every lookup running now has ended, then frees everything retired before,
    /// in every thread's ring. For weak_count(), which counts container entries: an entry
    /// holds its weak unit until it is freed.
    void flush() noexcept {
        if (!anything_retired()) {
            return;
        }
        record* self = current();
        if (self->nesting != 0) {
            return; // inside a lookup (a hash or key equality that counts): cannot wait
        }
        // Every unit retired before this call, on any thread, gets an epoch now, so that the
        // grace period below covers it.
        for (record* r = records_.load(std::memory_order_acquire); r != nullptr; r = r->next) {
            seal_retired_before(r);
        }
        synchronize(self);
        const std::uint64_t e = epoch_.load(std::memory_order_acquire);
        for (record* r = records_.load(std::memory_order_acquire); r != nullptr; r = r->next) {
            free_before(r, e);
        }
        free_orphans(e, true);
        if (WEAKREF_UNLIKELY(self->transient) && self->nesting == 0 && cached_record_ == self) {
            // Taken for this flush by an exiting thread (a thread_local container destroyed
            // after the thread's records went back): nothing else would hand it back.
            detach(self);
        }
    }

    /// How many records live threads hold (for tests: a thread that exited holds none).
    [[nodiscard]] std::size_t records_in_use() const noexcept {
        std::size_t n = 0;
        for (record* r = records_.load(std::memory_order_acquire); r != nullptr; r = r->next) {
            n += r->in_use.load(std::memory_order_acquire) ? 1 : 0;
        }
        return n;
    }

private:
    epoch_domain() noexcept = default;

    /// The calling thread's record in this domain; the fast path is two thread-local loads.
    record* current() noexcept {
        if (cached_domain_ == this) {
            return cached_record_;
        }
        return attach();
    }

    record* attach() noexcept;

    /// retire() of `item`, given the epoch of now (seals the unsealed items before it too).
    void retire_sealed(retired_item item, std::size_t weight) noexcept {
        record* r = current();
        // seq_cst fence: the unlink that made `item` unreachable (before this call) precedes,
        // in the total order, every scan that can advance past the epoch read below; so do the
        // unlinks of the unsealed items before it (earlier on this thread), sealed with it.
        store_load_fence();
        item.epoch = epoch_.load(std::memory_order_seq_cst);
        r->ring_lock.lock();
        r->ring.seal(item.epoch);
        const bool pushed = r->ring.push(item);
        r->ring_lock.unlock();
        if (!pushed) {
            // Out of memory for the ring. Outside a lookup: wait out a grace period and free it
            // now. Inside one (a hash or key equality that removes): this thread's own lookup
            // may be reading it, so it goes to the orphans, or, if even that fails, is leaked
            // rather than freed early.
            if (r->nesting == 0) {
                synchronize(r);
                item.settle_and_free();
                return;
            }
            orphans_lock_.lock();
            if (orphans_.push(item)) {
                has_orphans_.store(true, std::memory_order_relaxed);
            }
            orphans_lock_.unlock();
            return;
        }
        retired(r, weight);
    }

    /// retire_batched's rare part: the ring was full (grown here, or out of memory), or the
    /// batch is complete (then `item` was pushed and counted).
    WEAKREF_NOINLINE void retire_batched_slow(record* r, bool pushed, retired_item item) noexcept {
        if (!pushed) {
            r->ring_lock.lock();
            pushed = r->ring.push_unsealed(item); // grows the ring
            r->ring_lock.unlock();
            if (!pushed) {
                retire_sealed(item, 1); // out of memory: retire_sealed copes with it
                return;
            }
            retired(r, 1);
            return;
        }
        r->since_reclaim = 0;
        after_batch(r);
    }

    /// After `r`'s owner retired items of total `weight`: every `batch`, seal and reclaim;
    /// past `backlog`, wait for the epoch (see the class comment). An exiting thread's record
    /// goes back at once.
    void retired(record* r, std::size_t weight) noexcept {
        if (WEAKREF_UNLIKELY(r->transient) && r->nesting == 0) {
            detach(r); // the thread is exiting: its ring goes to the orphans now
            return;
        }
        r->since_reclaim += weight;
        if (r->since_reclaim >= batch) {
            r->since_reclaim = 0;
            after_batch(r);
        }
    }
    /// Every `batch` retirements: seal and reclaim; past `backlog`, wait for the epoch.
    void after_batch(record* r) noexcept {
        reclaim(r);
        if (r->nesting == 0 && ring_size(r) >= backlog) {
            for (unsigned spins = 0; ring_size(r) >= backlog / 2;) {
                try_advance();
                reclaim(r);
                spin_pause(spins);
            }
        }
    }

    /// The owner seals its unsealed items (retire_batched) with the epoch of now.
    void seal(record* r) noexcept { seal_upto(r, UINT64_MAX); }

    /// Any thread (flush) seals the items `r`'s owner had retired before this call.
    void seal_retired_before(record* r) noexcept {
        r->ring_lock.lock();
        const std::uint64_t upto = r->ring.pushed();
        const bool some = r->ring.unsealed() != 0;
        r->ring_lock.unlock();
        if (some) {
            seal_upto(r, upto);
        }
    }

    /// Seals `r`'s unsealed items pushed before `upto` with the epoch of now.
    void seal_upto(record* r, std::uint64_t upto) noexcept {
        // seq_cst fence: each sealed item's unlink happens before it: on the owner, earlier on
        // this thread (as in retire); on another thread (flush), through the ring lock taken
        // before the call (acquire, after the owner's release of it when it pushed). A lookup
        // that read one of them before its unlink has its fence before this one in the total
        // order, so every scan that follows the epoch read below sees its announcement, and the
        // epoch cannot pass e + 1 while it runs; nor can it have announced later than e (its
        // epoch read precedes this fence). Items pushed after `upto` stay unsealed.
        store_load_fence();
        const std::uint64_t e = epoch_.load(std::memory_order_seq_cst);
        r->ring_lock.lock();
        r->ring.seal(e, upto);
        r->ring_lock.unlock();
    }

    /// Advances the global epoch if every thread inside a lookup announced the current one.
    void try_advance() noexcept {
        std::uint64_t e = epoch_.load(std::memory_order_seq_cst);
        for (record* r = records_.load(std::memory_order_acquire); r != nullptr; r = r->next) {
            // acquire: pairs with a guard's release on leaving; seq_cst (the fence argument in
            // guard): a reader that announced before this scan is seen.
            const std::uint64_t a = r->announced.load(std::memory_order_seq_cst);
            if ((a & 1) != 0 && (a >> 1) != e) {
                return;
            }
        }
        // seq_cst (release): a reader that loads the new epoch sees everything before.
        epoch_.compare_exchange_strong(e, e + 1, std::memory_order_seq_cst);
    }

    /// Frees what `r`'s ring holds from two epochs ago or earlier; and, now and then, orphans.
    /// Tries to advance twice: with no lookup running, what was retired a moment ago is then
    /// freed now. Each advance checks every record, so two in a row are as safe as two far
    /// apart: the second needs every reader that stood in the first's epoch to have left.
    void reclaim(record* r) noexcept {
        seal(r);
        try_advance();
        try_advance();
        const std::uint64_t e = epoch_.load(std::memory_order_acquire);
        free_before(r, e);
        if (has_orphans_.load(std::memory_order_relaxed)) {
            free_orphans(e);
        }
    }

    static std::size_t ring_size(record* r) noexcept {
        r->ring_lock.lock();
        const std::size_t n = r->ring.size();
        r->ring_lock.unlock();
        return n;
    }

    /// Frees the items of `r`'s ring retired two epochs or more before `e`, outside its lock,
    /// one per lock taken: an item out of the ring and not yet freed is out of reach of a
    /// flush (of a container's destructor, of weak_count()), which must not miss more than the
    /// one this thread is freeing. An item whose settle did all of its free (a weak unit that
    /// was not its block's last) leaves nothing out of reach: the next is taken under the same
    /// lock, up to `settled_per_lock` of them, so that a flush waiting for the lock waits for
    /// a bounded run of count decrements and no more.
    void free_before(record* r, std::uint64_t e) noexcept {
        for (;;) {
            retired_item item{};
            r->ring_lock.lock();
            const bool ripe = r->ring.take_ripe(e, settled_per_lock, item);
            r->ring_lock.unlock();
            if (!ripe) {
                return;
            }
            if (item.free != nullptr) {
                item.free(item.p); // may retire more, into this or another ring
            }
        }
    }
    static constexpr std::size_t settled_per_lock = 64;

    /// Frees the orphans retired two epochs or more before `e`. They come from many threads,
    /// so an item may wait behind a younger one: with `all`, every ripe one is freed (the
    /// others are put back at the end), not only those at the front.
    void free_orphans(std::uint64_t e, bool all = false) noexcept {
        for (;;) {
            std::size_t left = 0; // how many not-ripe ones this step may put back
            orphans_lock_.lock();
            bool ripe = orphans_.ripe(e);
            if (all) {
                // Every orphan there now: another flush may have rotated some behind new ones.
                left = orphans_.size();
            }
            while (!ripe && left != 0 && orphans_.size() != 0) {
                // Not ripe: to the back (a pop leaves the room the push takes).
                const retired_item young = orphans_.front();
                orphans_.pop();
                static_cast<void>(orphans_.push(young));
                --left;
                ripe = orphans_.ripe(e);
            }
            const retired_item item = ripe ? orphans_.take() : retired_item{};
            has_orphans_.store(orphans_.size() != 0, std::memory_order_relaxed);
            orphans_lock_.unlock();
            if (!ripe) {
                return;
            }
            if (item.free != nullptr) {
                item.free(item.p);
            }
        }
    }

    /// Waits for two advances of the epoch: every lookup that was running has ended.
    void synchronize(record* self) noexcept {
        const std::uint64_t start = epoch_.load(std::memory_order_acquire);
        for (unsigned spins = 0; epoch_.load(std::memory_order_acquire) < start + 2;) {
            if (self != nullptr && self->nesting != 0) {
                return; // cannot wait for our own lookup; the caller copes
            }
            try_advance();
            if (epoch_.load(std::memory_order_acquire) < start + 2) {
                spin_pause(spins);
            }
        }
    }

    bool anything_retired() noexcept {
        for (record* r = records_.load(std::memory_order_acquire); r != nullptr; r = r->next) {
            r->ring_lock.lock();
            const bool some = r->ring.size() != 0;
            r->ring_lock.unlock();
            if (some) {
                return true;
            }
        }
        orphans_lock_.lock();
        const bool some = orphans_.size() != 0;
        orphans_lock_.unlock();
        return some;
    }

    /// A thread's records, returned to their domains when it exits.
    struct thread_records;
    friend struct thread_records;
    void detach(record* r) noexcept;

    // Trivially constructible thread_locals: the fast path has no guard. One cache entry:
    // a thread that alternates between domains (two libraries' tables) takes the slow path.
    static inline thread_local epoch_domain* cached_domain_ = nullptr;
    static inline thread_local record* cached_record_ = nullptr;
    // Set once the thread's records were handed back (its thread_locals are being destroyed):
    // a lookup after that gets a record of its own that is never handed back.
    static inline thread_local bool exiting_ = false;

    alignas(64) std::atomic<std::uint64_t> epoch_{1};
    alignas(64) std::atomic<record*> records_{nullptr};
    tiny_lock orphans_lock_;
    retired_ring orphans_;                 // rings of threads that exited
    std::atomic<bool> has_orphans_{false}; // a hint, read without the lock
};

/// The records a thread took, one per domain, handed back when the thread exits. Its own
/// storage is trivially destructible; a separate object's destructor does the handing back.
struct epoch_domain::thread_records {
    struct held {
        epoch_domain* domain;
        record* rec;
    };
    static constexpr unsigned capacity = 8;
    held items[capacity];
    unsigned count;
};

WEAKREF_NOINLINE inline epoch_domain::record* epoch_domain::attach() noexcept {
    // Zero-initialised, no destructor: readable at any point of the thread's exit.
    static thread_local thread_records mine{};
    struct returner {
        returner() noexcept = default;
        returner(const returner&) = delete;
        returner& operator=(const returner&) = delete;
        ~returner() {
            exiting_ = true;
            cached_domain_ = nullptr;
            // Each leaves the list before its detach: a free that detach runs, and that attaches
            // again, must not find a record already handed back.
            while (mine.count != 0) {
                const thread_records::held h = mine.items[--mine.count];
                h.domain->detach(h.rec);
            }
        }
    };
    for (unsigned i = 0; i < mine.count; ++i) {
        if (mine.items[i].domain == this) {
            cached_domain_ = this;
            cached_record_ = mine.items[i].rec;
            return cached_record_;
        }
    }
    // A record a thread that exited gave back, or a new one.
    record* r = nullptr;
    for (record* x = records_.load(std::memory_order_acquire); x != nullptr; x = x->next) {
        bool taken = false;
        // acquire: the previous owner's last writes (its release in detach) happen before.
        if (!x->in_use.load(std::memory_order_relaxed) &&
            x->in_use.compare_exchange_strong(taken, true, std::memory_order_acquire)) {
            r = x;
            break;
        }
    }
    if (r == nullptr) {
        void* mem =
            ::operator new (sizeof(record), std::align_val_t{alignof(record)}, std::nothrow);
        if (mem == nullptr) {
            fatal("out of memory for a thread's reclamation record");
        }
        r = ::new (mem) record();
        record* head = records_.load(std::memory_order_relaxed);
        do {
            r->next = head;
            // release: a scan that finds the record sees it initialised.
        } while (!records_.compare_exchange_weak(head, r, std::memory_order_release,
                                                 std::memory_order_relaxed));
    }
    if (exiting_ || mine.count == thread_records::capacity) {
        // Nothing hands this record back at the thread's exit: it goes back at the end of this
        // use (see guard and retire), and is taken again next time.
        r->transient = true;
        cached_domain_ = this; // until detach: nested uses find this one
        cached_record_ = r;
        return r;
    }
    static thread_local returner on_exit; // registers the hand-back on first use
    static_cast<void>(on_exit);
    mine.items[mine.count++] = thread_records::held{this, r};
    r->transient = false;
    cached_domain_ = this;
    cached_record_ = r;
    return r;
}

inline void epoch_domain::detach(record* r) noexcept {
    // The ring goes to the orphans, to be freed by whichever thread reclaims next; sealed
    // first (the orphans hold sealed items only). Runs on the record's owner. No longer
    // transient from here: what the frees below may retire goes into its ring (and the loop
    // below seals and frees it), instead of re-entering detach (through retired) and giving
    // the record away while this call still uses it.
    r->transient = false;
    seal(r);
    r->ring_lock.lock();
    orphans_lock_.lock();
    bool lost = false;
    while (r->ring.size() != 0) {
        if (!orphans_.push(r->ring.front())) {
            lost = true;
            break;
        }
        r->ring.pop();
    }
    has_orphans_.store(orphans_.size() != 0, std::memory_order_relaxed);
    orphans_lock_.unlock();
    r->ring_lock.unlock();
    if (lost) {
        // Out of memory: wait out grace periods and free what is left here, under the ring's
        // lock as anywhere (a flush on another thread may be freeing from it too), until what
        // the frees themselves retire into it is gone as well.
        for (;;) {
            seal(r);
            synchronize(nullptr);
            free_before(r, epoch_.load(std::memory_order_acquire));
            if (ring_size(r) == 0) {
                break;
            }
        }
    }
    r->since_reclaim = 0;
    r->nesting = 0;
    r->transient = false;
    if (cached_record_ == r) {
        cached_domain_ = nullptr;
    }
    // release: the next owner (its acquire in attach) sees the record as we left it.
    r->in_use.store(false, std::memory_order_release);
}

} // namespace weakref::detail
