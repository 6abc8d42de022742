// SPDX-License-Identifier: MIT
// The readable (demangled) name of a type, for printing handles.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>
#include <typeinfo>

#if defined(__has_include)
#if __has_include(<cxxabi.h>)
#include <cxxabi.h>
#define WEAKREF_HAS_CXXABI 1
#endif
#endif

namespace weakref::detail {

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

} // namespace weakref::detail
