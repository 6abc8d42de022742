// SPDX-License-Identifier: MIT
// Test subjects that count their instances and allocators that count their allocations.
#pragma once

#include "exceptions.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <stdexcept>
#include <unordered_map>

namespace wrtest {

/// Constructions and destructions of one counted type. Atomic, so that thread tests may
/// count too.
struct instance_counts {
    std::atomic<long> constructed{0};
    std::atomic<long> destroyed{0};

    /// Instances that exist now.
    [[nodiscard]] long alive() const noexcept { return constructed.load() - destroyed.load(); }
    void reset() noexcept {
        constructed.store(0);
        destroyed.store(0);
    }
};

/// An object that counts its constructions and destructions in `counted<Tag>::counts()`.
/// Give each test its own Tag (any type) so that counts do not leak between cases.
/// `value` is set to a poison value by the destructor.
template <class Tag = void> struct counted {
    static instance_counts& counts() noexcept {
        static instance_counts c;
        return c;
    }
    static constexpr int poison = -0x5a5a;

    counted() noexcept { ++counts().constructed; }
    explicit counted(int v) noexcept : value(v) { ++counts().constructed; }
    counted(const counted& other) noexcept : value(other.value) { ++counts().constructed; }
    counted(counted&& other) noexcept : value(other.value) { ++counts().constructed; }
    counted& operator=(const counted&) noexcept = default;
    counted& operator=(counted&&) noexcept = default;
    ~counted() {
        value = poison;
        ++counts().destroyed;
    }

    int value = 0;
};

/// Saves the counts of a counted type at construction; `made()`, `destroyed()` and `alive()`
/// report what happened since.
template <class Counted> class count_scope {
public:
    count_scope() noexcept
        : constructed_(Counted::counts().constructed.load()),
          destroyed_(Counted::counts().destroyed.load()) {}
    [[nodiscard]] long made() const noexcept {
        return Counted::counts().constructed.load() - constructed_;
    }
    [[nodiscard]] long destroyed() const noexcept {
        return Counted::counts().destroyed.load() - destroyed_;
    }
    [[nodiscard]] long alive() const noexcept { return made() - destroyed(); }

private:
    long constructed_;
    long destroyed_;
};

/// What throwing_ctor throws.
struct construction_failed : std::runtime_error {
    construction_failed() : std::runtime_error("wrtest: construction failed on demand") {}
};

/// A type whose constructor throws on demand, after constructing a counted member (so a test
/// can also see that the member was destroyed again). Its copy constructor throws while
/// `fail_copies()` is true.
template <class Tag = void> struct throwing_ctor {
    static std::atomic<bool>& fail_copies() noexcept {
        static std::atomic<bool> f{false};
        return f;
    }

    explicit throwing_ctor(bool fail, int v = 0) : member(v) {
        if (fail) {
            WRTEST_THROW(construction_failed());
        }
    }
    throwing_ctor(const throwing_ctor& other) : member(other.member) {
        if (fail_copies().load()) {
            WRTEST_THROW(construction_failed());
        }
    }
    throwing_ctor& operator=(const throwing_ctor&) = default;
    ~throwing_ctor() = default;

    counted<Tag> member;
};

/// A class that cannot be derived from (make_ref must not need to derive from T).
struct final_type final : counted<final_type> {
    final_type() noexcept = default;
    explicit final_type(int v) noexcept : counted<final_type>(v) {}
};

/// A base without a virtual destructor. Held as ref<plain_base> to a plain_derived, the
/// derived destructor must still run: the handle never deletes through `plain_base*`.
struct plain_base {
    int base_value = 7;
};
struct plain_derived : plain_base {
    plain_derived() noexcept = default;
    explicit plain_derived(int v) noexcept : member(v) {}
    counted<plain_derived> member;
};

/// Over-aligned beyond what operator new gives by default.
struct alignas(64) over_aligned : counted<over_aligned> {
    over_aligned() noexcept = default;
    explicit over_aligned(int v) noexcept : counted<over_aligned>(v) {}
    unsigned char payload[40] = {};
};
static_assert(alignof(over_aligned) == 64);

/// Allocations seen by counting allocators that share this object. Every deallocation is
/// checked against its allocation (address and size); a mismatch is counted as bad.
struct alloc_stats {
    std::atomic<long> allocations{0};
    std::atomic<long> deallocations{0};
    std::atomic<long> bytes_allocated{0};
    std::atomic<long> bytes_deallocated{0};
    std::atomic<long> bad_deallocations{0}; // unknown address or wrong size
    std::atomic<long> misaligned{0};        // an allocation not aligned for its type
    std::atomic<bool> fail_next{false};     // the next allocate() throws std::bad_alloc

