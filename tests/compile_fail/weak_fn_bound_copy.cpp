// expect: weakref: weak_fn stores copies of its bound arguments
// SPDX-License-Identifier: MIT
// Misuse: binding a move-only argument by lvalue (it would have to be copied).
#include <weakref/weakref.hpp>

#include <memory>

struct counter {
    int n = 0;
};

int main() {
    auto r = weakref::make_ref<counter>();
    auto p = std::make_unique<int>(1);
    auto f = weakref::weak_fn(
        r, [](counter& c, const std::unique_ptr<int>& q) { return c.n + *q; }, p);
    return f().value_or(0);
}
