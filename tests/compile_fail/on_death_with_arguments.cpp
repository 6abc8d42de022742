// expect: weakref: on_death takes a callable with no arguments
// SPDX-License-Identifier: MIT
// Misuse: a death callback that wants an argument.
#include <weakref/weakref.hpp>

int main() {
    auto r = weakref::make_ref<int>(1);
    auto f = weakref::on_death(r, [](int& value) { value = 0; });
    return f.alive() ? 0 : 1;
}
