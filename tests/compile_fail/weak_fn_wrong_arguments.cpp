// expect: weakref: weak_fn called with arguments the method does not take
// SPDX-License-Identifier: MIT
// Misuse: calling a weak_fn with arguments its method does not accept.
#include <weakref/weakref.hpp>

struct counter {
    int n = 0;
    void add(int k) { n += k; }
};

int main() {
    auto r = weakref::make_ref<counter>();
    auto f = weakref::weak_fn(r, &counter::add);
    return f("three") ? 0 : 1;
}
