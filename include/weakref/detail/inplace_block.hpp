// SPDX-License-Identifier: MIT
// One allocation holding the control block and the object: make_ref and allocate_ref.
#pragma once

#include "config.hpp"
#include "control_block.hpp"
#include "teardown.hpp"

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace weakref::detail {

/// An object being constructed by make_ref, for its enable_ref_from_this base to find its
/// block before the constructor body runs (weak_from_this() in a constructor).
template <class Policy> struct under_construction {
    const void* object;
    control_block<Policy>* block;
};

/// The part of enable_ref_from_this that make_ref fills in: the object's own control block.
/// It does not count as a weak observer (the object cannot outlive its block), and copying
/// the object does not copy it.
template <class Policy> class basic_enable_ref_from_this_base {
protected:
    basic_enable_ref_from_this_base() noexcept : self_block_(claim()) {}
    basic_enable_ref_from_this_base(const basic_enable_ref_from_this_base& /*unused*/) noexcept
        : self_block_(claim()) {}
    // Assignment keeps the object's own block: there is nothing to copy, so self-assignment is
    // trivially right.
    // NOLINTBEGIN(bugprone-unhandled-self-assignment)
    basic_enable_ref_from_this_base&
    operator=(const basic_enable_ref_from_this_base& /*unused*/) noexcept {
        return *this;
    }
    // NOLINTEND(bugprone-unhandled-self-assignment)
    ~basic_enable_ref_from_this_base() = default;

    [[nodiscard]] control_block<Policy>* self_block() const noexcept { return self_block_; }

private:
    template <class T, class P, class Alloc, class... Args>
    friend T* make_object(const Alloc& alloc, Args&&... args);

    /// The block of the object make_ref is constructing on this thread, if this base sits at
    /// that object's address (the object's own base, not a member's or a second base's).
    control_block<Policy>* claim() noexcept {
        under_construction<Policy>& c = constructing_;
        if (c.object != static_cast<const void*>(this)) {
            return nullptr;
        }
        c.object = nullptr; // one claim: a later base or member at the same address is not it
        return c.block;
    }

    // Set by make_object around the constructor, restored after (constructors nest). Exported
    // (default visibility): a library built with -fvisibility=hidden whose constructor reads
    // its own copy finds nothing here, and make_object fills in the block after construction.
    WEAKREF_EXPORT static inline thread_local under_construction<Policy> constructing_{nullptr,
                                                                                       nullptr};

    control_block<Policy>* self_block_;
};

/// `p` as a raw pointer: allocators may hand out fancy pointers (std::allocator_traits::pointer
/// that is not T*), as std::allocate_shared accepts.
template <class T> constexpr T* to_address(T* p) noexcept { return p; }
template <class P> auto to_address(const P& p) noexcept {
    return detail::to_address(p.operator->());
}

constexpr std::size_t round_up(std::size_t n, std::size_t align) noexcept {
    return (n + align - 1) / align * align;
}

/// The layout of one allocation for a `T` made with allocator `Alloc`:
///
///     [allocator, if it has state][padding][control block, 16 bytes][T]
///
/// The block sits right below the object whatever T's alignment, so a handle to any type of
/// the object (itself or a base at its address) finds the block at the same place.
template <class T, class Alloc, class Policy> struct inplace_block {
    using block = control_block<Policy>;
    static constexpr std::size_t align_of() noexcept {
        std::size_t a = alignof(T) > alignof(block) ? alignof(T) : alignof(block);
        return a;
    }
    struct alignas(align_of()) unit {
        unsigned char bytes[align_of()];
    };
    using unit_alloc = typename std::allocator_traits<Alloc>::template rebind_alloc<unit>;
    using traits = std::allocator_traits<unit_alloc>;
    static_assert(alignof(unit_alloc) <= align_of(), "allocator over-aligned");

    // An empty, default-constructible allocator is rebuilt at deallocation instead of stored.
    static constexpr bool stores_alloc =
        !(std::is_empty_v<unit_alloc> && std::is_default_constructible_v<unit_alloc>);
    static constexpr std::size_t alloc_bytes = stores_alloc ? sizeof(unit_alloc) : 0;
    static constexpr std::size_t object_offset = round_up(alloc_bytes + sizeof(block), align_of());
    static constexpr std::size_t units =
        round_up(object_offset + sizeof(T), align_of()) / align_of();

    static char* base_of(void* b) noexcept {
        return static_cast<char*>(b) - (object_offset - sizeof(block));
    }
    static T* object_of(void* b) noexcept {
        return std::launder(reinterpret_cast<T*>(static_cast<char*>(b) + sizeof(block)));
    }

    static void destroy(void* b) noexcept { object_of(b)->~T(); }

    static void deallocate(void* b) noexcept {
        char* base = base_of(b);
        static_cast<block*>(b)->~block();
        auto* first = reinterpret_cast<unit*>(base);
        const auto where = std::pointer_traits<typename traits::pointer>::pointer_to(*first);
        if constexpr (stores_alloc) {
            auto* stored = std::launder(reinterpret_cast<unit_alloc*>(base));
            unit_alloc a(std::move(*stored));
            stored->~unit_alloc();
            traits::deallocate(a, where, units);
        } else {
            unit_alloc a;
            traits::deallocate(a, where, units);
        }
    }

    // With std::allocator at default alignment the allocation is ::operator new's, starting
    // at the block (no stored allocator, no padding).
    static constexpr bool plain_new = std::is_same_v<unit_alloc, std::allocator<unit>> &&
                                      object_offset == sizeof(block) &&
                                      align_of() <= __STDCPP_DEFAULT_NEW_ALIGNMENT__;

    // No destroy step for a trivially destructible T: its last release frees it at once.
    static constexpr block_ops ops{std::is_trivially_destructible_v<T> ? nullptr : &destroy,
                                   &deallocate, plain_new ? units * sizeof(unit) : 0};

    /// Allocates once, constructs the block (the object unborn), the stored allocator, and
    /// then the object, calling `before(block)` first. If the constructor throws, the block is
    /// stillborn (its memory returned, unless a weak_ref taken by the constructor still holds
    /// it) and the exception propagates: nothing leaks, and that weak_ref stays expired.
    template <class Before, class... Args>
    static T* create(const Alloc& alloc, Before&& before, Args&&... args) {
        unit_alloc a(alloc);
        auto mem = traits::allocate(a, units);
        char* base = reinterpret_cast<char*>(detail::to_address(mem));
        auto* b = ::new (static_cast<void*>(base + object_offset - sizeof(block))) block(&ops);
        if constexpr (stores_alloc) {
            ::new (static_cast<void*>(base)) unit_alloc(std::move(a));
        }
        T* object = nullptr;
        void* where = base + object_offset;
        before(b, static_cast<const void*>(where));
        WEAKREF_TRY {
            if constexpr (std::is_constructible_v<T, Args&&...>) {
                object = ::new (where) T(std::forward<Args>(args)...);
            } else {
                // Aggregates in C++17: braces, as C++20's parenthesised aggregate init would.
                object = ::new (where) T{std::forward<Args>(args)...};
            }
        }
        WEAKREF_CATCH_ALL {
            before(nullptr, nullptr);
            b->stillborn();
            WEAKREF_RETHROW;
        }
        before(nullptr, nullptr);
        return object;
    }
};

} // namespace weakref::detail

