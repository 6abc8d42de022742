// SPDX-License-Identifier: MIT
// weak_ref: the weak handle (Python's weakref.ref); printing; std::hash.
#pragma once

#include "detail/function_objects.hpp"
#include "detail/type_name.hpp"
#include "ref.hpp"

#include <cinttypes>
#include <cstdio>
#include <iosfwd>

namespace weakref::detail {

/// Writes `0x…` for an address without touching the stream's format flags.
template <class Ch, class Tr>
void write_address(std::basic_ostream<Ch, Tr>& os, const volatile void* p) {
    char buf[2 + 2 * sizeof(void*) + 1];
    std::snprintf(buf, sizeof buf, "0x%" PRIxPTR,
                  reinterpret_cast<std::uintptr_t>(const_cast<const void*>(p)));
    os << buf;
}

/// A weak handle (Python's weakref.ref); one pointer. It does not keep its referent alive:
/// `lock()` returns a strong handle while the referent lives, an empty one after.
///
/// Identity (==, std::hash, owner_before) is the referent's and stays valid and unchanged
/// after the referent died, so a weak_ref can be a key. Thread safety as for basic_ref.
template <class T, class Policy> class basic_weak_ref {
public:
    /// The referent's type.
    using element_type = T;

    ///@{
    /// An empty handle. O(1).
    constexpr basic_weak_ref() noexcept = default;
    constexpr basic_weak_ref(std::nullptr_t) noexcept {} // NOLINT(google-explicit-constructor)
    ///@}

    /// Observes `other`'s referent, dead or alive, and adds one observer (nothing if `other` is
    /// empty). O(1); in weakref:: one atomic increment.
    basic_weak_ref(const basic_weak_ref& other) noexcept : ptr_(other.ptr_) {
        if (ptr_ != nullptr) {
            block()->add_weak();
        }
    }
    /// Takes `other`'s observer and leaves `other` empty. O(1); touches no count.
    basic_weak_ref(basic_weak_ref&& other) noexcept : ptr_(std::exchange(other.ptr_, nullptr)) {}

    /// Observes the referent of `r` (nothing if `r` is empty). Throws std::bad_cast where the
    /// `T` part is not at the object's own address. O(1).
    template <class U, std::enable_if_t<std::is_convertible_v<U*, T*>, int> = 0>
    basic_weak_ref(const basic_ref<U, Policy>& r) // NOLINT(google-explicit-constructor)
        : ptr_(at_same_address<T>(r.get())) {
        if (ptr_ != nullptr) {
            block()->add_weak();
        }
    }

    ///@{
    /// From a weak handle to a derived (or less cv-qualified) type. The address check needs a
    /// live object, so where the types differ beyond cv it holds a strong count for the check
    /// (in weakref::, if every other strong ref went meanwhile, dropping it runs the death on
    /// this thread). For a dead referent no check can be made, and none is needed: the result
    /// can never be locked and keeps the identity. Throws std::bad_cast as the constructor from
    /// a ref does, leaving `other` unchanged; the move leaves `other` empty. O(1).
    template <class U, std::enable_if_t<std::is_convertible_v<U*, T*>, int> = 0>
    basic_weak_ref(const basic_weak_ref<U, Policy>& other) // NOLINT(google-explicit-constructor)
        : ptr_(convert(other.ptr_)) {
        if (ptr_ != nullptr) {
            block()->add_weak();
        }
    }
    template <class U, std::enable_if_t<std::is_convertible_v<U*, T*>, int> = 0>
    basic_weak_ref(basic_weak_ref<U, Policy>&& other) // NOLINT(google-explicit-constructor)
        : ptr_(convert(other.ptr_)) {
        other.ptr_ = nullptr;
    }
    ///@}

    /// Handles of the two flavours do not mix (deleted: the type traits say so too).
    template <class U, class P, std::enable_if_t<!std::is_same_v<P, Policy>, int> = 0>
    basic_weak_ref(const basic_ref<U, P>&) = delete; // weakref:: and weakref::local:: do not mix
    // The compiler's error shows the whole line, comment included.
    // clang-format off
    template <class U, class P, std::enable_if_t<!std::is_same_v<P, Policy>, int> = 0>
    basic_weak_ref(const basic_weak_ref<U, P>&) = delete; // weakref:: and weakref::local:: do not mix
    // clang-format on

    /// Takes over a weak count the caller holds on the object at `p`.
    basic_weak_ref(T* p, adopt_t /*unused*/) noexcept : ptr_(p) {}

    /// Drops one observer; the last observer of a dead object frees its allocation. O(1).
    ~basic_weak_ref() {
        if (ptr_ != nullptr) {
            block()->release_weak();
        }
    }

    // Copy and swap: right for self-assignment too.
    ///@{
    /// Copy-and-swap: observes the new referent, then drops the old observer. The converting
    /// forms throw std::bad_cast as the converting constructors do, leaving `*this` unchanged
    /// (a `weak_ref<U>&&` binds to the `const&` form). O(1).
    // NOLINTNEXTLINE(bugprone-unhandled-self-assignment)
    basic_weak_ref& operator=(const basic_weak_ref& other) noexcept {
        basic_weak_ref(other).swap(*this);
        return *this;
    }
    basic_weak_ref& operator=(basic_weak_ref&& other) noexcept {
        basic_weak_ref(std::move(other)).swap(*this);
        return *this;
    }
    template <class U, std::enable_if_t<std::is_convertible_v<U*, T*>, int> = 0>
    basic_weak_ref& operator=(const basic_ref<U, Policy>& r) {
        basic_weak_ref(r).swap(*this);
        return *this;
    }
    template <class U, std::enable_if_t<std::is_convertible_v<U*, T*>, int> = 0>
    basic_weak_ref& operator=(const basic_weak_ref<U, Policy>& other) {
        basic_weak_ref(other).swap(*this);
        return *this;
    }
    ///@}

    /// Drops the observer and leaves the handle empty. O(1).
    void reset() noexcept { basic_weak_ref().swap(*this); }
    /// Exchanges the two handles' referents; touches no count. O(1).
    void swap(basic_weak_ref& other) noexcept { std::swap(ptr_, other.ptr_); }
    /// `a.swap(b)`.
    friend void swap(basic_weak_ref& a, basic_weak_ref& b) noexcept { a.swap(b); }

    /// True if empty or the referent died. A live answer may be stale by the time it is read
    /// (another thread may drop the last ref); use lock() to act on the referent. O(1).
    [[nodiscard]] bool expired() const noexcept { return ptr_ == nullptr || block()->expired(); }

    /// A strong handle to the referent, or an empty one if it died. Never brings a dying
    /// object back: once the strong count reached zero, lock() fails. O(1); lock-free in
    /// weakref:: (a compare-and-swap loop). Dropping the result may run the death.
    [[nodiscard]] basic_ref<T, Policy> lock() const noexcept {
        if (ptr_ != nullptr && block()->try_add_strong()) {
            return basic_ref<T, Policy>(ptr_, adopt);
        }
        return {};
    }
    /// lock(), spelled as Python calls a weakref. O(1).
    [[nodiscard]] basic_ref<T, Policy> operator()() const noexcept { return lock(); }

    /// Strong handles to the referent: 0 when empty or dead. A snapshot. O(1).
    [[nodiscard]] long use_count() const noexcept {
        return ptr_ != nullptr ? block()->use_count() : 0;
    }
    /// Weak observers of the referent, as ref::weak_count(): still counted after the death; 0
    /// when empty. A snapshot. In weakref:: it first frees what containers retired (waiting
    /// for running lookups to end): O(threads + retired entries).
    [[nodiscard]] long weak_count() const noexcept {
        return ptr_ != nullptr ? block()->weak_count() : 0;
    }

    ///@{
    /// Ordering by the referent's identity (std::less on its address), as std::owner_less;
    /// unchanged by the death. O(1).
    template <class U>
    [[nodiscard]] bool owner_before(const basic_ref<U, Policy>& o) const noexcept {
        return std::less<>()(address(), o.address());
    }
    template <class U>
    [[nodiscard]] bool owner_before(const basic_weak_ref<U, Policy>& o) const noexcept {
        return std::less<>()(address(), o.address());
    }
    ///@}

    /// The referent's address as an identity; the same before and after its death. O(1).
    [[nodiscard]] const volatile void* address() const noexcept { return ptr_; }
    /// The address of the referent's control block (what printing shows); null when empty.
    /// O(1).
    [[nodiscard]] const void* block_address() const noexcept {
        return ptr_ != nullptr ? static_cast<const void*>(block()) : nullptr;
    }

    ///@{
    /// Comparison by the referent's identity, valid and unchanged after its death. O(1).
    template <class U>
    friend bool operator==(const basic_weak_ref& a, const basic_weak_ref<U, Policy>& b) noexcept {
        return a.address() == b.address();
    }
    template <class U>
    friend bool operator!=(const basic_weak_ref& a, const basic_weak_ref<U, Policy>& b) noexcept {
        return a.address() != b.address();
    }
    template <class U>
    friend bool operator<(const basic_weak_ref& a, const basic_weak_ref<U, Policy>& b) noexcept {
        return std::less<>()(a.address(), b.address());
    }
    ///@}

    /// Writes ``<weak_ref at 0xC; to 'TYPE' at 0xO>`` while the referent lives,
    /// `<weak_ref at 0xC; dead>` after, `<weak_ref empty>` for an empty handle: 0xC is the
    /// control block, 0xO the referent, TYPE the demangled name of `T`. Locks the referent for
    /// the call; leaves the stream's format flags alone. Throws what the stream throws.
    template <class Ch, class Tr>
    friend std::basic_ostream<Ch, Tr>& operator<<(std::basic_ostream<Ch, Tr>& os,
                                                  const basic_weak_ref& w) {
        if (w.ptr_ == nullptr) {
            return os << "<weak_ref empty>";
        }
        os << "<weak_ref at ";
        write_address(os, w.block_address());
        if (auto r = w.lock()) {
            os << "; to '" << type_name<T>().c_str() << "' at ";
            write_address(os, r.get());
            os << '>';
        } else {
            os << "; dead>";
        }
        return os;
    }

private:
    template <class, class> friend class basic_weak_ref;

    template <class U> static T* convert(U* p) {
        if constexpr (std::is_same_v<std::remove_cv_t<U>, std::remove_cv_t<T>>) {
            return p;
        } else {
            if (p == nullptr) {
                return nullptr;
            }
            auto* b = control_block<Policy>::of(p);
            if (!b->try_add_strong()) {
                // Dead: keep its identity (the object's address, as for every handle). This
                // pointer is never dereferenced: lock() fails.
                // Through an integer: a reinterpret_cast between the pointer types would be a
                // base-class cast to Clang (-Wreinterpret-base-class), and no cast is wanted.
                return reinterpret_cast<T*>(reinterpret_cast<std::uintptr_t>(p));
            }
            basic_ref<U, Policy> alive(p, adopt);
            return at_same_address<T>(p);
        }
    }

    control_block<Policy>* block() const noexcept { return control_block<Policy>::of(ptr_); }

    T* ptr_ = nullptr; // the referent's address, kept after its death for identity
};

} // namespace weakref::detail

/// Hashes a weak_ref by its referent's identity, consistent with `==` and unchanged by the
/// death, so a weak_ref can be a key.
template <class T, class Policy> struct std::hash<weakref::detail::basic_weak_ref<T, Policy>> {
    /// std::hash of `w.address()`. O(1).
    std::size_t operator()(const weakref::detail::basic_weak_ref<T, Policy>& w) const noexcept {
        return std::hash<const volatile void*>()(w.address());
    }
};
