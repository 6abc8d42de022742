// expect: weakref: weak_fn's callable is not invocable as fn(T&, bound..., args...)
// SPDX-License-Identifier: MIT
// Misuse: weak_fn with a callable that does not take the referent first.
#include <weakref/weakref.hpp>

struct counter {
    int n = 0;
};

int main() {
    auto r = weakref::make_ref<counter>();
    auto f = weakref::weak_fn(
        r, [](int k) { return k; }, 3);
    return f().value_or(0);
}
