// SPDX-License-Identifier: MIT
// The library's version, as three numbers and as one comparable integer.
#pragma once

// CMakeLists.txt reads these three lines and stops the configure step when they disagree with
// project(VERSION); change them together.
#define WEAKREF_VERSION_MAJOR 1
#define WEAKREF_VERSION_MINOR 0
#define WEAKREF_VERSION_PATCH 0

/// The version as one integer, MAJOR * 10000 + MINOR * 100 + PATCH (1.0.0 is 10000), for
/// `#if WEAKREF_VERSION >= 10000`.
#define WEAKREF_VERSION                                                                            \
    (WEAKREF_VERSION_MAJOR * 10000 + WEAKREF_VERSION_MINOR * 100 + WEAKREF_VERSION_PATCH)
