// SPDX-License-Identifier: MIT
// ref: the strong handle; make_ref, allocate_ref; static/dynamic/const_ref_cast.
#pragma once

#include "bad_weak_ref.hpp"
#include "detail/control_block.hpp"
#include "detail/function_objects.hpp"
#include "detail/inplace_block.hpp"
#include "detail/policy.hpp"
#include "fwd.hpp"

#include <cstddef>
#include <iosfwd>
#include <memory>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace weakref::detail {

/// Tag for the constructors that take over a strong count already held.
struct adopt_t {
    explicit adopt_t() = default;
};
inline constexpr adopt_t adopt{};

template <class> inline constexpr bool dependent_false = false;

/// `p` as a `To*`, provided the `To` part sits at the object's own address. A handle is one
/// pointer and finds its control block just below that address, so a conversion that would
/// move the pointer (to a second or a virtual base) cannot be represented: std::bad_cast.
template <class To, class From> To* at_same_address(From* p) {
    To* q = p;
    if (p != nullptr &&
        static_cast<const volatile void*>(q) != static_cast<const volatile void*>(p)) {
        WEAKREF_THROW(std::bad_cast());
    }
    return q;
}

/// A strong, nullable handle; one pointer. Copying adds to the strong count; the last strong
/// handle to go runs the death callbacks, then the destructor.
///
/// Thread safety: like std::shared_ptr. Distinct handles to one object may be used and
/// dropped on any threads at once (in weakref::); one handle is not to be written by one
/// thread while another reads it.
template <class T, class Policy> class basic_ref {
    static_assert(!std::is_reference_v<T> && !std::is_array_v<T> && !std::is_function_v<T>,
                  "weakref: ref<T> holds an object; T cannot be a reference, an array or a "
                  "function");

public:
    /// The referent's type.
    using element_type = T;
    /// The weak handle of this flavour that observes a `T`.
    using weak_type = basic_weak_ref<T, Policy>;

    ///@{
    /// An empty handle. O(1).
    constexpr basic_ref() noexcept = default;
    constexpr basic_ref(std::nullptr_t) noexcept {} // NOLINT(google-explicit-constructor)
    ///@}

    /// Refers to `other`'s referent and adds one strong count (nothing if `other` is empty).
    /// O(1); in weakref:: one atomic increment.
    basic_ref(const basic_ref& other) noexcept : ptr_(other.ptr_) {
        if (ptr_ != nullptr) {
            block()->add_strong();
        }
    }
    /// Takes `other`'s count and leaves `other` empty. O(1); touches no count.
    basic_ref(basic_ref&& other) noexcept : ptr_(std::exchange(other.ptr_, nullptr)) {}

    ///@{
    /// From a handle to a derived (or less cv-qualified) type whose `T` part is at the object's
    /// address; throws std::bad_cast otherwise (a second or virtual base), leaving `other` and
    /// every count unchanged. The copy adds one strong count; the move leaves `other` empty.
    /// O(1).
    template <class U, std::enable_if_t<std::is_convertible_v<U*, T*>, int> = 0>
    basic_ref(const basic_ref<U, Policy>& other) // NOLINT(google-explicit-constructor)
        : ptr_(at_same_address<T>(other.ptr_)) {
        if (ptr_ != nullptr) {
            block()->add_strong();
        }
    }
    template <class U, std::enable_if_t<std::is_convertible_v<U*, T*>, int> = 0>
    basic_ref(basic_ref<U, Policy>&& other) // NOLINT(google-explicit-constructor)
        : ptr_(at_same_address<T>(other.ptr_)) {
        other.ptr_ = nullptr;
    }
    ///@}

    /// The referent of `w`, taken as by `w.lock()`; throws bad_weak_ref if `w` is empty or its
    /// referent died (a death racing with the call comes after it or makes it throw), and
    /// std::bad_cast as the converting constructor does. O(1); lock-free in weakref::.
    template <class U, std::enable_if_t<std::is_convertible_v<U*, T*>, int> = 0>
    explicit basic_ref(const basic_weak_ref<U, Policy>& w) : basic_ref(w.lock()) {
        if (ptr_ == nullptr) {
            WEAKREF_THROW(bad_weak_ref());
        }
    }

    /// Handles of the two flavours do not mix. Deleted, not a static_assert, so that
    /// std::is_convertible and std::is_constructible say so too; the compiler's error shows
    /// this line.
    template <class U, class P, std::enable_if_t<!std::is_same_v<P, Policy>, int> = 0>
    basic_ref(const basic_ref<U, P>&) = delete; // weakref:: and weakref::local:: do not mix

    /// Takes over a strong count the caller holds on the object at `p` (or nothing if null).
    basic_ref(T* p, adopt_t /*unused*/) noexcept : ptr_(p) {}

    /// Drops one strong count; the last one runs the death on this thread (callbacks, then the
    /// destructor). O(1), plus the death's cost when it is the last.
    ~basic_ref() {
        if (ptr_ != nullptr) {
            block()->release_strong();
        }
    }

    // Copy and swap: right for self-assignment too.
    ///@{
    /// Copy-and-swap: `*this` holds the new referent before the old one is released, so a death
    /// that release runs sees the new value. The converting forms throw std::bad_cast as the
    /// converting constructors do, leaving `*this` unchanged; `= nullptr` is reset(). O(1),
    /// plus a death the release runs.
    // NOLINTNEXTLINE(bugprone-unhandled-self-assignment)
    basic_ref& operator=(const basic_ref& other) noexcept {
        basic_ref(other).swap(*this);
        return *this;
    }
    basic_ref& operator=(basic_ref&& other) noexcept {
        basic_ref(std::move(other)).swap(*this);
        return *this;
    }
    template <class U, std::enable_if_t<std::is_convertible_v<U*, T*>, int> = 0>
    basic_ref& operator=(const basic_ref<U, Policy>& other) {
        basic_ref(other).swap(*this);
        return *this;
    }
    template <class U, std::enable_if_t<std::is_convertible_v<U*, T*>, int> = 0>
    basic_ref& operator=(basic_ref<U, Policy>&& other) {
        basic_ref(std::move(other)).swap(*this);
        return *this;
    }
    basic_ref& operator=(std::nullptr_t) noexcept {
        reset();
        return *this;
    }
    ///@}

    /// Drops the referent (running its death if this was the last strong handle) and leaves the
    /// handle empty. O(1), plus the death's cost.
    void reset() noexcept { basic_ref().swap(*this); }
    /// Exchanges the two handles' referents; touches no count. O(1).
    void swap(basic_ref& other) noexcept { std::swap(ptr_, other.ptr_); }
    /// `a.swap(b)`.
    friend void swap(basic_ref& a, basic_ref& b) noexcept { a.swap(b); }

    /// The referent's address; null when empty. O(1).
    [[nodiscard]] T* get() const noexcept { return ptr_; }
    ///@{
    /// The referent. Asserts (debug builds) that the handle is not empty; with NDEBUG an empty
    /// handle is undefined behaviour. O(1).
    T& operator*() const noexcept {
        WEAKREF_ASSERT(ptr_ != nullptr, "dereferencing an empty ref");
        return *ptr_;
    }
    T* operator->() const noexcept {
        WEAKREF_ASSERT(ptr_ != nullptr, "dereferencing an empty ref");
        return ptr_;
    }
    ///@}
    /// Whether the handle is non-empty. O(1).
    explicit operator bool() const noexcept { return ptr_ != nullptr; }

    /// Strong handles to the referent (0 when empty). A snapshot: other threads may change it.
    /// O(1).
    [[nodiscard]] long use_count() const noexcept {
        return ptr_ != nullptr ? block()->use_count() : 0;
    }
    /// Weak observers of the referent: weak_refs, proxies, weak_fns, container entries (not
    /// finalizers); 0 when empty. A snapshot, like use_count(). In weakref:: it first frees what
    /// containers retired (as flush_retired(), waiting for running lookups to end), so removed
    /// entries are never counted: O(threads + retired entries).
    [[nodiscard]] long weak_count() const noexcept {
        return ptr_ != nullptr ? block()->weak_count() : 0;
    }

    ///@{
    /// Ordering by the referent's identity (std::less on its address), as std::owner_less.
    /// O(1).
    template <class U>
    [[nodiscard]] bool owner_before(const basic_ref<U, Policy>& o) const noexcept {
        return std::less<>()(address(), o.address());
    }
    template <class U>
    [[nodiscard]] bool owner_before(const basic_weak_ref<U, Policy>& o) const noexcept {
        return std::less<>()(address(), o.address());
    }
    ///@}

    /// The referent's address as an identity (null when empty). O(1).
    [[nodiscard]] const volatile void* address() const noexcept { return ptr_; }

    ///@{
    /// Comparison by the referent's address; against nullptr, a test for emptiness. O(1).
    template <class U>
    friend bool operator==(const basic_ref& a, const basic_ref<U, Policy>& b) noexcept {
        return a.address() == b.address();
    }
    template <class U>
    friend bool operator!=(const basic_ref& a, const basic_ref<U, Policy>& b) noexcept {
        return a.address() != b.address();
    }
    template <class U>
    friend bool operator<(const basic_ref& a, const basic_ref<U, Policy>& b) noexcept {
        return std::less<>()(a.address(), b.address());
    }
    friend bool operator==(const basic_ref& a, std::nullptr_t) noexcept { return !a; }
    friend bool operator==(std::nullptr_t, const basic_ref& a) noexcept { return !a; }
    friend bool operator!=(const basic_ref& a, std::nullptr_t) noexcept { return !!a; }
    friend bool operator!=(std::nullptr_t, const basic_ref& a) noexcept { return !!a; }
    ///@}

    /// Writes the referent's address, `static_cast<const void*>(r.get())`, in the stream's own
    /// pointer format. Throws what the stream throws.
    template <class Ch, class Tr>
    friend std::basic_ostream<Ch, Tr>& operator<<(std::basic_ostream<Ch, Tr>& os,
                                                  const basic_ref& r) {
        return os << static_cast<const void*>(r.get());
    }

private:
    template <class, class> friend class basic_ref;
    template <class, class> friend class basic_weak_ref;

    control_block<Policy>* block() const noexcept { return control_block<Policy>::of(ptr_); }

    T* ptr_ = nullptr; // the object's own address; the block is just below it
};

