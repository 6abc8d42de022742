// SPDX-License-Identifier: MIT
// weak_value_map::keep_recent: a document cache shared by four users, and what the strong tier
// costs a lookup.
//
// Case names are `<operation>/<implementation>`:
//   open_close/keep_recent_<n>  4 threads (the users) on one shared
//       weak_value_map<int, document> with keep_recent(n): each opens a document
//       (get_or_emplace, which parses it if no live copy exists), reads it, closes it (drops its
//       ref). The 64 documents are opened in a Zipf-like order (P(rank k) ~ 1/k, fixed seeds,
//       rank to document shuffled once). Counters: `parses_per_open` (parses / opens: the
//       number a weak cache wants low), `parses`, and the time per open.
//   get_kept/keep_recent_<n>    get of a present key, 100,000 keys in a shuffled order, the
//       values held by the fixture, on 1 and 2 threads: keep_recent_0 is today's get; with
//       keep_recent_16 every get puts its value in the tier and pushes another out; with
//       keep_recent_all every get moves its value to the front of its shard's list.
//
// main() starts and joins a std::thread before any benchmark: the process is threaded.

#include <weakref/weakref.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

// --- The document cache ----------------------------------------------------------------------

constexpr int documents = 64;
constexpr int users = 4;
constexpr std::size_t opens_per_user = std::size_t{1} << 16; // each user's sequence, cycled

std::atomic<long> parses{0};

/// A parsed document: its words. Parsing (the constructor) generates the document's text and
/// splits it into words: tens of microseconds, the cost a cache exists to save.
struct document {
    explicit document(int id) : id(id) {
        parses.fetch_add(1, std::memory_order_relaxed);
        std::mt19937 rng(static_cast<unsigned>(id) * 7919U + 1U);
        std::string text;
        for (int w = 0; w < 600; ++w) {
            const std::size_t length = 2 + rng() % 9;
            for (std::size_t c = 0; c < length; ++c) {
                text += static_cast<char>('a' + rng() % 26);
            }
            text += ' ';
        }
        std::size_t start = 0;
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (text[i] == ' ') {
                words.emplace_back(text, start, i - start);
                start = i + 1;
            }
        }
    }
    /// Reading: a glance at the first words.
    [[nodiscard]] std::size_t read() const {
        std::size_t n = 0;
        for (std::size_t i = 0; i < 32 && i < words.size(); ++i) {
            n += words[i].size();
        }
        return n;
    }
    int id;
    std::vector<std::string> words;
};

/// User u's order of opening: Zipf-like ranks (exponent 1) drawn with a fixed seed, mapped to
/// documents through one fixed shuffle (so the popular ones are not the low ids).
const std::vector<int>& opening_order(int user) {
    static const std::vector<std::vector<int>> orders = [] {
        std::vector<int> doc_of_rank(documents);
        std::iota(doc_of_rank.begin(), doc_of_rank.end(), 0);
        std::shuffle(doc_of_rank.begin(), doc_of_rank.end(), std::mt19937(2026));
        std::vector<double> weights;
        for (int k = 1; k <= documents; ++k) {
            weights.push_back(1.0 / k);
        }
        std::vector<std::vector<int>> out;
        for (int u = 0; u < users; ++u) {
            std::mt19937 rng(1000U + static_cast<unsigned>(u));
            std::discrete_distribution<int> rank(weights.begin(), weights.end());
            std::vector<int> order;
            order.reserve(opens_per_user);
            for (std::size_t i = 0; i < opens_per_user; ++i) {
                order.push_back(doc_of_rank[static_cast<std::size_t>(rank(rng))]);
            }
            out.push_back(std::move(order));
        }
        return out;
    }();
    return orders[static_cast<std::size_t>(user)];
}

using cache_type = weakref::weak_value_map<int, document>;
std::unique_ptr<cache_type> cache;

template <std::size_t N> void open_close(benchmark::State& state) {
    if (state.thread_index() == 0) {
        // Before the loop: the threads start it together, after this.
        cache = std::make_unique<cache_type>();
        cache->keep_recent(N);
        parses.store(0);
        for (int u = 0; u < users; ++u) {
            static_cast<void>(opening_order(u)); // made before the timing starts
        }
    }
    const std::vector<int>& order = opening_order(state.thread_index() % users);
    std::size_t i = 0;
    std::size_t glanced = 0;
    for (auto _ : state) {
        const int id = order[i];
        weakref::ref<document> d = cache->get_or_emplace(id, id); // open: parses on a miss
        glanced += d->read();
        d.reset(); // close
        if (++i == order.size()) {
            i = 0;
        }
    }
    benchmark::DoNotOptimize(glanced);
    if (state.thread_index() == 0) {
        // Every thread ran as many iterations, and all of them have ended their loops.
        const auto opens = static_cast<double>(state.iterations()) * state.threads();
        state.counters["parses"] = static_cast<double>(parses.load());
        state.counters["parses_per_open"] = static_cast<double>(parses.load()) / opens;
    }
}
BENCHMARK(open_close<0>)->Name("open_close/keep_recent_0")->Threads(users)->UseRealTime();
BENCHMARK(open_close<16>)->Name("open_close/keep_recent_16")->Threads(users)->UseRealTime();
BENCHMARK(open_close<64>)->Name("open_close/keep_recent_64")->Threads(users)->UseRealTime();

// --- What the tier costs a lookup
// ------------------------------------------------------------------

constexpr std::size_t keys = 100'000;

struct value {
    std::uint64_t n;
};

/// The map with every key present and its values held here; keep_recent(N) set after filling.
template <std::size_t N> struct kept_fixture {
    kept_fixture() {
        held.reserve(keys);
        for (std::size_t k = 0; k < keys; ++k) {
            held.push_back(weakref::make_ref<value>(value{k}));
            map.insert(static_cast<int>(k), held.back());
        }
        map.keep_recent(N);
        order.resize(keys);
        std::iota(order.begin(), order.end(), 0);
        std::shuffle(order.begin(), order.end(), std::mt19937_64(20261102));
    }
    std::vector<weakref::ref<value>> held;
    weakref::weak_value_map<int, value> map;
    std::vector<int> order;
};
template <std::size_t N> kept_fixture<N>& kept() {
    static kept_fixture<N> f;
    return f;
}

template <std::size_t N> void get_kept(benchmark::State& state) {
    auto& f = kept<N>();
    const auto first = static_cast<std::size_t>(state.thread_index());
    const auto stride = static_cast<std::size_t>(state.threads());
    std::size_t i = first;
    for (auto _ : state) {
        auto v = f.map.get(f.order[i]);
        benchmark::DoNotOptimize(v);
        i += stride;
        if (i >= keys) {
            i = first;
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(get_kept<0>)->Name("get_kept/keep_recent_0")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(get_kept<16>)->Name("get_kept/keep_recent_16")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(get_kept<keys>)->Name("get_kept/keep_recent_all")->Threads(1)->Threads(2)->UseRealTime();

} // namespace

int main(int argc, char** argv) {
    std::thread([] {}).join(); // threaded from here on
    benchmark::AddCustomContext("weakref_process", "threaded (started and joined a std::thread)");
    benchmark::AddCustomContext("weakref_documents", std::to_string(documents));
    benchmark::AddCustomContext("weakref_users", std::to_string(users));
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    cache.reset();
    return 0;
}
