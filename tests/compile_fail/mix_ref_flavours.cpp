// expect: weakref:: and weakref::local:: do not mix
// SPDX-License-Identifier: MIT
// Misuse: a thread-safe ref made from a local one (the flavours are different types).
#include <weakref/weakref.hpp>

int main() {
    weakref::local::ref<int> local = weakref::local::make_ref<int>(1);
    weakref::ref<int> shared = local;
    return *shared;
}
