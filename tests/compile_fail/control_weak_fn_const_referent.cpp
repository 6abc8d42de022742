// SPDX-License-Identifier: MIT
// Control for weak_fn_const_referent.cpp: the non-const method through a ref<T> compiles.
#include <weakref/weakref.hpp>

namespace {
struct counter {
    int n = 0;
    void bump() { ++n; }
};
} // namespace

int control_weak_fn_const_referent() {
    weakref::ref<counter> r = weakref::make_ref<counter>();
    auto f = weakref::weak_fn(r, &counter::bump);
    return f() ? 0 : 1;
}
