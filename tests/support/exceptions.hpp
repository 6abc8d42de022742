// SPDX-License-Identifier: MIT
// What the tests do in a build without exceptions or RTTI (-fno-exceptions, -fno-rtti: the
// presets noexc-nortti and clang-noexc-nortti-cxx20).
#pragma once

#include <weakref/detail/config.hpp>

#include <cstdio>
#include <cstdlib>

// WEAKREF_TEST_HAS_EXCEPTIONS, WEAKREF_TEST_HAS_RTTI: 1 where the build has them, as weakref
// itself sees it. What needs one is compiled out where it is 0, never loosened:
//   - a whole case: inside `#if WEAKREF_TEST_HAS_EXCEPTIONS`, tagged [needs-exceptions] (or
//   [needs-rtti]),
//     so that .ci/run can check that the build without runs every other case;
//   - an assertion or a section inside a case that also checks other things: inside the #if,
//     with the rest of the case still run.
#define WEAKREF_TEST_HAS_EXCEPTIONS WEAKREF_HAS_EXCEPTIONS
#define WEAKREF_TEST_HAS_RTTI WEAKREF_HAS_RTTI

// WRTEST_THROW(e): how the tests' own types (tests/support) fail on demand. Only cases that need
// exceptions arm those failures, so without exceptions reaching one is a bug of the test: it
// ends the program, loudly.
#if WEAKREF_TEST_HAS_EXCEPTIONS
#define WRTEST_THROW(e) throw e
#else
#define WRTEST_THROW(e) ::wrtest::no_exceptions(e)
namespace wrtest {
template <class E> [[noreturn]] void no_exceptions(const E& e) noexcept {
    std::fprintf(stderr, "wrtest: a test threw without exceptions: %s\n", e.what());
    std::abort();
}
} // namespace wrtest
#endif
