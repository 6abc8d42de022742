// SPDX-License-Identifier: MIT
// Control for weak_fn_not_invocable.cpp: the callable that takes the referent first compiles.
#include <weakref/weakref.hpp>

namespace {
struct counter {
    int n = 0;
};
} // namespace

int control_weak_fn_not_invocable() {
    auto r = weakref::make_ref<counter>();
    auto f = weakref::weak_fn(
        r, [](counter& c, int k) { return c.n + k; }, 3);
    return f().value_or(0);
}
