// expect: weakref: ref<T> holds an object; T cannot be a reference
// SPDX-License-Identifier: MIT
// Misuse: a ref to a reference type.
#include <weakref/weakref.hpp>

int main() {
    weakref::ref<int&> r;
    return r ? 0 : 1;
}
