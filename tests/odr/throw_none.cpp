// SPDX-License-Identifier: MIT
// Built with -fno-exceptions: weakref's WEAKREF_THROW prints and aborts. Its helper is only
// compared, never called.
#include "shared.hpp"

#include <weakref/weakref.hpp>

throwing_helper helper_no_exceptions() { return &weakref::detail::throw_invalid_argument; }
