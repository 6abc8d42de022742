// SPDX-License-Identifier: MIT
// Control for weak_fn_wrong_arguments.cpp: the call with the right argument compiles.
#include <weakref/weakref.hpp>

namespace {
struct counter {
    int n = 0;
    void add(int k) { n += k; }
};
} // namespace

int control_weak_fn_wrong_arguments() {
    auto r = weakref::make_ref<counter>();
    auto f = weakref::weak_fn(r, &counter::add);
    return f(3) ? 0 : 1;
}
