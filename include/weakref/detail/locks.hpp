// SPDX-License-Identifier: MIT
// mutex, lock_guard, unique_lock, condition_variable and nap: the blocking pieces of the
// thread-safe flavour, without <mutex>, <condition_variable>, <thread> and <chrono>.
#pragma once

// Why not the standard's: <mutex> brings <system_error> and with it <stdexcept> and all of
// <string>; <condition_variable> and <thread> bring <chrono> as well. Together they cost about
// as much to compile as <memory> and <unordered_map>, for a lock that is, on every POSIX system,
// a pthread mutex underneath. Where <pthread.h> is there (policy.hpp decides), these are thin
// wrappers over it, with the standard's names and members, so that code reads as if it used
// std's; elsewhere they are std's.
#include "config.hpp"
#include "policy.hpp"

#ifdef WEAKREF_HAS_PTHREAD
#include <cerrno>
#include <ctime>
#else
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#endif

namespace weakref::detail {

#ifdef WEAKREF_HAS_PTHREAD

/// A pthread mutex (the default kind: not recursive, like std::mutex). Constant-initialised, so
/// a static one is ready before any constructor runs. ThreadSanitizer knows its operations.
class mutex {
public:
    constexpr mutex() noexcept = default;
    mutex(const mutex&) = delete;
    mutex& operator=(const mutex&) = delete;
    // No pthread_mutex_destroy: a mutex made with PTHREAD_MUTEX_INITIALIZER needs none, and
    // the destructor stays trivial, as libstdc++'s std::mutex's is.
    ~mutex() = default;

    /// Fails only on misuse (a default mutex locked twice by one thread may deadlock, as
    /// std::mutex may); an error code is a broken invariant, so the program stops.
    void lock() noexcept {
        if (pthread_mutex_lock(&m_) != 0) {
            fatal("pthread_mutex_lock failed");
        }
    }
    bool try_lock() noexcept { return pthread_mutex_trylock(&m_) == 0; }
    void unlock() noexcept { pthread_mutex_unlock(&m_); }

private:
    friend class condition_variable;
    pthread_mutex_t m_ = PTHREAD_MUTEX_INITIALIZER;
};

#else

using mutex = std::mutex;

#endif

/// Holds `m` locked for its scope: std::lock_guard for any type with lock() and unlock().
template <class Mutex> class lock_guard {
public:
    explicit lock_guard(Mutex& m) noexcept(noexcept(m.lock())) : m_(m) { m_.lock(); }
    lock_guard(const lock_guard&) = delete;
    lock_guard& operator=(const lock_guard&) = delete;
    ~lock_guard() { m_.unlock(); }

private:
    Mutex& m_;
};

/// A lock that may be let go and taken again before its scope ends: the members of
/// std::unique_lock that weakref uses.
template <class Mutex> class unique_lock {
public:
    explicit unique_lock(Mutex& m) noexcept(noexcept(m.lock())) : m_(&m) { lock(); }
    unique_lock(const unique_lock&) = delete;
    unique_lock& operator=(const unique_lock&) = delete;
    ~unique_lock() {
        if (owns_) {
            m_->unlock();
        }
    }

    void lock() noexcept(noexcept(m_->lock())) {
        WEAKREF_ASSERT(!owns_, "a unique_lock locked twice");
        m_->lock();
        owns_ = true;
    }
    void unlock() noexcept {
        WEAKREF_ASSERT(owns_, "a unique_lock unlocked while not held");
        m_->unlock();
        owns_ = false;
    }
    bool owns_lock() const noexcept { return owns_; }
    Mutex* mutex() const noexcept { return m_; }

private:
    Mutex* m_;
    bool owns_ = false;
};

#ifdef WEAKREF_HAS_PTHREAD

/// A pthread condition variable waited on with a unique_lock<detail::mutex>.
class condition_variable {
public:
    condition_variable() noexcept = default;
    condition_variable(const condition_variable&) = delete;
    condition_variable& operator=(const condition_variable&) = delete;
    ~condition_variable() { pthread_cond_destroy(&c_); }

    /// Releases the lock, sleeps until notified (or spuriously: callers loop on their
    /// condition), and holds the lock again on return.
    void wait(unique_lock<mutex>& lock) noexcept {
        WEAKREF_ASSERT(lock.owns_lock(), "a condition variable waited on without its lock");
        if (pthread_cond_wait(&c_, &lock.mutex()->m_) != 0) {
            fatal("pthread_cond_wait failed");
        }
    }
    void notify_all() noexcept { pthread_cond_broadcast(&c_); }

private:
    pthread_cond_t c_ = PTHREAD_COND_INITIALIZER;
};

/// Sleeps the calling thread for about `microseconds`.
inline void nap(long microseconds) noexcept {
    timespec t{};
    t.tv_sec = microseconds / 1000000;
    t.tv_nsec = (microseconds % 1000000) * 1000;
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
        // interrupted by a signal: sleep what is left
    }
}

#else

/// std::condition_variable_any, since unique_lock here is weakref's own.
class condition_variable {
public:
    void wait(unique_lock<mutex>& lock) { cv_.wait(lock); }
    void notify_all() noexcept { cv_.notify_all(); }

private:
    std::condition_variable_any cv_;
};

inline void nap(long microseconds) noexcept {
    std::this_thread::sleep_for(std::chrono::microseconds(microseconds));
}

#endif

} // namespace weakref::detail
