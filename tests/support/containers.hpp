// SPDX-License-Identifier: MIT
// Helpers for the container tests: keys, hashes and equalities that fail on demand, sorting.
#pragma once

#include "counting.hpp"
#include "exceptions.hpp"
#include "flavour.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wrtest {

/// What the on-demand failures below throw.
struct injected_failure : std::runtime_error {
    injected_failure() : std::runtime_error("wrtest: injected failure") {}
};

/// A switch per Tag: armed, the next `countdown` calls succeed and the one after throws.
/// Disarmed by default.
template <class Tag> struct fault {
    static std::atomic<long>& left() noexcept {
        static std::atomic<long> n{-1};
        return n;
    }
    /// Throw at the call after the next `after` calls.
    static void arm(long after = 0) noexcept { left().store(after); }
    static void disarm() noexcept { left().store(-1); }
    static bool armed() noexcept { return left().load() >= 0; }
    /// Called by the failing operation: throws once the countdown reaches zero.
    static void hit() {
        long n = left().load();
        if (n < 0) {
            return;
        }
        if (n == 0) {
            left().store(-1);
            WRTEST_THROW(injected_failure());
        }
        left().store(n - 1);
    }
};

/// Disarms fault<Tag> at scope exit, so that a failing REQUIRE leaves no armed switch behind.
template <class Tag> struct disarm_at_exit {
    disarm_at_exit() = default;
    disarm_at_exit(const disarm_at_exit&) = delete;
    disarm_at_exit& operator=(const disarm_at_exit&) = delete;
    ~disarm_at_exit() { fault<Tag>::disarm(); }
};

/// A key that counts its instances and whose copy constructor throws while
/// fault<copy_fault_tag<Tag>> is armed.
template <class Tag> struct copy_fault_tag {};
template <class Tag> struct flaky_key {
    using fault_type = fault<copy_fault_tag<Tag>>;

    explicit flaky_key(int v) noexcept : id(v) {}
    flaky_key(const flaky_key& other) : id(other.id) { fault_type::hit(); }
    flaky_key(flaky_key&& other) noexcept : id(other.id) {}
    flaky_key& operator=(const flaky_key&) = default;
    flaky_key& operator=(flaky_key&&) noexcept = default;
    ~flaky_key() = default;

    friend bool operator==(const flaky_key& a, const flaky_key& b) noexcept {
        return a.id.value == b.id.value;
    }
    friend bool operator<(const flaky_key& a, const flaky_key& b) noexcept {
        return a.id.value < b.id.value;
    }

    counted<flaky_key> id;
};
template <class Tag> struct flaky_key_hash {
    std::size_t operator()(const flaky_key<Tag>& k) const noexcept {
        return std::hash<int>()(k.id.value);
    }
};

/// A hash of ints that throws while fault<Tag> is armed (at the end of its countdown), and
/// that may send every key to one hash value, so that key-equal runs on every lookup.
template <class Tag, bool Collide = false> struct flaky_hash {
    std::size_t operator()(int k) const {
        fault<Tag>::hit();
        return Collide ? 0 : std::hash<int>()(k);
    }
};
/// A key-equal of ints that throws while fault<Tag> is armed.
template <class Tag> struct flaky_equal {
    bool operator()(int a, int b) const {
        fault<Tag>::hit();
        return a == b;
    }
};

/// A transparent hash for std::string keys looked up by std::string_view (or const char*).
struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>()(s);
    }
};
/// Counts the std::string keys it compared against a std::string_view, to prove that the
/// heterogeneous overload was used.
struct string_equal {
    using is_transparent = void;
    static std::atomic<long>& view_calls() noexcept {
        static std::atomic<long> n{0};
        return n;
    }
    bool operator()(const std::string& a, const std::string& b) const noexcept { return a == b; }
    bool operator()(const std::string& a, std::string_view b) const noexcept {
        ++view_calls();
        return a == b;
    }
    bool operator()(std::string_view a, const std::string& b) const noexcept {
        ++view_calls();
        return a == b;
    }
};

template <class T> std::vector<T> sorted(std::vector<T> v) {
    std::sort(v.begin(), v.end());
    return v;
}

/// The addresses of the referents of a vector of refs, sorted: compares snapshots by identity.
template <class Ref> std::vector<const void*> identities(const std::vector<Ref>& refs) {
    std::vector<const void*> out;
    out.reserve(refs.size());
    for (const Ref& r : refs) {
        out.push_back(static_cast<const void*>(r.get()));
    }
    std::sort(out.begin(), out.end());
    return out;
}
template <class... Refs> std::vector<const void*> identities_of(const Refs&... refs) {
    std::vector<const void*> out{static_cast<const void*>(refs.get())...};
    std::sort(out.begin(), out.end());
    return out;
}

