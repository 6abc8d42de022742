// SPDX-License-Identifier: MIT
// single_flight: get_or_insert's once-per-key creation, shared by every container that has one.
#pragma once

#include "config.hpp"
#include "locks.hpp"
#include "policy.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace weakref::detail {

/// One creation in flight for one key, registered in its shard (under the shard lock) while
/// its factory runs outside every lock. `Result` is what every caller for the key receives: a
/// strong ref (weak_value_map, weak_interner) or a copy of the value (weak_key_map).
template <class Policy, class Result> struct creation {
    creation* next = nullptr;
    std::size_t hash = 0;
    typename Policy::thread_id owner = Policy::this_thread();
    unsigned users = 1; // the creator and its waiters; the last one frees it
    bool done = false;  // set with `result` (empty if the creation failed or made nothing)
    std::optional<Result> result;
    // The creator's flag, on its stack, that publish sets: from then on the node may be freed
    // by the last waiter, and an exception the creator's run throws afterwards (a V's move
    // into the return value, say) must not withdraw it.
    bool* published = nullptr;

    creation() = default;
    creation(const creation&) = delete;
    creation& operator=(const creation&) = delete;
    virtual ~creation() = default; // the container's creation adds the key it is for
};

/// The machinery, on a shard of a weak_table: its `creating` list (under the shard lock) and
/// its waiters' condition, made on first wait.
///
/// Guarantees, for every container that uses it: concurrent callers for one key run the
/// factory once and all receive its result; the factory runs outside every lock, so a slow
/// factory blocks no other key (and no reader); if it throws, the exception reaches the caller
/// that ran it, nothing is inserted, and the waiters try again themselves; a factory that
/// calls get_or_insert for its own key gets std::logic_error instead of a deadlock.
template <class Policy, class Shard, class Result> class single_flight {
public:
    using node = creation<Policy, Result>;
    using lock_type = unique_lock<typename Shard::mutex_type>;

    /// The protocol. Under the shard lock, `lookup()` returns the key's live result if it has
    /// one (an empty optional otherwise) and `same(const node&)` tells a creation for this key.
    /// `prepare()` (no lock held; may throw) makes this caller's node. `run(node&)` (no lock
    /// held) runs the factory and, under the lock it takes itself, inserts, sets the node's
    /// result and calls `publish`; it returns the result for its caller. If `run` throws, the
    /// node is withdrawn here and the waiters woken.
    template <class Lookup, class Same, class Prepare, class Run>
    static Result get_or_create(Shard& s, std::size_t h, Lookup&& lookup, Same&& same,
                                Prepare&& prepare, Run&& run) {
        std::unique_ptr<node> mine; // freed, if unused, after every lock below
        // Declared before the lock, so that whatever it holds (a ref, a copy of a value) is
        // destroyed after the lock is released.
        std::optional<Result> out;
        for (;;) {
            lock_type lock(s.mutex);
            take(out, lookup());
            if (out) {
                break;
            }
            if (node* other = find(s, h, same)) {
                if (other->owner == Policy::this_thread()) {
                    detail::throw_logic_error(
                        "weakref: get_or_insert re-entered for the key it is creating");
                }
                take(out, wait_for(s, lock, other));
                if (out) {
                    break;
                }
                continue; // the creation failed or made nothing: try ourselves
            }
            if (!mine) {
                lock.unlock();
                mine = prepare(); // copies the key: may throw
                mine->hash = h;
                continue; // look again: someone may have inserted or started meanwhile
            }
            mine->next = static_cast<node*>(s.creating);
            s.creating = mine.get();
            lock.unlock();
            node& c = *mine.release();
            bool published = false;
            c.published = &published;
            WEAKREF_TRY { return run(c); }
            WEAKREF_CATCH_ALL {
                if (!published) {
                    withdraw(s, c); // else c belongs to its waiters (or is freed already)
                }
                WEAKREF_RETHROW;
            }
        }
        return std::move(*out);
    }

    /// Under the lock: takes `c` off the shard's list, marks it done (its result set or not)
    /// and wakes the waiters. Then the caller drops its use with `leave`, after the lock if it
    /// is the last (the result may be a ref whose release must not run under the lock).
    static void publish(Shard& s, node& c) noexcept {
        for (void** at = &s.creating; *at != nullptr;
             at = reinterpret_cast<void**>(&static_cast<node*>(*at)->next)) {
            if (*at == &c) {
                *at = c.next;
                break;
            }
        }
        c.done = true;
        if (c.published != nullptr) {
            *c.published = true; // the creator's own thread: it runs publish
        }
        if (s.waiters != nullptr) {
            s.waiters->notify_all();
        }
    }

    /// Drops one use of `c` under `lock`; the last frees it after releasing the lock (its
    /// result may be a ref or a V whose destruction must not run under it), and returns true:
    /// the lock is then no longer held.
    static bool leave(lock_type& lock, node& c) noexcept {
        if (--c.users != 0) {
            return false;
        }
        lock.unlock();
        delete &c;
        return true;
    }

private:
    /// `out = from`, for a Result that is copy-constructible but not assignable (a V of a
    /// weak_key_map may be either).
    static void take(std::optional<Result>& out, std::optional<Result>&& from) {
        out.reset();
        if (from) {
            out.emplace(std::move(*from));
        }
    }

    template <class Same> static node* find(Shard& s, std::size_t h, Same& same) {
        for (auto* c = static_cast<node*>(s.creating); c != nullptr; c = c->next) {
            if (c->hash == h && same(*c)) {
                return c;
            }
        }
        return nullptr;
    }

    /// Waits, under `lock`, for `c` to finish; returns its result (empty if it failed). The
    /// lock is held again on return.
    static std::optional<Result> wait_for(Shard& s, lock_type& lock, node* c) {
        if constexpr (Policy::thread_safe) {
            if (s.waiters == nullptr) {
                s.waiters = new condition_variable(); // may throw: before this waiter counts
            }
        }
        ++c->users;
        if constexpr (Policy::thread_safe) {
            while (!c->done) {
                s.waiters->wait(lock);
            }
        } else {
            WEAKREF_ASSERT(c->done, "a single-threaded container waited for a creation");
        }
        std::optional<Result> result;
        WEAKREF_TRY {
            if (c->result) {
                result.emplace(*c->result); // may copy a V: allowed under the shard lock
            }
        }
        WEAKREF_CATCH_ALL {
            drop_waiter(lock, c); // the copy threw: this waiter's use ends all the same
            WEAKREF_RETHROW;
        }
        drop_waiter(lock, c);
        return result;
    }

    /// A waiter's use of `c` ends, under `lock` (see leave), which is held again on return.
    static void drop_waiter(lock_type& lock, node* c) noexcept {
        if (leave(lock, *c)) {
            lock.lock();
        }
    }

    /// A failed creation: publish it with no result, without the lock on entry.
    static void withdraw(Shard& s, node& c) noexcept {
        lock_type lock(s.mutex);
        WEAKREF_ASSERT(!c.result, "a failed creation with a result");
        publish(s, c);
        leave(lock, c);
    }
};

} // namespace weakref::detail
