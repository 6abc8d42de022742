// expect: weakref: ref<T> holds an object; T cannot be a reference, an array or a function
// SPDX-License-Identifier: MIT
// Misuse: make_ref of a function type.
#include <weakref/weakref.hpp>

int main() {
    auto r = weakref::make_ref<int()>();
    return r ? 0 : 1;
}
