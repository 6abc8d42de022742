// expect: weak_key_map::values copies the values (V must be copy-constructible)
// SPDX-License-Identifier: MIT
// Misuse: values() of a weak_key_map whose values cannot be copied.
#include <weakref/weakref.hpp>

#include <mutex>

int main() {
    auto key = weakref::make_ref<int>(1);
    weakref::weak_key_map<int, std::mutex> m;
    m.try_emplace(key);
    return static_cast<int>(m.values().size());
}
