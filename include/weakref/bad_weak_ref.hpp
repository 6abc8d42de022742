// SPDX-License-Identifier: MIT
// bad_weak_ref: the exception for reaching through a weak handle to a dead or missing object.
#pragma once

#include <exception>

namespace weakref {

/// Thrown where a weak handle is used as if its referent lived: `ref<T>(w)` on an empty or
/// dead `weak_ref`, `proxy<T>` after its referent died, `ref_from_this()` outside a live
/// object made by make_ref. Python's ReferenceError.
class bad_weak_ref : public std::exception {
public:
    /// "weakref::bad_weak_ref: the referent is dead or the handle is empty". Never throws.
    [[nodiscard]] const char* what() const noexcept override {
        return "weakref::bad_weak_ref: the referent is dead or the handle is empty";
    }
};

namespace local {
using weakref::bad_weak_ref;
} // namespace local

} // namespace weakref
