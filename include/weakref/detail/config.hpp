// SPDX-License-Identifier: MIT
// Compiler checks and WEAKREF_ASSERT, the debug-build check behind every documented misuse.
#pragma once

#if __cplusplus < 201703L
#error "weakref needs C++17 or later"
#endif

#include <cstdio>
#include <cstdlib>

#ifndef WEAKREF_ASSERT
#ifdef NDEBUG
#define WEAKREF_ASSERT(cond, message) static_cast<void>(0)
#else
/// Stops the program with `message` when `cond` is false. Active unless NDEBUG is defined;
/// define WEAKREF_ASSERT before including weakref to route it elsewhere.
#define WEAKREF_ASSERT(cond, message)                                                              \
    ((cond) ? static_cast<void>(0)                                                                 \
            : ::weakref::detail::assert_fail(#cond, message, __FILE__, __LINE__))
#endif
#endif

/// Keeps a rarely taken path out of the inlined fast path of its caller.
#if defined(__GNUC__) || defined(__clang__)
#define WEAKREF_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define WEAKREF_NOINLINE __declspec(noinline)
#else
#define WEAKREF_NOINLINE
#endif

/// A branch the fast path does not take.
#if defined(__GNUC__) || defined(__clang__)
#define WEAKREF_UNLIKELY(cond) __builtin_expect(static_cast<bool>(cond), 0)
#else
#define WEAKREF_UNLIKELY(cond) static_cast<bool>(cond)
#endif

namespace weakref::detail {

[[noreturn]] inline void assert_fail(const char* cond, const char* message, const char* file,
                                     int line) noexcept {
    std::fprintf(stderr, "%s:%d: weakref: %s (%s)\n", file, line, message, cond);
    std::abort();
}

} // namespace weakref::detail
