// SPDX-License-Identifier: MIT
// enable_ref_from_this: ref_from_this() and weak_from_this() inside a member function.
#pragma once

#include "weak_ref.hpp"

namespace weakref::detail {

/// Derive `T` from this (publicly, once) to get handles to `*this` inside member functions of
/// an object made by make_ref or allocate_ref. Costs one pointer in the object; it is not an
/// observer, and copying or assigning the object does not copy it. In weakref:: its members
/// may be called on one object from several threads at once.
template <class T, class Policy>
class basic_enable_ref_from_this : public basic_enable_ref_from_this_base<Policy> {
public:
    ///@{
    /// A strong handle to this object (to `const T` from the const overload). Throws
    /// bad_weak_ref if the object was not made by make_ref/allocate_ref, is still being
    /// constructed, or is dying (its callbacks or destructor run); std::bad_cast if `T` is not
    /// at the object's own address. O(1).
    basic_ref<T, Policy> ref_from_this() { return make_strong<T>(static_cast<T*>(this)); }
    basic_ref<const T, Policy> ref_from_this() const {
        return make_strong<const T>(static_cast<const T*>(this));
    }
    ///@}

    ///@{
    /// A weak handle to this object (to `const T` from the const overload); empty if it was not
    /// made by make_ref/allocate_ref. Inside the constructor it is not empty and reports expired
    /// until the constructor has returned (for good, if the constructor throws); while the
    /// object dies, it is expired with the object's identity. std::bad_cast if `T` is not at
    /// the object's own address. O(1).
    basic_weak_ref<T, Policy> weak_from_this() { return make_weak<T>(static_cast<T*>(this)); }
    basic_weak_ref<const T, Policy> weak_from_this() const {
        return make_weak<const T>(static_cast<const T*>(this));
    }
    ///@}

protected:
    ///@{
    /// For the derived class only. Construction finds the block make_ref is filling in; a copy
    /// gets its own object's block, not the source's, and assignment keeps `*this`'s. O(1).
    basic_enable_ref_from_this() noexcept = default;
    basic_enable_ref_from_this(const basic_enable_ref_from_this&) noexcept = default;
    basic_enable_ref_from_this& operator=(const basic_enable_ref_from_this&) noexcept = default;
    ~basic_enable_ref_from_this() = default;
    ///@}

private:
    template <class S> basic_ref<S, Policy> make_strong(S* self) const {
        control_block<Policy>* b = this->self_block();
        if (b == nullptr || !b->try_add_strong()) {
            WEAKREF_THROW(bad_weak_ref());
        }
        basic_ref<S, Policy> out(self, adopt); // drops the count again if the check throws
        if (static_cast<const volatile void*>(self) != b->object()) {
            WEAKREF_THROW(std::bad_cast());
        }
        return out;
    }
    template <class S> basic_weak_ref<S, Policy> make_weak(S* self) const {
        control_block<Policy>* b = this->self_block();
        if (b == nullptr) {
            return {};
        }
        if (static_cast<const volatile void*>(self) != b->object()) {
            WEAKREF_THROW(std::bad_cast());
        }
        b->add_weak();
        return basic_weak_ref<S, Policy>(self, adopt);
    }
};

} // namespace weakref::detail
