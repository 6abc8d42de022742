// SPDX-License-Identifier: MIT
// The readable (demangled) name of a type, for printing handles, with or without RTTI.
#pragma once

#include "config.hpp"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#if WEAKREF_HAS_RTTI
#include <typeinfo>
#if defined(__has_include)
#if __has_include(<cxxabi.h>)
#include <cxxabi.h>
#define WEAKREF_HAS_CXXABI 1
#endif
#endif
#endif

namespace weakref::detail {

/// A name made once per type and kept for the program's life (freed at exit, so that leak
/// checkers see nothing). A plain buffer rather than a std::string: printing is the only user,
/// and <string> would cost every translation unit that includes a handle.
class type_name_text {
public:
    explicit type_name_text(char* text) noexcept : text_(text) {}
    type_name_text(const type_name_text&) = delete;
    type_name_text& operator=(const type_name_text&) = delete;
    ~type_name_text() { std::free(text_); }
    const char* c_str() const noexcept { return text_ != nullptr ? text_ : "?"; }

private:
    char* text_;
};

/// A malloc'd copy of the `n` characters at `s`, with GCC's `{anonymous}` spelt as the
/// demangler and Clang spell it, `(anonymous namespace)`, so that a name reads the same with
/// and without RTTI. Null if memory is short (the name then prints as `?`).
inline char* copy_name(const char* s, std::size_t n) noexcept {
    static constexpr char gcc[] = "{anonymous}";
    static constexpr char usual[] = "(anonymous namespace)";
    constexpr std::size_t gcc_size = sizeof gcc - 1;
    constexpr std::size_t usual_size = sizeof usual - 1;
    std::size_t found = 0;
    for (std::size_t i = 0; i + gcc_size <= n; ++i) {
        if (std::memcmp(s + i, gcc, gcc_size) == 0) {
            ++found;
            i += gcc_size - 1;
        }
    }
    auto* out = static_cast<char*>(std::malloc(n + found * (usual_size - gcc_size) + 1));
    if (out == nullptr) {
        return nullptr;
    }
    char* at = out;
    for (std::size_t i = 0; i < n;) {
        if (i + gcc_size <= n && std::memcmp(s + i, gcc, gcc_size) == 0) {
            std::memcpy(at, usual, usual_size);
            at += usual_size;
            i += gcc_size;
        } else {
            *at++ = s[i++];
        }
    }
    *at = '\0';
    return out;
}

#if WEAKREF_HAS_RTTI

/// The demangled form of `mangled`, malloc'd (a copy of `mangled` if it does not demangle).
inline char* demangle(const char* mangled) noexcept {
#ifdef WEAKREF_HAS_CXXABI
    int status = 0;
    char* name = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
    if (status == 0 && name != nullptr) {
        return name;
    }
    std::free(name);
#endif
    return copy_name(mangled, std::strlen(mangled));
}

/// The demangled name of `T`, computed once per type.
template <class T> const type_name_text& type_name() {
    static const type_name_text name(demangle(typeid(T).name()));
    return name;
}

#else

/// The name of `T` as the compiler spells it in a function's signature: GCC's
/// `[with T = NAME; ...]` or `[with T = NAME]`, Clang's `[T = NAME]`. Used without RTTI.
template <class T> const char* signature_of() noexcept {
#if defined(__GNUC__) || defined(__clang__)
    return __PRETTY_FUNCTION__;
#else
    return "";
#endif
}

/// The name in `signature` (see signature_of), malloc'd; "?" if there is none.
inline char* name_in_signature(const char* signature) noexcept {
    const char* const marker = std::strstr(signature, "T = ");
    if (marker == nullptr) {
        return copy_name("?", 1);
    }
    const char* const start = marker + 4;
    // The name ends at the first ';' or ']' outside brackets (template arguments may hold
    // either).
    int depth = 0;
    const char* end = start;
    for (; *end != '\0'; ++end) {
        const char c = *end;
        if (c == '<' || c == '(' || c == '[') {
            ++depth;
        } else if ((c == '>' || c == ')') && depth > 0) {
            --depth;
        } else if ((c == ';' || c == ']') && depth == 0) {
            break;
        } else if (c == ']') {
            --depth;
        }
    }
    return copy_name(start, static_cast<std::size_t>(end - start));
}

/// The name of `T` (from the compiler's function signature, not typeid), computed once per
/// type. Without const or volatile, as typeid names it.
template <class T> const type_name_text& type_name() {
    static const type_name_text name(name_in_signature(signature_of<std::remove_cv_t<T>>()));
    return name;
}

#endif

} // namespace weakref::detail
