// SPDX-License-Identifier: MIT
// A WEAKREF_THROW of the user's: it records the throw, then throws the object.
#include "shared.hpp"

bool user_macro_ran = false;

#define WEAKREF_THROW(e) (user_macro_ran = true, throw(e))
#include <weakref/weakref.hpp>

#include <cstring>
#include <stdexcept>

throwing_helper helper_user() { return &weakref::detail::throw_invalid_argument; }

bool user_helper_throws_through_macro() {
    user_macro_ran = false;
    try {
        weakref::detail::throw_invalid_argument("from the user's unit");
    } catch (const std::invalid_argument& e) {
        const bool through = user_macro_ran;
        user_macro_ran = false;
        return through && std::strcmp(e.what(), "from the user's unit") == 0;
    }
    return false;
}
