// expect: weakref: visit takes fn(const V&)
// SPDX-License-Identifier: MIT
// Misuse: visit() with a function that wants to change the value.
#include <weakref/weakref.hpp>

int main() {
    auto key = weakref::make_ref<int>(1);
    weakref::weak_key_map<int, long> m;
    m.insert(key, 1);
    return m.visit(key, [](long& a) { ++a; }) ? 0 : 1;
}
