// expect: weakref: weak_anchor<T> needs a T aligned to at least 2 bytes
// SPDX-License-Identifier: MIT
// Misuse: an anchor over a byte-aligned object (the anchor keeps a tag in the address's low bit).
#include <weakref/weakref.hpp>

int main() {
    char c = 'x';
    weakref::weak_anchor<char> anchor(&c);
    return anchor.observe().expired() ? 1 : 0;
}
