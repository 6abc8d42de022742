// SPDX-License-Identifier: MIT
// Three translation units that throw differently, linked into one program (see main.cpp).
#pragma once

using throwing_helper = void (*)(const char*);

// Set by the WEAKREF_THROW of throw_user.cpp.
extern bool user_macro_ran;

// Each translation unit's own weakref::detail::throw_invalid_argument.
throwing_helper helper_default();
throwing_helper helper_user();
throwing_helper helper_no_exceptions();

// Whether the translation unit's own helper, called there, throws std::invalid_argument with
// the message (and, for throw_user.cpp, through the user's macro).
bool default_helper_throws();
bool user_helper_throws_through_macro();
