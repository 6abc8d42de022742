// SPDX-License-Identifier: MIT
// An int key whose destructor acts: how a test runs code inside the free of the entry that
// held it (count it, erase from another container, wait for another thread).
#pragma once

#include <cstddef>
#include <functional>
#include <utility>

namespace wrtest {

/// An int key carrying an action `Act` (a function object, called with no argument) that its
/// destructor runs if the key is live. A key made with an action is live, and so are its
/// copies; a key made from an id alone (a lookup's) is inert, and so is one moved from, so
/// that only the key an entry holds acts when the entry is freed.
template <class Act> struct acting_key {
    explicit acting_key(int i) noexcept : id(i), live(false) {}
    acting_key(int i, Act a) noexcept : id(i), act(std::move(a)), live(true) {}
    acting_key(const acting_key&) = default;
    acting_key(acting_key&& other) noexcept
        : id(other.id), act(std::move(other.act)), live(std::exchange(other.live, false)) {}
    acting_key& operator=(const acting_key&) = delete;
    acting_key& operator=(acting_key&&) = delete;
    ~acting_key() {
        if (live) {
            act();
        }
    }
    bool operator==(const acting_key& other) const noexcept { return id == other.id; }

    int id;
    Act act{};
    bool live;
};

struct acting_key_hash {
    template <class Act> std::size_t operator()(const acting_key<Act>& k) const noexcept {
        return std::hash<int>()(k.id);
    }
};

} // namespace wrtest
