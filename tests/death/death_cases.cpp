// SPDX-License-Identifier: MIT
// Misuse that ends the program with a message: each case is run as its own process by
// tests/support/expect_death.cmake, which checks that it died and what it printed.
//
//     weakref_death <case>
#include <weakref/weakref.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

namespace {

/// Presets an object's counts (the block's first word: strong in the low half, weak in the
/// high half; tests/detail/layout.cpp pins the layout), as if that many handles existed.
template <class Ref> void preset_counts(const Ref& r, std::uint32_t strong, std::uint32_t weak) {
    void* block = static_cast<char*>(static_cast<void*>(r.get())) - 16;
    const std::uint64_t both = std::uint64_t{strong} | (std::uint64_t{weak} << 32);
    std::memcpy(block, &both, sizeof both);
}

template <class NS> int strong_overflow() {
    auto r = NS::template make<int>();
    preset_counts(r, 0x7FFFFFFFU, 1);                      // 2^31 - 1 strong refs
    auto* extra = ::new typename NS::template ref<int>(r); // one more: must stop the program
    std::printf("survived with use_count %ld\n", extra->use_count());
    return 0;
}

template <class NS> int lock_overflow() {
    auto r = NS::template make<int>();
    typename NS::template weak<int> w = r;
    preset_counts(r, 0x7FFFFFFFU, 2);
    auto locked = w.lock(); // one more strong ref through lock(): must stop the program
    std::printf("survived with use_count %ld\n", locked.use_count());
    return 0;
}

template <class NS> int weak_overflow() {
    auto r = NS::template make<int>();
    preset_counts(r, 1, 0x7FFFFFFFU); // 2^31 - 2 weak refs besides the object's own unit
    auto* extra = ::new typename NS::template weak<int>(r);
    std::printf("survived with weak_count %ld\n", extra->weak_count());
    return 0;
}

struct sync_ns {
    template <class T> using ref = weakref::ref<T>;
    template <class T> using weak = weakref::weak_ref<T>;
    template <class T> static weakref::ref<T> make() { return weakref::make_ref<T>(); }
};
struct local_ns {
    template <class T> using ref = weakref::local::ref<T>;
    template <class T> using weak = weakref::local::weak_ref<T>;
    template <class T> static weakref::local::ref<T> make() {
        return weakref::local::make_ref<T>();
    }
};

/// A local container's iterator whose step drops the last ref to the entry it leaves, whose
/// callback erases the entry the iterator now stands on: a debug build stops right there
/// (otherwise the next step would read the erased entry's freed memory).
int local_iterator_entry_erased() {
    weakref::local::weak_value_map<int, int> m;
    std::vector<weakref::local::ref<int>> values;
    for (int i = 0; i < 16; ++i) {
        values.push_back(weakref::local::make_ref<int>(i));
        m.insert(i, values.back());
    }
    int first = -1;
    int second = -1;
    {
        auto it = m.begin();
        first = (*it).first;
        ++it;
        second = (*it).first;
    }
    auto erase_next = weakref::local::on_death(values[static_cast<std::size_t>(first)],
                                               [&m, second] { m.erase(second); });
    auto it = m.begin();                             // holds first's value
    values[static_cast<std::size_t>(first)].reset(); // now only the iterator does
    ++it;                                            // leaves first: it dies, and erases second
    ++it;
    std::printf("survived at key %d\n", it == m.end() ? -1 : (*it).first);
    return 0;
}

/// Without exceptions (-fno-exceptions), a throw weakref would make ends the program with
/// the exception's message instead (WEAKREF_THROW). With exceptions it throws, as usual.
int throw_without_exceptions() {
    weakref::ref<int> empty;
    auto f = weakref::on_death(empty, [] {}); // std::invalid_argument, or the end
    std::printf("survived: alive %d\n", f.alive() ? 1 : 0);
    return 0;
}

struct death_case {
    const char* name;
    int (*run)();
};

const death_case cases[] = {
    {"strong_overflow", &strong_overflow<sync_ns>},
    {"local_strong_overflow", &strong_overflow<local_ns>},
    {"lock_overflow", &lock_overflow<sync_ns>},
    {"local_lock_overflow", &lock_overflow<local_ns>},
    {"weak_overflow", &weak_overflow<sync_ns>},
    {"local_weak_overflow", &weak_overflow<local_ns>},
    {"local_iterator_entry_erased", &local_iterator_entry_erased},
    {"throw_without_exceptions", &throw_without_exceptions},
};

} // namespace

int main(int argc, char** argv) {
    if (argc == 2) {
        for (const death_case& c : cases) {
            if (std::strcmp(c.name, argv[1]) == 0) {
                return c.run();
            }
        }
    }
    std::fprintf(stderr, "usage: weakref_death <case>; cases:");
    for (const death_case& c : cases) {
        std::fprintf(stderr, " %s", c.name);
    }
    std::fprintf(stderr, "\n");
    return 2;
}
