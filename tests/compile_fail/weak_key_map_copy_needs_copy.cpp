// expect: copying a weak_key_map copies its values (V must be copy-constructible)
// SPDX-License-Identifier: MIT
// Misuse: copying a weak_key_map whose values cannot be copied.
#include <weakref/weakref.hpp>

#include <mutex>

int main() {
    auto key = weakref::make_ref<int>(1);
    weakref::weak_key_map<int, std::mutex> m;
    m.try_emplace(key);
    weakref::weak_key_map<int, std::mutex> copy(m);
    return static_cast<int>(copy.size());
}
