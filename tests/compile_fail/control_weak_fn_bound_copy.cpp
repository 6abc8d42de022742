// SPDX-License-Identifier: MIT
// Control for weak_fn_bound_copy.cpp: the move-only argument moved in compiles.
#include <weakref/weakref.hpp>

#include <memory>
#include <utility>

namespace {
struct counter {
    int n = 0;
};
} // namespace

int control_weak_fn_bound_copy() {
    auto r = weakref::make_ref<counter>();
    auto p = std::make_unique<int>(1);
    auto f = weakref::weak_fn(
        r, [](counter& c, const std::unique_ptr<int>& q) { return c.n + *q; }, std::move(p));
    return f().value_or(0);
}
