// SPDX-License-Identifier: MIT
// Translation units that choose how weakref throws (weakref's own WEAKREF_THROW, the user's,
// and -fno-exceptions) link distinct throwing helpers: were they one inline function, the
// linker would keep a single body, and a unit would throw the other's way (the user's macro
// skipped, or an abort where an exception was due).
#include "shared.hpp"

#include <cstdio>

int main() {
    int failures = 0;
    const auto check = [&failures](bool ok, const char* what) {
        if (!ok) {
            std::printf("FAILED: %s\n", what);
            ++failures;
        }
    };
    check(helper_default() != helper_user(), "the default and the user's helpers are distinct");
    check(helper_default() != helper_no_exceptions(),
          "the default and the no-exceptions helpers are distinct");
    check(helper_user() != helper_no_exceptions(),
          "the user's and the no-exceptions helpers are distinct");
    check(default_helper_throws(), "the default unit throws std::invalid_argument itself");
    check(user_helper_throws_through_macro(), "the user's unit throws through its macro");
    check(default_helper_throws(), "the default unit still skips the user's macro");
    if (failures == 0) {
        std::printf("throwing helpers: distinct per choice\n");
    }
    return failures == 0 ? 0 : 1;
}
