// SPDX-License-Identifier: MIT
// weakref's own WEAKREF_THROW, exceptions on.
#include "shared.hpp"

#include <weakref/weakref.hpp>

#include <cstring>
#include <stdexcept>

throwing_helper helper_default() { return &weakref::detail::throw_invalid_argument; }

bool default_helper_throws() {
    try {
        weakref::detail::throw_invalid_argument("from the default unit");
    } catch (const std::invalid_argument& e) {
        return std::strcmp(e.what(), "from the default unit") == 0 && !user_macro_ran;
    }
    return false;
}
