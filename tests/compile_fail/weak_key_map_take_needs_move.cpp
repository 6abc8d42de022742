// expect: weak_key_map::take moves the value out (V must be move-constructible)
// SPDX-License-Identifier: MIT
// Misuse: take() of a weak_key_map whose values cannot be moved.
#include <weakref/weakref.hpp>

#include <mutex>

int main() {
    auto key = weakref::make_ref<int>(1);
    weakref::weak_key_map<int, std::mutex> m;
    m.try_emplace(key);
    return m.take(key) ? 0 : 1;
}
