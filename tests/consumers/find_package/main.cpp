// SPDX-License-Identifier: MIT
// A consumer of weakref: makes a ref, watches it through a weak_ref, and sees it die.
#include <weakref/weakref.hpp>

#include <cstdio>

int main() {
    weakref::ref<int> strong = weakref::make_ref<int>(42);
    weakref::weak_ref<int> weak = strong;
    weakref::ref<int> locked = weak.lock();
    if (!locked || *locked != 42 || weak.expired()) {
        std::puts("consumer: lock() did not return the live referent");
        return 1;
    }
    locked.reset();
    strong.reset();
    if (!weak.expired() || weak.lock()) {
        std::puts("consumer: the weak_ref did not expire with its referent");
        return 1;
    }
    std::puts("consumer: ok");
    return 0;
}
