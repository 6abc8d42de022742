// SPDX-License-Identifier: MIT
// The global operator new and delete of a test program that counts its allocations, replaced
// once for every form, so that no form escapes the count. Include it in exactly one translation
// unit of the program, after defining there, at namespace scope:
//
//   void* counted_malloc(std::size_t n) noexcept;  // the memory for n bytes, or null
//   void counted_delete(void* p) noexcept;         // gives back what counted_malloc gave (or null)
//
// Replacement functions may not be inline, hence a header for one translation unit only.
#pragma once

#include "exceptions.hpp"

#include <cstddef>
#include <new>

namespace wrtest::replaced_new {

inline void* allocate(std::size_t n) {
    void* p = counted_malloc(n);
    if (p == nullptr) {
        WRTEST_THROW(std::bad_alloc()); // without exceptions: the end, as libstdc++'s new
    }
    return p;
}

} // namespace wrtest::replaced_new

void* operator new(std::size_t n) { return wrtest::replaced_new::allocate(n); }
void* operator new[](std::size_t n) { return wrtest::replaced_new::allocate(n); }
void* operator new(std::size_t n, const std::nothrow_t& /*unused*/) noexcept {
    return counted_malloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t& /*unused*/) noexcept {
    return counted_malloc(n);
}
void operator delete(void* p) noexcept { counted_delete(p); }
void operator delete[](void* p) noexcept { counted_delete(p); }
void operator delete(void* p, std::size_t /*unused*/) noexcept { counted_delete(p); }
void operator delete[](void* p, std::size_t /*unused*/) noexcept { counted_delete(p); }
void operator delete(void* p, const std::nothrow_t& /*unused*/) noexcept { counted_delete(p); }
void operator delete[](void* p, const std::nothrow_t& /*unused*/) noexcept { counted_delete(p); }
