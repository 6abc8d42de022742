// expect: weakref: make_ref of an abstract class
// SPDX-License-Identifier: MIT
// Misuse: make_ref of an abstract class.
#include <weakref/weakref.hpp>

struct shape {
    virtual ~shape() = default;
    virtual int area() const = 0;
};

int main() {
    auto r = weakref::make_ref<shape>();
    return r->area();
}
