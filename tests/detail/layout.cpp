// SPDX-License-Identifier: MIT
// Layout facts of both flavours: handle sizes, where the control block sits, bytes per object.
#include "support/catch.hpp"
#include "support/counting.hpp"

#include <weakref/weakref.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

namespace {

struct tag_ours {};
struct tag_std {};

// One pointer per handle, in both flavours, whatever T.
static_assert(sizeof(weakref::ref<int>) == sizeof(void*));
static_assert(sizeof(weakref::weak_ref<int>) == sizeof(void*));
static_assert(sizeof(weakref::local::ref<int>) == sizeof(void*));
static_assert(sizeof(weakref::local::weak_ref<int>) == sizeof(void*));
static_assert(sizeof(weakref::ref<wrtest::over_aligned>) == sizeof(void*));
static_assert(sizeof(weakref::weak_ref<std::set<int>>) == sizeof(void*));
static_assert(sizeof(weakref::local::weak_ref<wrtest::final_type>) == sizeof(void*));
static_assert(sizeof(weakref::proxy<int>) == sizeof(void*));
static_assert(sizeof(weakref::local::proxy<int>) == sizeof(void*));
static_assert(sizeof(weakref::finalizer) == sizeof(void*));
static_assert(sizeof(weakref::scoped_finalizer) == sizeof(void*));

// The control block is 16 bytes in both flavours.
static_assert(sizeof(weakref::detail::control_block<weakref::detail::atomic_policy>) == 16);
static_assert(sizeof(weakref::detail::control_block<weakref::detail::local_policy>) == 16);

// The last release frees a std::allocator block with ::operator delete of the size it was
// allocated with (ASan's new-delete-type-mismatch check holds the runs to it); every other
// allocation goes back through its allocator.
template <class T, class Alloc = std::allocator<T>>
constexpr std::size_t new_bytes =
    weakref::detail::inplace_block<T, Alloc, weakref::detail::atomic_policy>::ops.new_bytes;
static_assert(new_bytes<int> == 24);
static_assert(new_bytes<std::set<int>> == 16 + sizeof(std::set<int>));
static_assert(new_bytes<wrtest::over_aligned> == 0);
static_assert(new_bytes<int, wrtest::stateless_counting_allocator<int, tag_ours>> == 0);

std::uintptr_t address(const volatile void* p) { return reinterpret_cast<std::uintptr_t>(p); }

} // namespace

TEST_CASE("layout: handles are one pointer and blocks are 16 bytes in both flavours", "[layout]") {
    CHECK(sizeof(weakref::ref<int>) == sizeof(void*));
    CHECK(sizeof(weakref::local::weak_ref<int>) == sizeof(void*));
    CHECK(sizeof(weakref::detail::control_block<weakref::detail::atomic_policy>) == 16);
}

TEST_CASE("layout: the control block sits 16 bytes below the object", "[layout]") {
    SECTION("thread-safe flavour, int") {
        auto r = weakref::make_ref<int>(1);
        weakref::weak_ref<int> w = r;
        CHECK(address(w.block_address()) + 16 == address(r.get()));
    }
    SECTION("local flavour, int") {
        auto r = weakref::local::make_ref<int>(1);
        weakref::local::weak_ref<int> w = r;
        CHECK(address(w.block_address()) + 16 == address(r.get()));
    }
    SECTION("over-aligned: the object is aligned and the block still right below it") {
        auto r = weakref::make_ref<wrtest::over_aligned>();
        weakref::weak_ref<wrtest::over_aligned> w = r;
        CHECK(address(r.get()) % 64 == 0);
        CHECK(address(w.block_address()) + 16 == address(r.get()));
        auto l = weakref::local::make_ref<wrtest::over_aligned>();
        weakref::local::weak_ref<wrtest::over_aligned> lw = l;
        CHECK(address(l.get()) % 64 == 0);
        CHECK(address(lw.block_address()) + 16 == address(l.get()));
    }
    SECTION("with a stored allocator, the block is still right below the object") {
        wrtest::alloc_stats stats;
        auto r = weakref::allocate_ref<std::string>(wrtest::counting_allocator<char>(stats), "x");
        weakref::weak_ref<std::string> w = r;
        CHECK(address(w.block_address()) + 16 == address(r.get()));
        CHECK(address(r.get()) % alignof(std::string) == 0);
    }
    SECTION("the block is the control block the library uses") {
        auto r = weakref::make_ref<int>(1);
        auto* block = weakref::detail::control_block<weakref::detail::atomic_policy>::of(r.get());
        CHECK(address(block) + 16 == address(r.get()));
        CHECK(block->object() == static_cast<void*>(r.get()));
        CHECK(block->use_count() == 1);
        auto copy = r;
        CHECK(block->use_count() == 2);
    }
}

