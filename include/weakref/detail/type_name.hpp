// SPDX-License-Identifier: MIT
// The readable (demangled) name of a type, for printing handles, with or without RTTI.
#pragma once

#include "config.hpp"

#include <cstddef>
#include <string>
#include <type_traits>

#if WEAKREF_HAS_RTTI
#include <cstdlib>
#include <memory>
#include <typeinfo>
#if defined(__has_include)
#if __has_include(<cxxabi.h>)
#include <cxxabi.h>
#define WEAKREF_HAS_CXXABI 1
#endif
#endif
#endif

namespace weakref::detail {

#if WEAKREF_HAS_RTTI

inline std::string demangle(const char* mangled) {
#ifdef WEAKREF_HAS_CXXABI
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> name(
        abi::__cxa_demangle(mangled, nullptr, nullptr, &status), &std::free);
    if (status == 0 && name) {
        return name.get();
    }
#endif
    return mangled;
}

/// The demangled name of `T`, computed once per type.
template <class T> const std::string& type_name() {
    static const std::string name = demangle(typeid(T).name());
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

/// `name` with GCC's `{anonymous}` spelt as the demangler and Clang spell it,
/// `(anonymous namespace)`, so that a name reads the same with and without RTTI.
inline std::string spell_anonymous(std::string name) {
    const std::string gcc = "{anonymous}";
    const std::string usual = "(anonymous namespace)";
    for (std::size_t at = name.find(gcc); at != std::string::npos;
         at = name.find(gcc, at + usual.size())) {
        name.replace(at, gcc.size(), usual);
    }
    return name;
}

inline std::string name_in_signature(const std::string& signature) {
    const std::string marker = "T = ";
    const std::size_t at = signature.find(marker);
    if (at == std::string::npos) {
        return "?";
    }
    const std::size_t start = at + marker.size();
    // The name ends at the first ';' or ']' outside brackets (template arguments may hold
    // either).
    int depth = 0;
    for (std::size_t i = start; i < signature.size(); ++i) {
        const char c = signature[i];
        if (c == '<' || c == '(' || c == '[') {
            ++depth;
        } else if ((c == '>' || c == ')') && depth > 0) {
            --depth;
        } else if ((c == ';' || c == ']') && depth == 0) {
            return spell_anonymous(signature.substr(start, i - start));
        } else if (c == ']') {
            --depth;
        }
    }
    return spell_anonymous(signature.substr(start));
}

/// The name of `T` (from the compiler's function signature, not typeid), computed once per
/// type. Without const or volatile, as typeid names it.
template <class T> const std::string& type_name() {
    static const std::string name = name_in_signature(signature_of<std::remove_cv_t<T>>());
    return name;
}

#endif

} // namespace weakref::detail
