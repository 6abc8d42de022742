// expect: weakref: update takes fn(V&)
// SPDX-License-Identifier: MIT
// Misuse: update() with a function that does not take the value.
#include <weakref/weakref.hpp>

int main() {
    auto key = weakref::make_ref<int>(1);
    weakref::weak_key_map<int, long> m;
    m.insert(key, 1);
    return m.update(key, [](long& a, long& b) { a = b; }) ? 0 : 1;
}
