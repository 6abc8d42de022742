// expect: weakref: weak_fn's referent is const (a ref<const T>), but the method or callable
// SPDX-License-Identifier: MIT
// Misuse: binding a non-const method to a ref<const T>.
#include <weakref/weakref.hpp>

struct counter {
    int n = 0;
    void bump() { ++n; }
};

int main() {
    weakref::ref<const counter> r = weakref::make_ref<counter>();
    auto f = weakref::weak_fn(r, &counter::bump);
    return f() ? 0 : 1;
}
