// expect: weakref: weak_fn takes a callable or a member function pointer, not a data member pointer
// SPDX-License-Identifier: MIT
// Misuse: weak_fn with a pointer to a data member (a callable to std::invoke, refused here).
#include <weakref/weakref.hpp>

struct counter {
    int n = 0;
};

int main() {
    auto r = weakref::make_ref<counter>();
    auto f = weakref::weak_fn(r, &counter::n);
    return f.expired() ? 1 : 0;
}
