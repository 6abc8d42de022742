// SPDX-License-Identifier: MIT
// Control for weak_anchor_byte_aligned.cpp: an anchor over a 2-byte-aligned object compiles, and
// so does a byte-sized object with the anchor as its member (which aligns it).
#include <weakref/weakref.hpp>

namespace {
struct tiny {
    char c = 'x';
    weakref::local::weak_anchor<tiny> anchor{this};
};
} // namespace

int control_weak_anchor_byte_aligned() {
    short s = 1;
    weakref::weak_anchor<short> anchor(&s);
    tiny t;
    return anchor.observe().expired() || t.anchor.observe().expired() ? 1 : 0;
}