template <class T, class Policy, class Alloc, class... Args>
basic_ref<T, Policy> allocate_ref(const Alloc& alloc, Args&&... args) {
    return basic_ref<T, Policy>(make_object<T, Policy>(alloc, std::forward<Args>(args)...), adopt);
}

template <class T, class Policy, class... Args> basic_ref<T, Policy> make_ref(Args&&... args) {
    return allocate_ref<T, Policy>(std::allocator<std::remove_cv_t<T>>(),
                                   std::forward<Args>(args)...);
}

/// `static_cast` of the referent, as a new strong handle (`r` keeps its own); throws
/// std::bad_cast where the result would not be at the object's own address. A cast to a type
/// the object is not is undefined, as with static_cast. Handle rule under threads. O(1).
template <class T, class U, class Policy>
basic_ref<T, Policy> static_ref_cast(const basic_ref<U, Policy>& r) {
    T* p = static_cast<T*>(r.get());
    if (p != nullptr &&
        static_cast<const volatile void*>(p) != static_cast<const volatile void*>(r.get())) {
        WEAKREF_THROW(std::bad_cast());
    }
    if (p != nullptr) {
        control_block<Policy>::of(p)->add_strong();
    }
    return basic_ref<T, Policy>(p, adopt);
}

/// `dynamic_cast` of the referent, as a new strong handle: empty where `r` is empty or the
/// referent is not a `T`; std::bad_cast where it is, but not at the object's own address.
/// Needs RTTI (a static_assert says so). Handle rule under threads. O(1) plus dynamic_cast.
template <class T, class U, class Policy>
basic_ref<T, Policy> dynamic_ref_cast(const basic_ref<U, Policy>& r) {
#if !WEAKREF_HAS_RTTI
    static_assert(dependent_false<T>,
                  "weakref: dynamic_ref_cast needs RTTI (this translation unit is built with "
                  "-fno-rtti): use static_ref_cast");
    static_cast<void>(r);
    return {};
#else
    T* p = dynamic_cast<T*>(r.get());
    if (p == nullptr) {
        return {};
    }
    if (static_cast<const volatile void*>(p) != static_cast<const volatile void*>(r.get())) {
        WEAKREF_THROW(std::bad_cast());
    }
    control_block<Policy>::of(p)->add_strong();
    return basic_ref<T, Policy>(p, adopt);
#endif
}

