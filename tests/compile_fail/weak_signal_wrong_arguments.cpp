// expect: weakref: weak_signal::connect takes a callable invoked as fn(T&, args...)
// SPDX-License-Identifier: MIT
// Misuse: connecting a callable that cannot take the subscriber and the signal's arguments.
#include <weakref/weakref.hpp>

#include <string>

struct view {
    int shown = 0;
};

int main() {
    weakref::weak_signal<void(int)> sig;
    auto v = weakref::make_ref<view>();
    sig.connect(v,
                [](view& w, const std::string& text) { w.shown += static_cast<int>(text.size()); });
    return 0;
}