    [[nodiscard]] long live_allocations() const noexcept {
        return allocations.load() - deallocations.load();
    }
    [[nodiscard]] long live_bytes() const noexcept {
        return bytes_allocated.load() - bytes_deallocated.load();
    }

    void record_allocate(const void* p, std::size_t bytes, std::size_t align) {
        std::lock_guard<std::mutex> lock(mutex_);
        live_[p] = bytes;
        ++allocations;
        bytes_allocated += static_cast<long>(bytes);
        if (reinterpret_cast<std::uintptr_t>(p) % align != 0) {
            ++misaligned;
        }
    }
    void record_deallocate(const void* p, std::size_t bytes) noexcept {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = live_.find(p);
        if (it == live_.end() || it->second != bytes) {
            ++bad_deallocations;
        }
        if (it != live_.end()) {
            live_.erase(it);
        }
        ++deallocations;
        bytes_deallocated += static_cast<long>(bytes);
    }

private:
    std::mutex mutex_;
    std::unordered_map<const void*, std::size_t> live_;
};

namespace detail {
template <class T> T* allocate_for(alloc_stats& stats, std::size_t n) {
    if (stats.fail_next.exchange(false)) {
        WRTEST_THROW(std::bad_alloc());
    }
    const std::size_t bytes = n * sizeof(T);
    void* p = nullptr;
    if constexpr (alignof(T) > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
        p = ::operator new (bytes, std::align_val_t{alignof(T)});
    } else {
        p = ::operator new(bytes);
    }
    stats.record_allocate(p, bytes, alignof(T));
    return static_cast<T*>(p);
}
template <class T> void deallocate_for(alloc_stats& stats, T* p, std::size_t n) noexcept {
    stats.record_deallocate(p, n * sizeof(T));
    if constexpr (alignof(T) > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
        ::operator delete (static_cast<void*>(p), std::align_val_t{alignof(T)});
    } else {
        ::operator delete(static_cast<void*>(p));
    }
}
} // namespace detail

/// A stateful allocator: it points at the alloc_stats it reports to, so it is not empty and
/// an allocate_ref that uses it must keep a copy for the deallocation.
template <class T> class counting_allocator {
public:
    using value_type = T;

    explicit counting_allocator(alloc_stats& stats) noexcept : stats_(&stats) {}
    template <class U>
    counting_allocator(const counting_allocator<U>& other) noexcept // NOLINT
        : stats_(&other.stats()) {}

    T* allocate(std::size_t n) { return detail::allocate_for<T>(*stats_, n); }
    void deallocate(T* p, std::size_t n) noexcept { detail::deallocate_for(*stats_, p, n); }

    [[nodiscard]] alloc_stats& stats() const noexcept { return *stats_; }

    template <class U>
    friend bool operator==(const counting_allocator& a, const counting_allocator<U>& b) noexcept {
        return &a.stats() == &b.stats();
    }
    template <class U>
    friend bool operator!=(const counting_allocator& a, const counting_allocator<U>& b) noexcept {
        return !(a == b);
    }

private:
    alloc_stats* stats_;
};

/// The alloc_stats of the stateless allocators with this Tag.
template <class Tag> alloc_stats& global_alloc_stats() noexcept {
    static alloc_stats stats;
    return stats;
}

/// A stateless (empty, default-constructible) allocator reporting to
/// `global_alloc_stats<Tag>()`: allocate_ref need not store it.
template <class T, class Tag = void> class stateless_counting_allocator {
public:
    using value_type = T;
    template <class U> struct rebind { using other = stateless_counting_allocator<U, Tag>; };

    stateless_counting_allocator() noexcept = default;
    template <class U>
    stateless_counting_allocator( // NOLINT(google-explicit-constructor)
        const stateless_counting_allocator<U, Tag>& /*unused*/) noexcept {}

    T* allocate(std::size_t n) { return detail::allocate_for<T>(stats(), n); }
    void deallocate(T* p, std::size_t n) noexcept { detail::deallocate_for(stats(), p, n); }

    static alloc_stats& stats() noexcept { return global_alloc_stats<Tag>(); }

    template <class U>
    friend bool operator==(const stateless_counting_allocator& /*unused*/,
                           const stateless_counting_allocator<U, Tag>& /*unused*/) noexcept {
        return true;
    }
    template <class U>
    friend bool operator!=(const stateless_counting_allocator& /*unused*/,
                           const stateless_counting_allocator<U, Tag>& /*unused*/) noexcept {
        return false;
    }
};

} // namespace wrtest
