// expect: weakref:: and weakref::local:: do not mix
// SPDX-License-Identifier: MIT
// Misuse: a local weak_ref observing a thread-safe ref.
#include <weakref/weakref.hpp>

int main() {
    weakref::ref<int> shared = weakref::make_ref<int>(1);
    weakref::local::weak_ref<int> w = shared;
    return w.expired() ? 1 : 0;
}
