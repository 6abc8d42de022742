// SPDX-License-Identifier: MIT
// The program the GDB pretty-printer test stops in: handles and containers of both flavours.
//
// test_printers.cmake runs it under gdb, breaks in breakpoint_here(), goes up to main() and
// prints each variable below; the values set here are the ones the test expects.
#include <weakref/weakref.hpp>

#include <string>

struct Cheese {
    std::string kind;
    int age;
};

// The place to stop. noinline and an empty asm, so that even an optimiser keeps the call.
__attribute__((noinline)) void breakpoint_here() { asm volatile(""); }

int main() {
    // Handles, thread-safe flavour.
    weakref::ref<Cheese> r = weakref::make_ref<Cheese>(Cheese{"Brie", 3});
    weakref::ref<Cheese> r2 = r; // r: strong 2
    weakref::weak_ref<Cheese> w = r;
    weakref::proxy<Cheese> p = r; // r: weak 2 (w and p)
    weakref::weak_ref<Cheese> dead;
    {
        weakref::ref<Cheese> gone = weakref::make_ref<Cheese>(Cheese{"Tilsit", 1});
        dead = gone;
    }
    weakref::ref<Cheese> empty;

    // Containers, thread-safe flavour.
    weakref::ref<Cheese> parmesan = weakref::make_ref<Cheese>(Cheese{"Parmesan", 24});
    weakref::weak_value_map<std::string, Cheese> stock;
    stock.insert("brie", r);
    stock.insert("parmesan", parmesan);
    {
        weakref::ref<Cheese> soon_gone = weakref::make_ref<Cheese>(Cheese{"Camembert", 2});
        stock.insert("camembert", soon_gone);
    } // its entry leaves with it: stock has 2 live entries

    weakref::weak_key_map<Cheese, int> price;
    price.insert(r, 7);
    price.insert(parmesan, 12);

    weakref::weak_set<Cheese> tasted;
    tasted.insert(parmesan);

    // Local flavour.
    weakref::local::ref<int> lr = weakref::local::make_ref<int>(42);
    weakref::local::weak_ref<int> lw = lr;
    weakref::local::weak_value_map<int, int> lmap;
    lmap.insert(1, lr);
    weakref::local::weak_key_map<int, std::string> lkeys;
    lkeys.insert(lr, "answer");
    weakref::local::weak_set<int> lset;
    lset.insert(lr);
    weakref::local::weak_set<int> lempty;

    breakpoint_here();
    return r->age + lr.use_count() > 0 && !p.expired() && lempty.empty() ? 0 : 1;
}
