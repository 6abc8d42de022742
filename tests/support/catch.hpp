// SPDX-License-Identifier: MIT
// Catch2, v3 or v2.13, behind one include: tests write `#include "support/catch.hpp"`.
#pragma once

// tests/CMakeLists.txt defines WEAKREF_CATCH2_V3 to 1 or 0 after finding Catch2.
#if defined(WEAKREF_CATCH2_V3) && WEAKREF_CATCH2_V3
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
