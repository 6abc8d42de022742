// SPDX-License-Identifier: MIT
// Control for weak_fn_const_call.cpp: the same mutable lambda through a non-const weak_fn.
#include <weakref/weakref.hpp>

namespace {
struct counter {
    int n = 0;
};
} // namespace

int control_weak_fn_const_call() {
    auto r = weakref::make_ref<counter>();
    auto f = weakref::weak_fn(r, [calls = 0](counter&) mutable { return ++calls; });
    return f().value_or(0);
}
