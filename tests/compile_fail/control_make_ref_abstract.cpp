// SPDX-License-Identifier: MIT
// Control for make_ref_abstract.cpp: make_ref of a concrete class, held as its abstract base.
#include <weakref/weakref.hpp>

namespace {
struct shape {
    virtual ~shape() = default;
    virtual int area() const = 0;
};
struct square : shape {
    int area() const override { return 4; }
};
} // namespace

int control_make_ref_abstract() {
    weakref::ref<shape> r = weakref::make_ref<square>();
    return r->area();
}
