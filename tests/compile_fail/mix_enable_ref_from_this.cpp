// expect: weakref:: and weakref::local:: do not mix
// SPDX-License-Identifier: MIT
// Misuse: make_ref of one flavour for a type that enables the other flavour's ref_from_this.
#include <weakref/weakref.hpp>

struct node : weakref::local::enable_ref_from_this<node> {
    int value = 0;
};

int main() {
    auto r = weakref::make_ref<node>();
    return r->value;
}
