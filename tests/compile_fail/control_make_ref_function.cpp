// SPDX-License-Identifier: MIT
// Control for make_ref_function.cpp: make_ref of an object (a function pointer) compiles.
#include <weakref/weakref.hpp>

namespace {
int answer() { return 42; }
} // namespace

int control_make_ref_function() {
    auto r = weakref::make_ref<int (*)()>(&answer);
    return (*r)();
}
