// SPDX-License-Identifier: MIT
// weak_table: the one hash table that weak_value_map, weak_key_map and weak_set are built on.
#pragma once

#include "../ref.hpp"
#include "config.hpp"
#include "control_block.hpp"
#include "death_hooks.hpp"
#include "policy.hpp"
#include "teardown.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <mutex>
#include <new>
#include <utility>

namespace weakref::detail {

/// A lock that is never taken: the local flavour's mutex.
struct null_mutex {
    void lock() noexcept {}
    bool try_lock() noexcept { return true; }
    void unlock() noexcept {}
};

/// A condition that is never waited on: with one thread, nobody else could signal it.
struct null_condition {
    template <class Lock> void wait(Lock& /*unused*/) noexcept {}
    void notify_all() noexcept {}
};

/// The locks of a table, by flavour: shard mutexes and the condition get_or_insert waiters
/// sleep on (the only place weakref blocks a thread), and how many shards.
template <class Policy> struct table_locks {
    using mutex = std::mutex;
    using condition = std::condition_variable;
    /// Containers split their entries over 2^shard_bits independently locked shards, so that
    /// threads working on different keys rarely meet on one mutex.
    static constexpr unsigned shard_bits = 4;
};
template <> struct table_locks<local_policy> {
    using mutex = null_mutex;
    using condition = null_condition;
    static constexpr unsigned shard_bits = 0;
};

/// What every entry of a weak table holds: the death hook that removes it, its place in its
/// bucket's chain, its hash, and its referent, on whose control block it holds one weak count
/// (so the block, and the hook list the entry sits in, outlive the entry).
///
/// The entry is the hook (a base, not a member), so the table gets from one to the other with
/// a static_cast. 24 + 8 + 8 + 8 bytes before the container's own fields.
template <class Policy> struct table_entry : death_hook<Policy> {
    table_entry(hook_sink<Policy>* sink, void* object, std::size_t hash) noexcept
        : death_hook<Policy>(sink), hash_(hash), object_(object) {
        // relaxed: the caller holds a strong ref to the referent (see control_block).
        block()->add_weak();
    }
    table_entry(const table_entry&) = delete;
    table_entry& operator=(const table_entry&) = delete;
    ~table_entry() { block()->release_weak(); }

    [[nodiscard]] control_block<Policy>* block() const noexcept {
        return control_block<Policy>::of(object_);
    }

    // The next entry of the bucket; orphan_mark once the entry left the table while its death
    // was already running on another thread (see weak_table::retire). Guarded by the shard lock.
    table_entry* next_ = nullptr;
    const std::size_t hash_;
    // The referent. Changed only by weak_table::retarget, under the shard lock, while the
    // entry is on no hook list.
    void* object_;
};

/// A pending get_or_insert creation, registered in its shard while the factory runs outside
/// every lock. The container that uses it derives from it.
struct creation_link {
    creation_link* next_ = nullptr;
    std::size_t hash_ = 0;
};

/// The table behind one container: entries in 2^table_locks::shard_bits shards, each a
/// separately locked chained hash table. Heap-allocated and shared with the deaths in flight:
/// the container holds one unit of `holders_`, and each entry handed to a death that is already
/// running on another thread holds one more, so the table outlives every callback that will
/// still reach it, even when the container is gone.
///
/// Locks: a shard lock may be held while a hook lock (a leaf) is taken, never the reverse; two
/// shard locks are taken only by lock_all, in index order. No destructor, callback or
/// deallocation runs under a shard lock: what leaves the table goes to a `graveyard` declared
/// before the lock, which frees it after the lock is released.
template <class Entry, class Policy> class weak_table : public hook_sink<Policy> {
public:
    using entry_base = table_entry<Policy>;
    using mutex_type = typename table_locks<Policy>::mutex;
    using lock_type = std::unique_lock<mutex_type>;

    static constexpr unsigned shard_bits = table_locks<Policy>::shard_bits;
    static constexpr std::size_t shard_count = std::size_t{1} << shard_bits;

    struct alignas(64) shard {
        mutable mutex_type mutex;
        typename table_locks<Policy>::condition creation_done; // get_or_insert waiters sleep here
        entry_base** buckets = nullptr;                        // 2^bucket_bits chains, or none yet
        unsigned bucket_bits = 0;
        typename Policy::template cell<std::size_t> size{0}; // written under `mutex`
        creation_link* creating = nullptr;                   // get_or_insert in flight
        std::size_t changes = 0; // entries linked or unlinked: begin()/end() checks
    };

    /// Entries taken out of the table under a lock, and the weak count of a referent an entry
    /// let go of (retarget), released when it goes out of scope: declare it before the lock,
    /// so that it is destroyed after the lock is released.
    class graveyard {
    public:
        graveyard() = default;
        graveyard(const graveyard&) = delete;
        graveyard& operator=(const graveyard&) = delete;
        ~graveyard() {
            while (first_ != nullptr) {
                entry_base* e = std::exchange(first_, first_->next_);
                // Runs the referent's release_weak and, for weak_key_map, the value's
                // destructor; either may re-enter the table.
                delete static_cast<Entry*>(e);
            }
            if (weak_unit_ != nullptr) {
                weak_unit_->release_weak(); // may free the block, through the user's allocator
            }
        }
        void bury(entry_base* e) noexcept {
            e->next_ = first_;
            first_ = e;
        }
        void release_weak_later(control_block<Policy>* block) noexcept {
            WEAKREF_ASSERT(weak_unit_ == nullptr, "one deferred weak release per graveyard");
            weak_unit_ = block;
        }

    private:
        entry_base* first_ = nullptr;
        control_block<Policy>* weak_unit_ = nullptr;
    };

    weak_table() noexcept : hook_sink<Policy>{&remove_of, &finish_of} {}
    weak_table(const weak_table&) = delete;
    weak_table& operator=(const weak_table&) = delete;
    ~weak_table() {
        for (shard& s : shards_) {
            WEAKREF_ASSERT(s.size.load(std::memory_order_relaxed) == 0,
                           "a weak table freed with entries");
            delete[] s.buckets;
        }
    }

    // --- Hashing ---------------------------------------------------------------------------

    /// Spreads a user hash over all bits (std::hash<int> is the identity): multiplication by
    /// 2^64 / phi, then the shard from the top bits and the bucket from the bits below them.
    static std::size_t mix(std::size_t h) noexcept {
        return static_cast<std::size_t>(static_cast<std::uint64_t>(h) * 0x9E3779B97F4A7C15ULL);
    }
    static constexpr unsigned size_bits = std::numeric_limits<std::size_t>::digits;

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
    static std::size_t bucket_of(std::size_t h, unsigned bucket_bits) noexcept {
        return (mix(h) << shard_bits) >> (size_bits - bucket_bits);
    }

    // --- Operations under the shard lock -----------------------------------------------------

    /// The entry of `s` with hash `h` that `match` accepts, dead or alive; null if none.
    template <class Match> static Entry* find(const shard& s, std::size_t h, Match&& match) {
        if (s.buckets == nullptr) {
            return nullptr;
        }
        for (entry_base* e = s.buckets[bucket_of(h, s.bucket_bits)]; e != nullptr; e = e->next_) {
            if (e->hash_ == h && match(*static_cast<Entry*>(e))) {
                return static_cast<Entry*>(e);
            }
        }
        return nullptr;
    }

    /// Makes room for one more entry in `s`; throws std::bad_alloc and changes nothing if the
    /// bucket array cannot grow. Load factor at most 1.
    static void reserve_one(shard& s) {
        const std::size_t size = s.size.load(std::memory_order_relaxed);
        if (s.buckets != nullptr && size < (std::size_t{1} << s.bucket_bits)) {
            return;
        }
        const unsigned bits = s.buckets == nullptr ? 3U : s.bucket_bits + 1U;
        auto* fresh = new entry_base*[std::size_t{1} << bits]();
        if (s.buckets != nullptr) {
            for (std::size_t b = 0; b < (std::size_t{1} << s.bucket_bits); ++b) {
                for (entry_base* e = s.buckets[b]; e != nullptr;) {
                    entry_base* next = e->next_;
                    entry_base*& head = fresh[bucket_of(e->hash_, bits)];
                    e->next_ = head;
                    head = e;
                    e = next;
                }
            }
            delete[] s.buckets;
        }
        s.buckets = fresh;
        s.bucket_bits = bits;
    }

    /// Puts a new entry into `s` (after reserve_one) and arms its death hook. The caller holds
    /// a strong ref to the referent.
    static void link(shard& s, entry_base* e) noexcept {
        e->block()->link(e);
        entry_base*& head = s.buckets[bucket_of(e->hash_, s.bucket_bits)];
        e->next_ = head;
        head = e;
        s.size.store(s.size.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        ++s.changes;
        ++linked_here_;
    }

    /// Takes `e` out of `s`'s chains and disarms it: detached, it goes to `grave`; if its death
    /// is already running on another thread, that thread frees it (see on_death_of), and the
    /// table keeps one holder unit for it. Returns whether the hook was detached, i.e. whether
    /// the referent was alive (or at least not yet dying) at this instant.
    bool remove(shard& s, entry_base* e, graveyard& grave) noexcept {
        unchain(s, e);
        return retire(e, grave);
    }

    /// Points entry `e` of `s` at `object` (alive: the caller holds a strong ref) in place of
    /// its referent: same key, same place in its chain, no allocation. The entry's hook moves
    /// from the old referent's list to the new one's, and the old referent's weak count is
    /// dropped after the lock by `grave`. False, and nothing changed, if the old
    /// referent's death already took the hook on another thread: then the caller replaces the
    /// entry, and that death frees the old one.
    bool retarget(shard& s, entry_base* e, void* object, graveyard& grave) noexcept {
        control_block<Policy>* const old_block = e->block();
        if (old_block->detach(e) != detach_result::detached) {
            return false;
        }
        control_block<Policy>* const fresh = control_block<Policy>::of(object);
        fresh->add_weak();
        e->object_ = object;
        fresh->link(e);
        grave.release_weak_later(old_block);
        ++s.changes;
        return true;
    }

    /// remove() for every entry of `s`.
    void remove_all(shard& s, graveyard& grave) noexcept {
        if (s.buckets == nullptr) {
            return;
        }
        for (std::size_t b = 0; b < (std::size_t{1} << s.bucket_bits); ++b) {
            for (entry_base* e = std::exchange(s.buckets[b], nullptr); e != nullptr;) {
                entry_base* next = e->next_;
                retire(e, grave);
                e = next;
            }
        }
        s.size.store(0, std::memory_order_relaxed);
        ++s.changes;
    }

    /// Calls f(entry) for every entry of `s`, dead or alive.
    template <class F> static void for_each(const shard& s, F&& f) {
        if (s.buckets == nullptr) {
            return;
        }
        for (std::size_t b = 0; b < (std::size_t{1} << s.bucket_bits); ++b) {
            for (entry_base* e = s.buckets[b]; e != nullptr; e = e->next_) {
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

    /// Empties the table, shard by shard, freeing each shard's entries after its lock.
    /// Repeats the pass while the destructors it ran put entries back (a weak_key_map value
    /// may), but not for entries other threads insert meanwhile: those may stay, and clear()
    /// cannot be kept from returning by a busy inserter.
    void clear() noexcept {
        std::size_t before = 0;
        do {
            before = linked_here_;
            for (shard& s : shards_) {
                graveyard grave;
                std::lock_guard<mutex_type> lock(s.mutex);
                remove_all(s, grave);
            }
        } while (linked_here_ != before && size() != 0);
    }

    /// The container lets go of the table: empties it, and frees it unless deaths in flight
    /// still hold it (the last of them frees it then). No other thread uses the container now.
    void release() noexcept {
        do {
            clear();
        } while (size() != 0);
        release_holder();
    }

private:
    // Entries this thread has linked into tables of this type, for clear() to tell the
    // entries its own destructors put back from those other threads insert.
    static inline thread_local std::size_t linked_here_ = 0;

    static entry_base* orphan_mark() noexcept {
        return reinterpret_cast<entry_base*>(alignof(entry_base));
    }

    static void unchain(shard& s, entry_base* e) noexcept {
        entry_base** at = &s.buckets[bucket_of(e->hash_, s.bucket_bits)];
        while (*at != e) {
            WEAKREF_ASSERT(*at != nullptr, "a weak table entry missing from its chain");
            at = &(*at)->next_;
        }
        *at = e->next_;
        s.size.store(s.size.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        ++s.changes;
    }

    bool retire(entry_base* e, graveyard& grave) noexcept {
        switch (e->block()->detach(e)) {
        case detach_result::detached:
            grave.bury(e);
            return true;
        case detach_result::running:
            // The death thread took the hook before we took the entry: it is waiting for this
            // shard's lock in on_death_of, and will find the mark and free the entry. It needs
            // the table until then.
            e->next_ = orphan_mark();
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

    /// Pass 1 of the death of an entry's referent (see hook_sink): the entry leaves its shard,
    /// on the thread that released the last strong ref, before any user code of the death.
    static bool remove_of(hook_sink<Policy>* sink, death_hook<Policy>* hook) noexcept {
        auto* table = static_cast<weak_table*>(sink);
        auto* e = static_cast<entry_base*>(hook);
        shard& s = table->shard_for(e->hash_);
        std::lock_guard<mutex_type> lock(s.mutex);
        if (e->next_ != orphan_mark()) {
            unchain(s, e);
            e->next_ = nullptr;
        }
        return true;
    }

    /// Pass 2: the entry is freed (the key's or value's destructor may use the container; it
    /// is put off like any destructor where the stack is nearly used up, see teardown), and an
    /// orphan's unit on the table dropped.
    static void finish_of(hook_sink<Policy>* /*sink*/, death_hook<Policy>* hook) noexcept {
        teardown::run<&free_dead_entry>(static_cast<entry_base*>(hook));
    }
    static void free_dead_entry(void* p) noexcept {
        auto* e = static_cast<entry_base*>(p);
        auto* table = static_cast<weak_table*>(e->sink());
        const bool orphan = e->next_ == orphan_mark();
        delete static_cast<Entry*>(e);
        if (orphan) {
            table->release_holder();
        }
    }

    shard shards_[shard_count];
    // The container's unit, plus one per orphaned entry whose death is still running.
    typename Policy::template cell<std::size_t> holders_{1};
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
            settle(first_bucket());
        }
    }

    [[nodiscard]] const entry_base* entry() const noexcept {
        check();
        return entry_;
    }
    [[nodiscard]] const entry_base* entry_or_null() const noexcept { return entry_; }
    /// Accepts the table's changes since the last check (see table_iterator::operator++).
    void resync() noexcept {
        if (table_ != nullptr) {
            changes_ = shard().changes;
        }
    }
    void next() noexcept {
        check();
        if (entry_->next_ != nullptr) {
            entry_ = entry_->next_;
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
    static constexpr std::size_t first_bucket() noexcept { return 0; }

    void check() const noexcept {
        WEAKREF_ASSERT(table_ != nullptr && shard().changes == changes_,
                       "a weak container changed while an iterator was in use: iterate over "
                       "items() or keys() to change it in the loop");
    }

    void settle(std::size_t bucket) noexcept {
        const auto& s = shard();
        const std::size_t count = s.buckets == nullptr ? 0 : std::size_t{1} << s.bucket_bits;
        for (; bucket < count; ++bucket) {
            if (s.buckets[bucket] != nullptr) {
                bucket_ = bucket;
                entry_ = s.buckets[bucket];
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
        // iterator's own, and leaves the entry it now holds in place.
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
        if (e != nullptr && e->block()->try_add_strong()) {
            current_ = Ref(static_cast<typename Ref::element_type*>(e->object_), adopt);
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
            Table* mine = table_.exchange(other.take(), std::memory_order_acq_rel);
            if (mine != nullptr) {
                mine->release();
            }
        }
        return *this;
    }
    ~table_handle() {
        if (Table* t = table_.load(std::memory_order_acquire)) {
            t->release();
        }
    }

    void swap(table_handle& other) noexcept {
        Table* a = table_.load(std::memory_order_acquire);
        Table* b = other.table_.load(std::memory_order_acquire);
        table_.store(b, std::memory_order_release);
        other.table_.store(a, std::memory_order_release);
    }

    /// The table, or null before the first insertion.
    [[nodiscard]] Table* get() const noexcept {
        // acquire: pairs with the release of the thread that created it.
        return table_.load(std::memory_order_acquire);
    }

    /// The table, created if needed; throws std::bad_alloc.
    Table& ensure() {
        Table* t = table_.load(std::memory_order_acquire);
        if (t != nullptr) {
            return *t;
        }
        auto* fresh = new Table();
        // acq_rel: release publishes the new table; acquire, on failure, sees the winner's.
        if (table_.compare_exchange_strong(t, fresh, std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
            return *fresh;
        }
        fresh->release();
        return *t;
    }

private:
    Table* take() noexcept { return table_.exchange(nullptr, std::memory_order_acq_rel); }

    typename Policy::template cell<Table*> table_{nullptr};
};

} // namespace weakref::detail
