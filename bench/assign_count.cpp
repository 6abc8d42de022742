// SPDX-License-Identifier: MIT
// Instruction counts of an assignment, for callgrind (bench_containers' insert_or_assign is the
// timed figure; this program is for counting). 20k string keys, each given a value, then 10 rounds
// of insert_or_assign over every key in a shuffled order, alternating between two live value sets,
// so that every assignment re-points a present key and the value it replaces stays alive. The
// process starts and joins a thread first, as any program with threads does (the counts' atomic
// paths run).
//
//     valgrind --tool=callgrind --toggle-collect='*assign_all*' bench_assign_count [local]
//
// Instructions an assignment = the collected total / 200,000. Without valgrind it prints the
// wall time of an assignment, which a noisy machine makes worth little on its own: alternate
// builds and compare minima.
#include <weakref/weakref.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

struct value {
    long n;
};
constexpr std::size_t keys_count = 20000;
constexpr int rounds = 10;

template <class Map, class Ref>
WEAKREF_NOINLINE void assign_all(Map& m, const std::vector<std::string>& keys,
                                 const std::vector<std::size_t>& order, const std::vector<Ref>& a,
                                 const std::vector<Ref>& b) {
    for (int round = 0; round < rounds; ++round) {
        const auto& from = round % 2 == 0 ? b : a;
        for (const std::size_t k : order) {
            m.insert_or_assign(keys[k], from[k]);
        }
    }
}

template <class Map, class Ref, Ref (*Make)(value&&)> int run() {
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < keys_count; ++i) {
        keys.push_back(std::to_string(1000000 + i) + " some cheese name");
    }
    std::vector<std::size_t> order(keys_count);
    for (std::size_t i = 0; i < keys_count; ++i) {
        order[i] = i;
    }
    std::shuffle(order.begin(), order.end(), std::mt19937_64(7));
    Map m;
    std::vector<Ref> a;
    std::vector<Ref> b;
    for (std::size_t i = 0; i < keys_count; ++i) {
        a.push_back(Make(value{static_cast<long>(i)}));
        b.push_back(Make(value{static_cast<long>(i)}));
        m.insert_or_assign(keys[i], a[i]);
    }
    const auto start = std::chrono::steady_clock::now();
    assign_all(m, keys, order, a, b);
    const auto end = std::chrono::steady_clock::now();
    std::printf("%.1f ns an assignment\n",
                std::chrono::duration<double, std::nano>(end - start).count() /
                    (rounds * static_cast<double>(keys_count)));
    return m.size() == keys_count ? 0 : 1;
}

weakref::ref<value> make_shared_value(value&& v) { return weakref::make_ref<value>(v); }
weakref::local::ref<value> make_local_value(value&& v) {
    return weakref::local::make_ref<value>(v);
}

} // namespace

int main(int argc, char** argv) {
    std::thread([] {}).join();
    if (argc > 1 && std::strcmp(argv[1], "local") == 0) {
        return run<weakref::local::weak_value_map<std::string, value>, weakref::local::ref<value>,
                   &make_local_value>();
    }
    return run<weakref::weak_value_map<std::string, value>, weakref::ref<value>,
               &make_shared_value>();
}
