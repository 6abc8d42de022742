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

namespace weakref::detail {

[[noreturn]] inline void assert_fail(const char* cond, const char* message, const char* file,
                                     int line) noexcept {
    std::fprintf(stderr, "%s:%d: weakref: %s (%s)\n", file, line, message, cond);
    std::abort();
}

} // namespace weakref::detail
