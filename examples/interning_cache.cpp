// SPDX-License-Identifier: MIT
// An interning cache (a flyweight factory) shared by four threads, on
// weak_value_map::get_or_insert.
//
// The cache maps a spelling to the one Symbol object for it, but holds that object weakly: it
// costs nothing once every user let go, and the next request makes a fresh one. Threads that
// ask for the same spelling at the same time get the same object, and the factory runs once.
#include <weakref/weakref.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// The interned object. It counts how many were ever made and how many are alive right now.
struct Symbol {
    explicit Symbol(std::string s) : text(std::move(s)) {
        created.fetch_add(1, std::memory_order_relaxed);
        alive.fetch_add(1, std::memory_order_relaxed);
    }
    Symbol(const Symbol&) = delete;
    Symbol& operator=(const Symbol&) = delete;
    ~Symbol() { alive.fetch_sub(1, std::memory_order_relaxed); }

    const std::string text;
    static inline std::atomic<int> created{0};
    static inline std::atomic<int> alive{0};
};

// The flyweight factory: intern("x") returns the live Symbol for "x", or makes one.
class SymbolTable {
public:
    weakref::ref<Symbol> intern(const std::string& text) {
        // get_or_insert runs the lambda only where "text" has no live Symbol. Two threads that
        // miss at once do not both make one: the second waits for the first one's result.
        return symbols_.get_or_insert(text, [&] { return weakref::make_ref<Symbol>(text); });
    }
    std::size_t size() const { return symbols_.size(); }

private:
    weakref::weak_value_map<std::string, Symbol> symbols_;
};

// A one-shot meeting point for the threads (std::latch is C++20).
class Gate {
public:
    explicit Gate(int parties) : waiting_(parties) {}
    void arrive_and_wait() {
        std::unique_lock<std::mutex> lock(mutex_);
        if (--waiting_ == 0) {
            opened_.notify_all();
        } else {
            opened_.wait(lock, [&] { return waiting_ == 0; });
        }
    }

private:
    std::mutex mutex_;
    std::condition_variable opened_;
    int waiting_;
};

static int failures = 0;
static void check(bool ok, const char* what) {
    if (!ok) {
        std::cerr << "interning_cache: FAILED: " << what << '\n';
        ++failures;
    }
}

int main() {
    // Eight words; each thread interns a window of five of them, so the windows overlap.
    const std::vector<std::string> words{"spam",  "eggs",  "ham",     "toast",
                                         "beans", "bacon", "sausage", "lobster"};
    constexpr int thread_count = 4;
    constexpr int rounds = 200; // each thread asks for each of its words this many times

    SymbolTable table;

    // --- Act 1: four threads, overlapping words, everyone holding on -------------------------
    //
    // Every thread keeps what it interned until all threads are done interning. The first
    // Symbol made for a word therefore stays alive through the whole act, so every later
    // request for that word, on any thread, must get that very object: one Symbol per word.
    std::vector<std::vector<weakref::ref<Symbol>>> held(thread_count);
    {
        Gate done_interning(thread_count + 1);
        Gate may_let_go(thread_count + 1);
        std::vector<std::thread> threads;
        threads.reserve(static_cast<std::size_t>(thread_count));
        for (int t = 0; t < thread_count; ++t) {
            threads.emplace_back([&, t] {
                for (int round = 0; round < rounds; ++round) {
                    for (int i = 0; i < 5; ++i) {
                        const std::string& word =
                            words[static_cast<std::size_t>(t) + static_cast<std::size_t>(i)];
                        held[static_cast<std::size_t>(t)].push_back(table.intern(word));
                    }
                }
                done_interning.arrive_and_wait();
                may_let_go.arrive_and_wait();
                held[static_cast<std::size_t>(t)].clear(); // the threads let go, in parallel
            });
        }
        done_interning.arrive_and_wait();

        // Windows 0-4, 1-5, 2-6, 3-7: all eight words, each made exactly once.
        check(Symbol::created.load() == 8, "act 1 made one Symbol per word");
        check(table.size() == 8, "the cache holds the eight live Symbols");
        // Equal spellings are one object, whichever thread asked.
        for (const auto& mine : held) {
            for (const weakref::ref<Symbol>& s : mine) {
                check(s == table.intern(s->text), "equal spellings give the same object");
                check(s->text == table.intern(s->text)->text, "the Symbol has its spelling");
            }
        }
        // "toast" is in every window: each thread holds it once per round, and main once more.
        weakref::ref<Symbol> toast = table.intern("toast");
        check(toast.use_count() == thread_count * rounds + 1,
              "every thread holds 'toast' once per round, main once");
        check(toast.weak_count() == 1, "the cache's entry is the one weak observer");
        toast.reset();

        may_let_go.arrive_and_wait();
        for (std::thread& th : threads) {
            th.join();
        }
    }
    // The last user of each Symbol was some thread above; its entry left with it.
    check(Symbol::alive.load() == 0, "every Symbol died with its last user");
    check(table.size() == 0, "and its entry left the cache");

    // --- Act 2: a new lifetime ---------------------------------------------------------------
    //
    // A word interned again after its Symbol died gets a fresh object: once per key per
    // lifetime. A word still held by someone keeps its object.
    weakref::ref<Symbol> ham = table.intern("ham");
    check(Symbol::created.load() == 9, "'ham' is made again: its first lifetime is over");
    weakref::weak_ref<Symbol> old_ham = ham;
    for (int i = 0; i < 10; ++i) {
        check(table.intern("ham") == ham, "while 'ham' lives, interning it returns it");
    }
    check(Symbol::created.load() == 9, "and makes nothing new");
    ham.reset();
    check(old_ham.expired() && table.size() == 0, "dropping the last 'ham' empties the cache");
    check(table.intern("ham") != old_ham, "the next 'ham' is a new object");
    check(Symbol::created.load() == 10, "its third lifetime");

    // --- Act 3: churn ------------------------------------------------------------------------
    //
    // Threads intern and drop at once, so Symbols die while others ask for them. Whatever the
    // interleaving, a request never returns an empty ref, and nothing outlives its users.
    {
        std::atomic<int> empty_results{0};
        std::vector<std::thread> threads;
        threads.reserve(static_cast<std::size_t>(thread_count));
        for (int t = 0; t < thread_count; ++t) {
            threads.emplace_back([&, t] {
                for (int round = 0; round < 2000; ++round) {
                    const auto i = static_cast<std::size_t>(t + round) % words.size();
                    weakref::ref<Symbol> s = table.intern(words[i]);
                    if (!s || s->text != words[i]) {
                        empty_results.fetch_add(1);
                    }
                } // s dies here, often as the last user
            });
        }
        for (std::thread& th : threads) {
            th.join();
        }
        check(empty_results.load() == 0, "churn: every request got its Symbol");
    }
    check(Symbol::alive.load() == 0 && table.size() == 0, "churn: nothing outlived its users");

    std::cout << "interning_cache: " << Symbol::created.load() << " Symbols made in all, "
              << Symbol::alive.load() << " alive, cache size " << table.size() << '\n';
    return failures == 0 ? 0 : 1;
}
