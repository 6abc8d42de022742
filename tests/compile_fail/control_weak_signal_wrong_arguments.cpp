// SPDX-License-Identifier: MIT
// Control for weak_signal_wrong_arguments.cpp: a callable taking the subscriber and the signal's
// argument compiles.
#include <weakref/weakref.hpp>

namespace {
struct view {
    int shown = 0;
};
} // namespace

int control_weak_signal_wrong_arguments() {
    weakref::weak_signal<void(int)> sig;
    auto v = weakref::make_ref<view>();
    const weakref::connection c = sig.connect(v, [](view& w, int n) { w.shown += n; });
    sig.emit(3);
    return c.alive() && v->shown == 3 ? 0 : 1;
}
