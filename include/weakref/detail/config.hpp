// SPDX-License-Identifier: MIT
// Compiler checks, WEAKREF_ASSERT (the debug-build check behind every documented misuse) and
// WEAKREF_THROW (every exception weakref raises, with or without -fno-exceptions).
#pragma once

#if __cplusplus < 201703L
#error "weakref needs C++17 or later"
#endif

#include <cstdio>
#include <cstdlib>

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define WEAKREF_HAS_EXCEPTIONS 1
#else
#define WEAKREF_HAS_EXCEPTIONS 0
#endif

#if defined(__cpp_rtti) || defined(__GXX_RTTI)
#define WEAKREF_HAS_RTTI 1
#else
#define WEAKREF_HAS_RTTI 0
#endif

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

/// Whether debug builds stop a weakref::local:: container used by a thread that does not own
/// it (see thread_owner in policy.hpp). 1 unless NDEBUG is defined; define it to 0 or 1 before
/// including weakref to choose. It changes no type's layout, so translation units that
/// disagree link and run together; a call is checked where the definition the linker kept is.
#ifndef WEAKREF_CHECK_THREADS
#ifdef NDEBUG
#define WEAKREF_CHECK_THREADS 0
#else
#define WEAKREF_CHECK_THREADS 1
#endif
#endif

/// How weakref raises an exception. With exceptions, `throw e`. Without (-fno-exceptions), the
/// program ends: weakref::detail::no_exceptions prints
/// `weakref: exception with exceptions disabled: <e.what()>` to stderr and calls std::abort().
///
/// To handle it yourself, as with Boost's BOOST_NO_EXCEPTIONS, define WEAKREF_THROW_HANDLER for
/// the whole program (on the command line: every translation unit must agree) and define, once,
///
///     void weakref::throw_handler(const std::exception& e) { /* report e.what(), then end */ }
///
/// Without exceptions weakref calls it, in place of the message above, where it would throw;
/// should it return, weakref calls std::abort(). With exceptions the macro changes nothing
/// (weakref throws), so one handler serves both builds of a program.
///
/// To route every throw elsewhere in every build, define WEAKREF_THROW(e) before including
/// weakref; a replacement must not return.
#ifdef WEAKREF_THROW_HANDLER
#include <exception>
namespace weakref {
/// Called, where weakref would throw `e`, when exceptions are off and WEAKREF_THROW_HANDLER
/// is defined. Declared by weakref, defined by the user; may run on any thread.
void throw_handler(const std::exception& e);
} // namespace weakref
#endif

// std::invalid_argument and std::logic_error, the standard exceptions weakref throws with a
// message, live in <stdexcept>, which brings all of <string>: about half the compile time of
// <memory> and <unordered_map>, for throws a program rarely takes. libstdc++ declares, in
// <bits/functexcept.h> (which <memory> and <new> include anyway), the functions through which
// its own containers throw them; with exceptions on and weakref's own WEAKREF_THROW, weakref
// throws through those. Otherwise (libc++, MSVC, -fno-exceptions, a WEAKREF_THROW of the
// user's, which is handed the exception object) it builds the exception from <stdexcept>.
#if defined(__has_include)
#if WEAKREF_HAS_EXCEPTIONS && !defined(WEAKREF_THROW) && defined(__GLIBCXX__) &&                   \
    __has_include(<bits/functexcept.h>)
#include <bits/functexcept.h>
#define WEAKREF_THROW_VIA_LIBSTDCXX 1
#endif
#endif
#ifndef WEAKREF_THROW_VIA_LIBSTDCXX
#include <stdexcept>
#endif

#ifndef WEAKREF_THROW
#define WEAKREF_THROW_IS_WEAKREFS 1 // not the user's (see the throwing helpers below)
#if WEAKREF_HAS_EXCEPTIONS
#define WEAKREF_THROW(e) throw e
#else
#define WEAKREF_THROW(e) ::weakref::detail::no_exceptions(e)
#endif
#endif

