// SPDX-License-Identifier: MIT
// Built with -O2 and without sanitizers in every configuration (tests/CMakeLists.txt): on an
// 8 MiB stack, a chain of 100,000 links is destroyed exactly as nested destruction does it,
// as std::shared_ptr does it; a longer one does not overflow (hazard 14, hazard 19).
#include "support/catch.hpp"
#include "support/stack_thread.hpp"

#include <weakref/weakref.hpp>

#include <cstddef>
#include <memory>
#include <vector>

namespace {

constexpr std::size_t eight_mib = std::size_t{8} << 20;

/// What nested destruction looks like: destructors entered head first, each entered while
/// its parent's is still running (the nesting depth grows by one per link), and each parent
/// still intact when its child's destructor reads it through a raw pointer.
struct nesting_log {
    long depth = 0;     // destructors running now
    long max_depth = 0; // the deepest nesting seen
    long next = 0;      // the index the next destructor entered should have
    long out_of_order = 0;
    long bad_parent = 0;
};
nesting_log log_;

template <class Self, class Child> struct node {
    explicit node(const node* p, long i) noexcept : parent(p), index(i) {}
    node(const node&) = delete;
    node& operator=(const node&) = delete;
    ~node() {
        ++log_.depth;
        log_.max_depth = log_.depth > log_.max_depth ? log_.depth : log_.max_depth;
        log_.out_of_order += index == log_.next ? 0 : 1;
        ++log_.next;
        if (parent != nullptr && parent->index != index - 1) {
            ++log_.bad_parent;
        }
        child = Child(); // the child's whole destruction nests here
        index = -1;
        --log_.depth;
    }
    const node* parent;
    long index;
    Child child;
};

struct ours : node<ours, weakref::ref<ours>> {
    using node::node;
};
struct theirs : node<theirs, std::shared_ptr<theirs>> {
    using node::node;
};

/// With `parents`, each link points to its parent (whose destructor, in nested destruction,
/// is still running when the child's runs); without, the links only count.
weakref::ref<ours> chain_of_ours(long length, bool parents) {
    auto head = weakref::make_ref<ours>(nullptr, 0);
    ours* at = head.get();
    for (long i = 1; i < length; ++i) {
        at->child = weakref::make_ref<ours>(parents ? at : nullptr, i);
        at = static_cast<ours*>(at->child.get());
    }
    return head;
}

std::shared_ptr<theirs> chain_of_theirs(long length) {
    auto head = std::make_shared<theirs>(nullptr, 0);
    theirs* at = head.get();
    for (long i = 1; i < length; ++i) {
        at->child = std::make_shared<theirs>(at, i);
        at = static_cast<theirs*>(at->child.get());
    }
    return head;
}

template <class Make> nesting_log destroy_on_8_mib(long length, Make make) {
    nesting_log seen;
    wrtest::run_on_stack(eight_mib, [&] {
        auto head = make(length);
        log_ = nesting_log();
        head = nullptr;
        seen = log_;
    });
    return seen;
}

} // namespace

TEST_CASE("nested: on an 8 MiB stack a 100,000-long chain is destroyed exactly as nested "
          "destruction does it, as std::shared_ptr does it",
          "[ref][hazard-14][hazard-19]") {
    constexpr long length = 100'000;
    const nesting_log std_log = destroy_on_8_mib(length, &chain_of_theirs);
    INFO("std::shared_ptr: max nesting " << std_log.max_depth);
    REQUIRE(std_log.max_depth == length); // the reference behaviour
    const nesting_log ours_log =
        destroy_on_8_mib(length, [](long n) { return chain_of_ours(n, true); });
    INFO("weakref: max nesting " << ours_log.max_depth);
    CHECK(ours_log.max_depth == length);
    CHECK(ours_log.next == length);
    CHECK(ours_log.out_of_order == 0);
    CHECK(ours_log.bad_parent == 0);
}

TEST_CASE("nested: on an 8 MiB stack a 2,000,000-long chain does not overflow; it nests as deep "
          "as the stack allows and destroys every link in order",
          "[ref][hazard-14][hazard-19]") {
    constexpr long length = 2'000'000;
    // No parent pointers: past the stack's end a destructor that is put off runs after its
    // parent's has returned, which is what the reference documents.
    const nesting_log ours_log =
        destroy_on_8_mib(length, [](long n) { return chain_of_ours(n, false); });
    INFO("weakref: max nesting " << ours_log.max_depth);
    CHECK(ours_log.next == length);
    CHECK(ours_log.out_of_order == 0);
    CHECK(ours_log.max_depth >= 100'000);
    CHECK(ours_log.max_depth < length);
}
