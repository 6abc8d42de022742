// expect: enable_ref_from_this must be a public, unambiguous base
// SPDX-License-Identifier: MIT
// Misuse: enable_ref_from_this as a private base; make_ref could not reach it.
#include <weakref/weakref.hpp>

class node : weakref::enable_ref_from_this<node> {
public:
    int value = 0;
};

int main() {
    auto r = weakref::make_ref<node>();
    return r->value;
}
