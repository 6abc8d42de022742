// SPDX-License-Identifier: MIT
// Control for weak_fn_not_a_method.cpp: weak_fn with a member function compiles.
#include <weakref/weakref.hpp>

namespace {
struct counter {
    int n = 0;
    int get() const { return n; }
};
} // namespace

int control_weak_fn_not_a_method() {
    auto r = weakref::make_ref<counter>();
    auto f = weakref::weak_fn(r, &counter::get);
    return f().value_or(1);
}
