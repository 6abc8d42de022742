// SPDX-License-Identifier: MIT
// Control for private_enable_ref_from_this.cpp: the public base compiles.
#include <weakref/weakref.hpp>

namespace {
class node : public weakref::enable_ref_from_this<node> {
public:
    int value = 0;
};
} // namespace

int control_private_enable_ref_from_this() {
    auto r = weakref::make_ref<node>();
    return r->value;
}
