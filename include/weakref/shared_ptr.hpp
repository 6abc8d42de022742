// SPDX-License-Identifier: MIT
// to_shared_ptr: a std::shared_ptr that holds one strong ref, for APIs that take std::shared_ptr.
#pragma once

#include "ref.hpp"

#include <memory>
#include <utility>

namespace weakref::detail {

/// A std::shared_ptr<T> to the referent of `r` (a `const basic_ref&` or a `basic_ref&&`) whose
/// control block holds a copy of `r` (or `r` itself, moved in): one allocation, through `alloc`.
/// `r` is left alone if the allocation throws.
template <class T, class Policy, class Ref, class Alloc>
std::shared_ptr<T> share_ref(Ref&& r, const Alloc& alloc) {
    T* object = r.get();
    if (object == nullptr) {
        return {};
    }
    // The aliasing constructor: the family owns the block that holds the ref and points at the
    // object. It neither adopts `object` (no deleter runs on it) nor links a
    // std::enable_shared_from_this base of T to this family.
    return std::shared_ptr<T>(
        std::allocate_shared<basic_ref<T, Policy>>(alloc, std::forward<Ref>(r)), object);
}

} // namespace weakref::detail

namespace weakref {

/// A std::shared_ptr to the referent of `r`, for APIs that take one. Its control block holds
/// one strong ref to the object while any std::shared_ptr copy of it lives (`r.use_count()` is
/// one more for the whole family) and drops it with the last copy, on the thread that drops
/// that copy. An empty `r` gives an empty std::shared_ptr, allocating nothing. Each call starts
/// a family of its own (its own control block): `owner_before` and `use_count` of two calls'
/// results do not see each other.
///
/// A std::weak_ptr made from the result follows that family, not the object: it expires when
/// the family's last std::shared_ptr goes, even though the object lives on in other refs. To
/// observe the object, keep a weak_ref.
///
/// Costs one allocation (std::allocate_shared of one ref through `alloc`); throws what it
/// throws (std::bad_alloc with std::allocator), leaving `r` unchanged. Threads: the
/// std::shared_ptr family may be copied and dropped on any threads; the object's own thread
/// rules are those of `r`.
template <class T, class Alloc = std::allocator<ref<T>>>
[[nodiscard]] std::shared_ptr<T> to_shared_ptr(const ref<T>& r, const Alloc& alloc = Alloc()) {
    return detail::share_ref<T, detail::atomic_policy>(r, alloc);
}
/// The same, moving `r`'s strong ref into the family (`r` is empty after, unless the allocation
/// threw).
template <class T, class Alloc = std::allocator<ref<T>>>
[[nodiscard]] std::shared_ptr<T> to_shared_ptr(ref<T>&& r, const Alloc& alloc = Alloc()) {
    return detail::share_ref<T, detail::atomic_policy>(std::move(r), alloc);
}

namespace local {
/// As weakref::to_shared_ptr. The local rule still applies to the whole family: the object, its
/// refs and every std::shared_ptr copy are used by one thread at a time, and the family's last
/// copy releases its ref on the thread that drops it. Handing a copy to another thread without
/// the program's own synchronisation is a data race on the object's counts, even though
/// std::shared_ptr's own count is atomic.
template <class T, class Alloc = std::allocator<ref<T>>>
[[nodiscard]] std::shared_ptr<T> to_shared_ptr(const ref<T>& r, const Alloc& alloc = Alloc()) {
    return detail::share_ref<T, detail::local_policy>(r, alloc);
}
template <class T, class Alloc = std::allocator<ref<T>>>
[[nodiscard]] std::shared_ptr<T> to_shared_ptr(ref<T>&& r, const Alloc& alloc = Alloc()) {
    return detail::share_ref<T, detail::local_policy>(std::move(r), alloc);
}
} // namespace local

} // namespace weakref
