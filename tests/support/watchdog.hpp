// SPDX-License-Identifier: MIT
// A watchdog for thread tests: a deadlock stops the program with a message instead of hanging.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace wrtest {

/// Watches one test case from its own thread. If the case has not destroyed the watchdog
/// within `limit`, it prints the case and the phase last set, then calls std::abort(): a
/// deadlocked thread cannot be recovered, and a hung CI job tells nobody where it hung.
///
///     wrtest::watchdog dog("get_or_insert racing", std::chrono::seconds(60));
///     dog.phase("erase against death");
///
/// The environment variable WEAKREF_WATCHDOG_SECONDS, where set to a positive number,
/// replaces every limit (for slow machines or debuggers).
class watchdog {
public:
    explicit watchdog(const char* test, std::chrono::seconds limit = std::chrono::seconds(60))
        : test_(test), limit_(override_or(limit)), thread_([this] { watch(); }) {}
    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;
    ~watchdog() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            done_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }

    /// Names what the test is doing now, for the message; `p` must outlive the watchdog.
    void phase(const char* p) noexcept { phase_.store(p, std::memory_order_relaxed); }

    [[nodiscard]] std::chrono::seconds limit() const noexcept { return limit_; }

private:
    static std::chrono::seconds override_or(std::chrono::seconds limit) noexcept {
        if (const char* s = std::getenv("WEAKREF_WATCHDOG_SECONDS")) {
            const long n = std::strtol(s, nullptr, 10);
            if (n > 0) {
                return std::chrono::seconds(n);
            }
        }
        return limit;
    }

    void watch() {
        std::unique_lock<std::mutex> lock(mutex_);
        if (wake_.wait_for(lock, limit_, [this] { return done_; })) {
            return;
        }
        std::fprintf(stderr,
                     "\nwrtest::watchdog: test \"%s\" did not finish within %lld s, in phase "
                     "\"%s\": a deadlock or a livelock. Aborting instead of hanging.\n",
                     test_, static_cast<long long>(limit_.count()),
                     phase_.load(std::memory_order_relaxed));
        std::fflush(stderr);
        std::abort();
    }

    const char* test_;
    std::chrono::seconds limit_;
    std::atomic<const char*> phase_{"start"};
    std::mutex mutex_;
    std::condition_variable wake_;
    bool done_ = false;
    std::thread thread_; // last: starts once every other member is ready
};

} // namespace wrtest
