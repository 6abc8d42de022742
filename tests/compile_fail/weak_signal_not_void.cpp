// expect: weakref: weak_signal<Signature> takes a function type returning void
// SPDX-License-Identifier: MIT
// Misuse: a signal whose subscribers would return a value (several subscribers have no one result).
#include <weakref/weakref.hpp>

int main() {
    weakref::weak_signal<int(int)> sig;
    return sig.empty() ? 0 : 1;
}