namespace {

template <class T, class Alloc> long ours_bytes(const Alloc& alloc, wrtest::alloc_stats& stats) {
    const long before = stats.bytes_allocated.load();
    auto r = weakref::allocate_ref<T>(alloc);
    auto l = weakref::local::allocate_ref<T>(alloc);
    const long both = stats.bytes_allocated.load() - before;
    REQUIRE(stats.live_allocations() == 2); // one allocation per object
    return both / 2;
}

template <class T, class Alloc> long std_bytes(const Alloc& alloc, wrtest::alloc_stats& stats) {
    const long before = stats.bytes_allocated.load();
    auto s = std::allocate_shared<T>(alloc);
    REQUIRE(stats.live_allocations() == 1);
    return stats.bytes_allocated.load() - before;
}

} // namespace

TEST_CASE("layout: make_ref needs no more bytes per object than std::make_shared",
          "[layout][memory]") {
    SECTION("int, stateless allocator") {
        using ours_alloc = wrtest::stateless_counting_allocator<int, tag_ours>;
        using std_alloc = wrtest::stateless_counting_allocator<int, tag_std>;
        const long ours = ours_bytes<int>(ours_alloc(), ours_alloc::stats());
        const long theirs = std_bytes<int>(std_alloc(), std_alloc::stats());
        INFO("make_ref<int>: " << ours << " bytes; std::make_shared<int>: " << theirs);
        CHECK(ours <= theirs);
        CHECK(ours == 24); // 16 bytes of block, 4 of int, rounded up to 8
    }
    SECTION("int, stateful allocator (stored in the allocation)") {
        wrtest::alloc_stats ours_stats;
        wrtest::alloc_stats std_stats;
        const long ours = ours_bytes<int>(wrtest::counting_allocator<int>(ours_stats), ours_stats);
        const long theirs = std_bytes<int>(wrtest::counting_allocator<int>(std_stats), std_stats);
        INFO("allocate_ref<int>: " << ours << " bytes; std::allocate_shared<int>: " << theirs);
        CHECK(ours <= theirs);
    }
    SECTION("std::set<int>") {
        wrtest::alloc_stats ours_stats;
        wrtest::alloc_stats std_stats;
        const long ours =
            ours_bytes<std::set<int>>(wrtest::counting_allocator<int>(ours_stats), ours_stats);
        const long theirs =
            std_bytes<std::set<int>>(wrtest::counting_allocator<int>(std_stats), std_stats);
        INFO("std::set<int>: ours " << ours << " bytes; std's " << theirs);
        CHECK(ours <= theirs);
    }
    SECTION("over-aligned") {
        wrtest::alloc_stats ours_stats;
        wrtest::alloc_stats std_stats;
        const long ours = ours_bytes<wrtest::over_aligned>(
            wrtest::counting_allocator<int>(ours_stats), ours_stats);
        const long theirs =
            std_bytes<wrtest::over_aligned>(wrtest::counting_allocator<int>(std_stats), std_stats);
        INFO("over_aligned: ours " << ours << " bytes; std's " << theirs);
        CHECK(ours <= theirs);
        CHECK(ours_stats.misaligned == 0);
    }
}
