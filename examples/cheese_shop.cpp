// SPDX-License-Identifier: MIT
// The cheese shop: Python's WeakValueDictionary demo, with weakref::weak_value_map.
#include <weakref/weakref.hpp>

#include <algorithm>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

struct Cheese {
    std::string kind;
};

// Prints keys as Python prints a list of strings: ['Brie', 'Tilsit'].
static void print(std::vector<std::string> keys) {
    std::sort(keys.begin(), keys.end());
    std::cout << '[';
    for (std::size_t i = 0; i < keys.size(); ++i) {
        std::cout << (i != 0 ? ", '" : "'") << keys[i] << '\'';
    }
    std::cout << "]\n";
}

int main() {
    // The stock holds its cheeses weakly: a cheese is in stock while someone holds it.
    weakref::weak_value_map<std::string, Cheese> stock;

    std::vector<weakref::ref<Cheese>> catalog;
    for (const char* kind : {"Red Leicester", "Tilsit", "Brie", "Parmesan"}) {
        catalog.push_back(weakref::make_ref<Cheese>(Cheese{kind}));
    }

    weakref::ref<Cheese> ce; // outlives the loop, as Python's loop variable does
    for (const weakref::ref<Cheese>& cheese : catalog) {
        ce = cheese;
        stock.insert_or_assign(ce->kind, ce);
    }
    print(stock.keys()); // ['Brie', 'Parmesan', 'Red Leicester', 'Tilsit']

    catalog.clear();     // every cheese dies but the one `ce` still holds
    print(stock.keys()); // ['Parmesan']

    ce.reset();          // and now the last one: the stock is empty at once
    print(stock.keys()); // []
    return 0;
}
