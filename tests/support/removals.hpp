// SPDX-License-Identifier: MIT
// What a container's removal listener (on_remove) was told: a log that tests read back.
#pragma once

#include "catch.hpp"

#include <weakref/weakref.hpp>

#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace wrtest {

inline const char* cause_name(weakref::removal_cause c) noexcept {
    switch (c) {
    case weakref::removal_cause::died:
        return "died";
    case weakref::removal_cause::erased:
        return "erased";
    case weakref::removal_cause::replaced:
        return "replaced";
    case weakref::removal_cause::cleared:
        return "cleared";
    }
    return "(not a removal_cause)";
}

/// The notices one or more listeners gave, in order: what was removed (a key, a key object's
/// address, an element's address, or anything the listener makes of its arguments), why, and
/// on which thread. Thread-safe, so that listeners on several threads may record into one log.
template <class What> class removal_log {
public:
    struct notice {
        What what;
        weakref::removal_cause cause;
        std::thread::id thread;
    };

    void record(What what, weakref::removal_cause cause) {
        std::lock_guard<std::mutex> lock(mutex_);
        notices_.push_back(notice{std::move(what), cause, std::this_thread::get_id()});
    }

    [[nodiscard]] std::size_t size() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return notices_.size();
    }
    [[nodiscard]] bool empty() const { return size() == 0; }
    /// Notices with this cause.
    [[nodiscard]] std::size_t count(weakref::removal_cause cause) const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t n = 0;
        for (const notice& x : notices_) {
            n += x.cause == cause ? 1 : 0;
        }
        return n;
    }
    /// Notices about `what`, with this cause.
    [[nodiscard]] std::size_t count(const What& what, weakref::removal_cause cause) const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t n = 0;
        for (const notice& x : notices_) {
            n += x.what == what && x.cause == cause ? 1 : 0;
        }
        return n;
    }
    /// Notices about `what`, whatever the cause.
    [[nodiscard]] std::size_t count_of(const What& what) const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t n = 0;
        for (const notice& x : notices_) {
            n += x.what == what ? 1 : 0;
        }
        return n;
    }
    [[nodiscard]] std::vector<notice> notices() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return notices_;
    }
    /// The causes, in order.
    [[nodiscard]] std::vector<weakref::removal_cause> causes() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<weakref::removal_cause> out;
        for (const notice& x : notices_) {
            out.push_back(x.cause);
        }
        return out;
    }
    /// The last notice; the log must not be empty.
    [[nodiscard]] notice last() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return notices_.back();
    }
    void clear() {
        std::lock_guard<std::mutex> lock(mutex_);
        notices_.clear();
    }

private:
    mutable std::mutex mutex_;
    std::vector<notice> notices_;
};

} // namespace wrtest

// Catch prints a removal_cause by name.
namespace Catch {
template <> struct StringMaker<weakref::removal_cause> {
    static std::string convert(weakref::removal_cause c) { return wrtest::cause_name(c); }
};
} // namespace Catch