/// `const_cast` of the referent, as a new strong handle. Never throws. Handle rule under
/// threads. O(1).
template <class T, class U, class Policy>
basic_ref<T, Policy> const_ref_cast(const basic_ref<U, Policy>& r) noexcept {
    T* p = const_cast<T*>(r.get());
    if (p != nullptr) {
        control_block<Policy>::of(p)->add_strong();
    }
    return basic_ref<T, Policy>(p, adopt);
}

} // namespace weakref::detail

/// Hashes a ref by its referent's identity (its address), consistent with `==`.
template <class T, class Policy> struct std::hash<weakref::detail::basic_ref<T, Policy>> {
    /// std::hash of `r.address()`; an empty ref hashes as a null pointer. O(1).
    std::size_t operator()(const weakref::detail::basic_ref<T, Policy>& r) const noexcept {
        return std::hash<const volatile void*>()(r.address());
    }
};

namespace weakref {

/// Makes a `T` from `args` in one allocation with its control block and returns the only
/// strong handle to it; works for any object type that is not abstract. Throws std::bad_alloc
/// or what the constructor throws, leaking nothing. Aggregates are brace-initialised where no
/// constructor takes `args`. Callable from any thread. O(1) plus the constructor.
template <class T, class... Args> ref<T> make_ref(Args&&... args) {
    return detail::make_ref<T, detail::atomic_policy>(std::forward<Args>(args)...);
}
/// make_ref with an allocator (rebound to the block's storage; kept for deallocation). Throws
/// what the allocator or the constructor throws, leaking nothing. O(1) plus the constructor.
template <class T, class Alloc, class... Args>
ref<T> allocate_ref(const Alloc& alloc, Args&&... args) {
    return detail::allocate_ref<T, detail::atomic_policy>(alloc, std::forward<Args>(args)...);
}
using detail::const_ref_cast;
using detail::dynamic_ref_cast;
using detail::static_ref_cast;

namespace local {
template <class T, class... Args> ref<T> make_ref(Args&&... args) {
    return detail::make_ref<T, detail::local_policy>(std::forward<Args>(args)...);
}
template <class T, class Alloc, class... Args>
ref<T> allocate_ref(const Alloc& alloc, Args&&... args) {
    return detail::allocate_ref<T, detail::local_policy>(alloc, std::forward<Args>(args)...);
}
using detail::const_ref_cast;
using detail::dynamic_ref_cast;
using detail::static_ref_cast;
} // namespace local

} // namespace weakref
