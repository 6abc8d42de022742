// SPDX-License-Identifier: MIT
// Which flavour a behaviour test exercises: `wr::` is weakref:: or weakref::local::.
#pragma once

#include <weakref/weakref.hpp>

// tests/CMakeLists.txt compiles each behaviour file twice, with WEAKREF_TEST_LOCAL 0 and 1.
// Case names start with WEAKREF_FLAVOUR, so the two binaries' reports tell the flavours apart:
//     TEST_CASE(WEAKREF_FLAVOUR "weak_set: ...", "[weak_set]")
#if defined(WEAKREF_TEST_LOCAL) && WEAKREF_TEST_LOCAL
namespace wr = weakref::local;
#define WEAKREF_FLAVOUR "local: "
#else
namespace wr = weakref;
#define WEAKREF_FLAVOUR "sync: "
#endif
