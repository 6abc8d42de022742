// expect: weakref: a const weak_fn passes its callable and bound arguments as const
// SPDX-License-Identifier: MIT
// Misuse: calling a const weak_fn whose callable is a mutable lambda.
#include <weakref/weakref.hpp>

struct counter {
    int n = 0;
};

int main() {
    auto r = weakref::make_ref<counter>();
    const auto f = weakref::weak_fn(r, [calls = 0](counter&) mutable { return ++calls; });
    return f().value_or(0);
}
