// SPDX-License-Identifier: MIT
// Control for weak_fn_not_a_method.cpp: weak_fn with a member function, or a callable that reads
// the data member, compiles.
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
    auto g = weakref::weak_fn(r, [](const counter& c) { return c.n; });
    return f().value_or(1) + g().value_or(1);
}
