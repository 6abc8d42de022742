// SPDX-License-Identifier: MIT
// Two shared libraries, each built with hidden visibility, that register and detach death
// hooks on objects the program shares with them (hazard 16).
#pragma once

#include <weakref/weakref.hpp>

#include <vector>

#if defined(_WIN32)
#define WEAKREF_DSO_API
#else
#define WEAKREF_DSO_API __attribute__((visibility("default")))
#endif

/// What one library does `rounds` times to `target`: registers finalizers and detaches them,
/// inserts it into `set` and erases it, and finally leaves `armed` finalizers registered, each
/// counting into `*ran` when it runs.
struct dso_work {
    weakref::ref<int> target;
    weakref::weak_set<int>* set;
    int rounds;
    int armed;
    long* ran; // incremented by the callbacks, on the thread that kills the target
    std::vector<weakref::finalizer>* keep;
};

WEAKREF_DSO_API void library_a_work(dso_work& work);
WEAKREF_DSO_API void library_b_work(dso_work& work);
