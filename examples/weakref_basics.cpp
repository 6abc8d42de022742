// SPDX-License-Identifier: MIT
// The first steps: a ref, a weak_ref that watches it, and what the weak_ref says once it died.
#include <weakref/weakref.hpp>

#include <iostream>
#include <set>

int main() {
    // One allocation holds the set and its control block.
    weakref::ref<std::set<int>> numbers = weakref::make_ref<std::set<int>>(std::set<int>{0, 1});
    weakref::weak_ref<std::set<int>> watcher = numbers;
    std::cout << watcher << '\n'; // <weak_ref at 0x...; to 'std::set<int, ...>' at 0x...>

    if (weakref::ref<std::set<int>> alive = watcher.lock()) {
        std::cout << "alive, " << alive->size() << " elements\n";
    }

    // Rebinding the only strong ref destroys the first set: the weak_ref expires at once.
    numbers = weakref::make_ref<std::set<int>>(std::set<int>{2, 3, 4});
    std::cout << watcher << '\n'; // <weak_ref at 0x...; dead>
    std::cout << "lock() is " << (watcher.lock() ? "a ref" : "empty") << '\n';
    return watcher.expired() && !watcher.lock() ? 0 : 1;
}
