// SPDX-License-Identifier: MIT
// The program the debugger tests stop in: handles and containers of both flavours.
//
// debug/gdb/test_printers.cmake and debug/lldb/test_formatters.cmake run it under their
// debugger, break in breakpoint_here(), go up to main() and print each variable below; the
// values set here are the ones the tests expect. After the stop, main() checks that the counts
// the tests expect are the ones use_count() and weak_count() return, and exits with 1 if not.
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
    // A finalizer pins r's block with a weak unit, but observes nothing: weak_count() skips it.
    weakref::finalizer f = weakref::on_death(r, [] {});
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
    // A re-pointed entry lets go of its weak unit on the value it replaced after a grace period
    // too: brie's entry goes to parmesan and back; the units waiting meanwhile are not counted.
    stock.insert_or_assign("brie", parmesan);
    stock.insert_or_assign("brie", r);

    weakref::weak_key_map<Cheese, int> price;
    price.insert(r, 7);
    price.insert(parmesan, 12);

    weakref::weak_set<Cheese> tasted;
    tasted.insert(parmesan);

    // An erased entry keeps its weak unit on r until no lookup on another thread can still be
    // reading it (a grace period); weak_count() waits for that, so it does not count it.
    weakref::weak_set<Cheese> tried;
    tried.insert(r);
    tried.erase(r);

    // Local flavour.
    weakref::local::ref<int> lr = weakref::local::make_ref<int>(42);
    weakref::local::weak_ref<int> lw = lr;
    weakref::local::finalizer lf = weakref::local::on_death(lr, [] {}); // no observer either
    weakref::local::weak_value_map<int, int> lmap;
    lmap.insert(1, lr);
    weakref::local::weak_key_map<int, std::string> lkeys;
    lkeys.insert(lr, "answer");
    weakref::local::weak_set<int> lset;
    lset.insert(lr);
    weakref::local::weak_set<int> lempty;

    // References show what they refer to.
    const weakref::ref<Cheese>& held = r;
    weakref::local::weak_set<int>& shelf = lset;

    breakpoint_here();

    // What the tests expect the debuggers to show, as the library counts it.
    const bool as_expected =
        r.use_count() == 2 && r.weak_count() == 4 && dead.expired() && dead.weak_count() == 1 &&
        empty.use_count() == 0 && lr.use_count() == 1 && lr.weak_count() == 4 &&
        stock.size() == 2 && price.size() == 2 && tasted.size() == 1 && tried.empty() &&
        lmap.size() == 1 && lkeys.size() == 1 && lset.size() == 1 && lempty.empty() &&
        !p.expired() && f.alive() && lf.alive() && &held == &r && &shelf == &lset;
    return as_expected ? 0 : 1;
}
