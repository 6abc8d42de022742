// SPDX-License-Identifier: MIT
// Control for mix_enable_ref_from_this.cpp: make_ref of the matching flavour compiles.
#include <weakref/weakref.hpp>

namespace {
struct node : weakref::local::enable_ref_from_this<node> {
    int value = 0;
};
} // namespace

int control_mix_enable_ref_from_this() {
    auto r = weakref::local::make_ref<node>();
    return r->ref_from_this()->value;
}