namespace weakref::detail {

/// Makes a `T` with its block in one allocation and returns it with one strong count held.
/// Fills in enable_ref_from_this when T has it.
template <class T, class Policy, class Alloc, class... Args>
T* make_object(const Alloc& alloc, Args&&... args) {
    static_assert(!std::is_reference_v<T> && !std::is_array_v<T> && !std::is_void_v<T> &&
                      !std::is_function_v<T>,
                  "weakref: make_ref/allocate_ref make objects; not references, arrays, "
                  "functions or void");
    static_assert(!std::is_abstract_v<T>, "weakref: make_ref of an abstract class");
    using other = std::conditional_t<Policy::thread_safe, local_policy, atomic_policy>;
    static_assert(!std::is_base_of_v<basic_enable_ref_from_this_base<other>, T>,
                  "weakref: this type derives from the other flavour's enable_ref_from_this; "
                  "weakref:: and weakref::local:: do not mix");
    using object_type = std::remove_cv_t<T>;
    using base = basic_enable_ref_from_this_base<Policy>;
    constexpr bool self_aware = std::is_base_of_v<base, object_type>;
    // For enable_ref_from_this: the block is announced to the constructor (and withdrawn after
    // it), so that weak_from_this() there is a non-empty, expired weak_ref.
    under_construction<Policy> saved{nullptr, nullptr};
    auto announce = [&saved](control_block<Policy>* b, const void* where) noexcept {
        static_cast<void>(saved);
        if constexpr (self_aware) {
            if (b != nullptr) {
                saved = base::constructing_;
                base::constructing_ = under_construction<Policy>{where, b};
            } else {
                base::constructing_ = saved;
            }
        } else {
            static_cast<void>(b);
            static_cast<void>(where);
        }
    };
    object_type* object = inplace_block<object_type, Alloc, Policy>::create(
        alloc, announce, std::forward<Args>(args)...);
    control_block<Policy>* b = control_block<Policy>::of(object);
    if constexpr (self_aware) {
        static_assert(std::is_convertible_v<object_type*, base*>,
                      "weakref: enable_ref_from_this must be a public, unambiguous base (derive "
                      "from it once)");
        // Where the constructor's own base did not claim the block (a base not at the
        // object's address), it is filled in now.
        static_cast<base*>(object)->self_block_ = b;
    }
    b->born();
    return object;
}

} // namespace weakref::detail