// try/catch that compile away without exceptions: nothing can be thrown then, so the handler
// (which cleans up and rethrows) never runs.
#if WEAKREF_HAS_EXCEPTIONS
#define WEAKREF_TRY try
#define WEAKREF_CATCH_ALL catch (...)
#define WEAKREF_RETHROW throw
#else
#define WEAKREF_TRY if (true)
#define WEAKREF_CATCH_ALL else
#define WEAKREF_RETHROW static_cast<void>(0)
#endif

/// Keeps a rarely taken path out of the inlined fast path of its caller.
#if defined(__GNUC__) || defined(__clang__)
#define WEAKREF_NOINLINE __attribute__((noinline))
#define WEAKREF_ALWAYS_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define WEAKREF_NOINLINE __declspec(noinline)
#define WEAKREF_ALWAYS_INLINE __forceinline
#else
#define WEAKREF_NOINLINE
#define WEAKREF_ALWAYS_INLINE inline
#endif

/// Default visibility for the little state that should be one per process (the epoch
/// domain, the thread-local teardown queue): shared libraries built with -fvisibility=hidden
/// then share it. Correctness never depends on it (tables remember their own domain); it
/// only makes the sharing the common case.
#if defined(__GNUC__) || defined(__clang__)
#define WEAKREF_EXPORT __attribute__((visibility("default")))
#else
#define WEAKREF_EXPORT
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

/// Ends the program with a message that cannot wait (a count about to wrap, say): in every
/// build, as Rust's Arc aborts on a reference count overflow.
[[noreturn]] WEAKREF_NOINLINE inline void fatal(const char* message) noexcept {
    std::fprintf(stderr, "weakref: fatal: %s\n", message);
    std::abort();
}

// no_exceptions and the two helpers below are plain inline functions whose bodies depend on
// how this translation unit throws: through libstdc++, with a throw expression, without exceptions
// (no_exceptions, with or without the user's handler), or through a WEAKREF_THROW of the
// user's. The inline namespace names them after that choice, so that translation units that
// choose differently (one built with -fno-exceptions, another with the user's WEAKREF_THROW)
// link distinct helpers instead of the linker keeping one body for all of them.
#if defined(WEAKREF_THROW_VIA_LIBSTDCXX)
#define WEAKREF_THROWING_HELPERS throw_via_libstdcxx
#elif !defined(WEAKREF_THROW_IS_WEAKREFS)
#define WEAKREF_THROWING_HELPERS throw_through_user_macro
#elif WEAKREF_HAS_EXCEPTIONS
#define WEAKREF_THROWING_HELPERS throw_expression
#elif defined(WEAKREF_THROW_HANDLER)
#define WEAKREF_THROWING_HELPERS throw_to_user_handler
#else
#define WEAKREF_THROWING_HELPERS throw_without_exceptions
#endif
inline namespace WEAKREF_THROWING_HELPERS {

/// What WEAKREF_THROW does without exceptions: the user's weakref::throw_handler if
/// WEAKREF_THROW_HANDLER is defined, else the exception's message; then std::abort().
template <class E> [[noreturn]] void no_exceptions(const E& e) noexcept {
#ifdef WEAKREF_THROW_HANDLER
    ::weakref::throw_handler(e);
#else
    std::fprintf(stderr, "weakref: exception with exceptions disabled: %s\n", e.what());
#endif
    std::abort(); // also after a handler that returned: the caller cannot go on
}

/// Throws std::invalid_argument(what): a precondition on an argument that the caller broke.
[[noreturn]] WEAKREF_NOINLINE inline void throw_invalid_argument(const char* what) {
#ifdef WEAKREF_THROW_VIA_LIBSTDCXX
    std::__throw_invalid_argument(what);
#else
    WEAKREF_THROW(std::invalid_argument(what));
#endif
}

/// Throws std::logic_error(what): a call that cannot be served as made (a re-entry, say).
[[noreturn]] WEAKREF_NOINLINE inline void throw_logic_error(const char* what) {
#ifdef WEAKREF_THROW_VIA_LIBSTDCXX
    std::__throw_logic_error(what);
#else
    WEAKREF_THROW(std::logic_error(what));
#endif
}

} // namespace WEAKREF_THROWING_HELPERS
#undef WEAKREF_THROWING_HELPERS

} // namespace weakref::detail