/// An object that runs `on_destroy` in its destructor: a test looks at the containers from
/// inside the destructor of a dying referent.
struct observed {
    observed() = default;
    explicit observed(int v) : value(v) {}
    observed(const observed&) = delete;
    observed& operator=(const observed&) = delete;
    ~observed() {
        if (on_destroy) {
            on_destroy();
        }
    }
    int value = 0;
    std::function<void()> on_destroy;
};

/// A move-only value that runs `fn` when the instance holding it is destroyed (a moved-from
/// one stays silent): a weak_key_map value whose destructor uses the map.
struct last_words {
    explicit last_words(std::function<void()> f) : fn(std::move(f)) {}
    last_words(last_words&& other) noexcept : fn(std::exchange(other.fn, nullptr)) {}
    last_words& operator=(last_words&&) = delete;
    last_words(const last_words&) = delete;
    last_words& operator=(const last_words&) = delete;
    ~last_words() {
        if (fn) {
            fn();
        }
    }
    std::function<void()> fn;
};

/// make(v): a ref<T> to a fresh T built from v, for the typed cases (int, std::set<int>, a
/// final class, a base without a virtual destructor held as ref<Base>, an over-aligned type).
template <class T> struct subject {
    static wr::ref<T> make(int v) { return wr::make_ref<T>(v); }
};
template <> struct subject<std::set<int>> {
    static wr::ref<std::set<int>> make(int v) {
        return wr::make_ref<std::set<int>>(std::set<int>{v, v + 1});
    }
};
template <> struct subject<plain_base> {
    static wr::ref<plain_base> make(int v) { return wr::make_ref<plain_derived>(v); }
};

/// The strong refs of a model test. Slot i names one object at a time: its owner (the only
/// strong ref outside snapshots), and the snapshot `held` may hold it too. A slot's object is
/// alive, by this bookkeeping alone, while either holds it; a container never counts.
template <class T> class referent_pool {
public:
    explicit referent_pool(std::size_t slots) : owners_(slots), address_(slots, nullptr) {}

    [[nodiscard]] std::size_t slots() const noexcept { return owners_.size(); }

    [[nodiscard]] bool alive(std::size_t i) const {
        if (owners_[i]) {
            return true;
        }
        return std::any_of(held_.begin(), held_.end(),
                           [&](const wr::ref<T>& r) { return of_slot(r, i); });
    }
    /// A fresh object in slot i unless its object is alive.
    void spawn(std::size_t i) {
        if (!alive(i)) {
            owners_[i] = wr::make_ref<T>(static_cast<int>(i));
            address_[i] = owners_[i].get();
        }
    }
    /// A strong ref to slot i's object, made if dead.
    wr::ref<T> strong(std::size_t i) {
        spawn(i);
        if (owners_[i]) {
            return owners_[i];
        }
        for (const wr::ref<T>& r : held_) {
            if (of_slot(r, i)) {
                return r;
            }
        }
        return wr::ref<T>();
    }
    /// Drops the owner of slot i (the last strong ref unless a snapshot holds it).
    void drop(std::size_t i) { owners_[i].reset(); }
    /// Keeps a snapshot's refs, letting go of the previous one.
    void hold(std::vector<wr::ref<T>> refs) { held_ = std::move(refs); }
    void release() { held_.clear(); }
    /// The slot of an object of this pool; slots() if none.
    [[nodiscard]] std::size_t slot_of(const void* p) const {
        for (std::size_t i = 0; i < address_.size(); ++i) {
            if (address_[i] == p && alive(i)) {
                return i;
            }
        }
        return slots();
    }
    [[nodiscard]] const T* address(std::size_t i) const { return address_[i]; }
    void clear() {
        held_.clear();
        for (auto& o : owners_) {
            o.reset();
        }
    }

private:
    // Whether a held object is slot i's. Not by address: a dead object's address is reused by
    // the next allocation, perhaps another slot's object. Slot i's objects carry the value i,
    // and spawn() makes none while one lives, so a live object with value i is slot i's.
    static bool of_slot(const wr::ref<T>& r, std::size_t i) {
        return r && r->value == static_cast<int>(i);
    }

    std::vector<wr::ref<T>> owners_;
    std::vector<const T*> address_;
    std::vector<wr::ref<T>> held_;
};

/// The model test's dice: the same script for the same seed on every platform.
class dice {
public:
    explicit dice(std::uint32_t seed) : state_(seed * 2654435761U + 1U) {}
    /// 0 <= result < n.
    std::size_t operator()(std::size_t n) {
        // xorshift32: no distribution whose output differs between standard libraries.
        state_ ^= state_ << 13;
        state_ ^= state_ >> 17;
        state_ ^= state_ << 5;
        return static_cast<std::size_t>(state_ % static_cast<std::uint32_t>(n));
    }

private:
    std::uint32_t state_;
};

} // namespace wrtest
