// expect: weak_key_map::get returns a copy of the value (V must be copy-constructible)
// SPDX-License-Identifier: MIT
// Misuse: get() of a weak_key_map whose values cannot be copied.
#include <weakref/weakref.hpp>

#include <mutex>

int main() {
    auto key = weakref::make_ref<int>(1);
    weakref::weak_key_map<int, std::mutex> m;
    m.try_emplace(key);
    return m.get(key) ? 0 : 1;
}
