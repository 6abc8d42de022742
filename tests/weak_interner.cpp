// SPDX-License-Identifier: MIT
// Behaviour of weak_interner: one live object per value, stored once, forgotten at its death.
#include "support/catch.hpp"
#include "support/containers.hpp"
#include "support/counting.hpp"
#include "support/exceptions.hpp"
#include "support/flavour.hpp"

#include <cstddef>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

/// A value that counts its instances (constructions include copies and moves), so that a case
/// can tell how many copies of a value the interner made.
struct name_tag {};
struct name {
    explicit name(std::string s) : text(std::move(s)) {}
    explicit name(std::string_view s) : text(s) {}
    name(const name&) = default;
    name(name&& other) noexcept : text(std::move(other.text)), count(std::move(other.count)) {}
    name& operator=(const name&) = default;
    name& operator=(name&&) = default;
    ~name() = default;

    std::string text;
    wrtest::counted<name_tag> count;
};
using names = wrtest::count_scope<wrtest::counted<name_tag>>;

/// Hash and equality of names, transparent over std::string_view; `collide` sends every value
/// to one hash, so that every lookup compares every candidate.
template <bool Collide> struct name_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return Collide ? 7 : std::hash<std::string_view>()(s);
    }
    std::size_t operator()(const name& n) const noexcept { return (*this)(n.text); }
};
struct name_equal {
    using is_transparent = void;
    static long& calls() noexcept {
        static long n = 0;
        return n;
    }
    bool operator()(const name& a, const name& b) const noexcept {
        ++calls();
        return a.text == b.text;
    }
    bool operator()(const name& a, std::string_view b) const noexcept {
        ++calls();
        return a.text == b;
    }
};
using name_interner = wr::weak_interner<name, name_hash<false>, name_equal>;
using colliding_interner = wr::weak_interner<name, name_hash<true>, name_equal>;

/// Hash and equality for the typed cases.
struct set_hash {
    std::size_t operator()(const std::set<int>& s) const noexcept {
        std::size_t h = 0;
        for (int v : s) {
            h = h * 31 + std::hash<int>()(v);
        }
        return h;
    }
};
struct counted_hash {
    template <class T> std::size_t operator()(const T& x) const noexcept {
        return std::hash<int>()(x.value);
    }
};
struct counted_equal {
    template <class T> bool operator()(const T& a, const T& b) const noexcept {
        return a.value == b.value;
    }
};
template <class T> struct typed;
template <> struct typed<int> {
    using interner = wr::weak_interner<int>;
    static int make(int v) { return v; }
};
template <> struct typed<std::set<int>> {
    using interner = wr::weak_interner<std::set<int>, set_hash>;
    static std::set<int> make(int v) { return std::set<int>{v, v + 1}; }
};
template <> struct typed<wrtest::final_type> {
    using interner = wr::weak_interner<wrtest::final_type, counted_hash, counted_equal>;
    static wrtest::final_type make(int v) { return wrtest::final_type(v); }
};
template <> struct typed<wrtest::over_aligned> {
    using interner = wr::weak_interner<wrtest::over_aligned, counted_hash, counted_equal>;
    static wrtest::over_aligned make(int v) { return wrtest::over_aligned(v); }
};

} // namespace

// --- One object per value ----------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_interner: equal values give one object while it lives",
          "[weak_interner]") {
    wr::weak_interner<std::string> symbols;
    CHECK(symbols.empty());
    wr::ref<std::string> a = symbols.intern(std::string("spam"));
    const std::string spelled = "spam";
    wr::ref<std::string> b = symbols.intern(spelled);
    wr::ref<std::string> c = symbols.intern("spam");
    CHECK(a == b);
    CHECK(a == c);
    CHECK(*a == "spam");
    wr::ref<std::string> eggs = symbols.intern("eggs");
    CHECK(eggs != a);
    CHECK(symbols.size() == 2);
    CHECK(symbols.contains("spam"));
    CHECK(symbols.contains(std::string("eggs")));
    CHECK_FALSE(symbols.contains("ham"));
    CHECK(symbols.size() == 2); // contains made nothing
    CHECK(a.use_count() == 3);
    CHECK(a.weak_count() == 1); // the interner's entry
}

TEST_CASE(WEAKREF_FLAVOUR "weak_interner: an object leaves at its death and the next intern makes "
                          "a new one",
          "[weak_interner][death]") {
    wr::weak_interner<std::string> symbols;
    wr::ref<std::string> first = symbols.intern("toast");
    wr::weak_ref<std::string> old = first;
    wr::ref<std::string> copy = first;
    first.reset();
    CHECK(symbols.contains("toast")); // copy still holds it
    copy.reset();
    CHECK(old.expired());
    CHECK_FALSE(symbols.contains("toast"));
    CHECK(symbols.size() == 0);
    CHECK(symbols.empty());
    wr::ref<std::string> second = symbols.intern("toast");
    CHECK(second != old.lock());
    CHECK(symbols.size() == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_interner: stores each value once, copied from a const value and "
                          "moved from an rvalue",
          "[weak_interner]") {
    name_interner n;
    const name spam(std::string("spam"));
    {
        names made;
        wr::ref<name> a = n.intern(spam);
        CHECK(made.made() == 1); // the canonical object, copied from `spam`: no other copy
        CHECK(made.alive() == 1);
        wr::ref<name> again = n.intern(spam);
        CHECK(again == a);
        CHECK(made.made() == 1); // present: nothing made
        CHECK(spam.text == "spam");
    }
    {
        name eggs(std::string("eggs"));
        names made;
        wr::ref<name> e = n.intern(std::move(eggs));
        CHECK(made.made() == 1); // moved into the object
        CHECK(e->text == "eggs");
        name eggs_again(std::string("eggs"));
        wr::ref<name> e2 = n.intern(std::move(eggs_again));
        CHECK(e2 == e);
        CHECK(made.made() == 2);          // eggs_again itself; nothing made from it
        CHECK(eggs_again.text == "eggs"); // present: not moved from
    }
    CHECK(n.empty());
}

TEST_CASE(WEAKREF_FLAVOUR "weak_interner: heterogeneous intern makes a T only when the value is "
                          "absent",
          "[weak_interner]") {
    name_interner n;
    names made;
    wr::ref<name> a = n.intern(std::string_view("lobster"));
    CHECK(made.made() == 1);
    CHECK(a->text == "lobster");
    const long calls_before = name_equal::calls();
    wr::ref<name> b = n.intern(std::string_view("lobster"));
    CHECK(b == a);
    CHECK(made.made() == 1);                        // no T made for a present value
    CHECK(name_equal::calls() - calls_before == 1); // one comparison, with the view
    CHECK(n.contains(std::string_view("lobster")));
    CHECK_FALSE(n.contains(std::string_view("thermidor")));
    CHECK(made.made() == 1);
    wr::ref<name> c = n.intern(name(std::string("lobster")));
    CHECK(c == a);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_interner: values whose hashes collide stay distinct objects",
          "[weak_interner][collision]") {
    colliding_interner n;
    names made;
    std::vector<wr::ref<name>> held;
    for (int i = 0; i < 40; ++i) {
        held.push_back(n.intern(std::string_view(std::to_string(i))));
    }
    CHECK(n.size() == 40);
    for (int i = 0; i < 40; ++i) {
        wr::ref<name> again = n.intern(std::string_view(std::to_string(i)));
        CHECK(again == held[static_cast<std::size_t>(i)]);
        CHECK(again->text == std::to_string(i));
    }
    CHECK(made.made() == 40); // nothing made for present values
    // The unequal candidates a lookup held for comparison are all let go again.
    for (const wr::ref<name>& r : held) {
        CHECK(r.use_count() == 1);
    }
    // Every other one dies: the rest are still found through the one chain.
    for (std::size_t i = 0; i < held.size(); i += 2) {
        held[i].reset();
    }
    CHECK(n.size() == 20);
    CHECK(made.alive() == 20);
    for (int i = 0; i < 40; ++i) {
        CHECK(n.contains(std::string_view(std::to_string(i))) == (i % 2 == 1));
    }
    held.clear();
    CHECK(n.empty());
    CHECK(made.alive() == 0);
}

TEMPLATE_TEST_CASE(WEAKREF_FLAVOUR "weak_interner: interns any hashable type",
                   "[weak_interner][typed]", int, std::set<int>, wrtest::final_type,
                   wrtest::over_aligned) {
    typename typed<TestType>::interner n;
    wr::ref<TestType> one = n.intern(typed<TestType>::make(1));
    wr::ref<TestType> two = n.intern(typed<TestType>::make(2));
    const TestType one_again = typed<TestType>::make(1);
    CHECK(n.intern(one_again) == one);
    CHECK(one != two);
    CHECK(n.size() == 2);
    CHECK(n.contains(typed<TestType>::make(2)));
    CHECK(wrtest::identities(n.values()) == wrtest::identities_of(one, two));
    two.reset();
    CHECK(n.size() == 1);
    CHECK_FALSE(n.contains(typed<TestType>::make(2)));
    one.reset();
    CHECK(n.empty());
}

// --- Deaths that use the interner ----------------------------------------------------------------

namespace {
/// A value whose destructor runs `last_words` (if set): a death that uses the interner.
struct speaker {
    explicit speaker(int v) : value(v) {}
    speaker(const speaker& other) : value(other.value) {}
    speaker& operator=(const speaker&) = delete;
    ~speaker() {
        if (last_words) {
            last_words();
        }
    }
    int value;
    std::function<void()> last_words;
};
struct speaker_hash {
    std::size_t operator()(const speaker& s) const noexcept { return std::hash<int>()(s.value); }
};
struct speaker_equal {
    bool operator()(const speaker& a, const speaker& b) const noexcept {
        return a.value == b.value;
    }
};
using speaker_interner = wr::weak_interner<speaker, speaker_hash, speaker_equal>;
} // namespace

TEST_CASE(WEAKREF_FLAVOUR "weak_interner: a dying object is gone before its destructor, which may "
                          "intern an equal value",
          "[weak_interner][death]") {
    speaker_interner n;
    wr::ref<speaker> other = n.intern(speaker(2));
    wr::ref<speaker> dying = n.intern(speaker(1));
    bool looked = false;
    bool contained = true;
    std::size_t size_inside = 0;
    wr::ref<speaker> reborn;
    const speaker* dying_address = dying.get();
    dying->last_words = [&] {
        looked = true;
        contained = n.contains(speaker(1));
        size_inside = n.size();
        reborn = n.intern(speaker(1)); // a new canonical object, made during the death
    };
    dying.reset();
    REQUIRE(looked);
    CHECK_FALSE(contained);
    CHECK(size_inside == 1);
    REQUIRE(reborn);
    CHECK(reborn.get() != dying_address);
    CHECK(n.intern(speaker(1)) == reborn);
    CHECK(n.size() == 2);
    CHECK(other->value == 2);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_interner: a chain of interned objects each holding the next "
                          "empties the interner",
          "[weak_interner][death]") {
    struct link {
        int value;
        wr::ref<link> next;
        explicit link(int v) : value(v) {}
        link(const link& other) : value(other.value) {}
        link& operator=(const link&) = delete;
        ~link() = default;
    };
    struct link_hash {
        std::size_t operator()(const link& l) const noexcept { return std::hash<int>()(l.value); }
    };
    struct link_equal {
        bool operator()(const link& a, const link& b) const noexcept { return a.value == b.value; }
    };
    wr::weak_interner<link, link_hash, link_equal> n;
    wr::ref<link> head = n.intern(link(0));
    wr::ref<link> at = head;
    for (int i = 1; i < 1000; ++i) {
        at->next = n.intern(link(i));
        at = at->next;
    }
    at.reset();
    CHECK(n.size() == 1000);
    head.reset();
    CHECK(n.empty());
}

// --- Failures
// --------------------------------------------------------------------------------------

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "weak_interner: a constructor that throws leaves the interner unchanged",
          "[needs-exceptions][weak_interner][exceptions]") {
    using value = wrtest::throwing_ctor<name_tag>;
    struct value_hash {
        std::size_t operator()(const value& v) const noexcept {
            return std::hash<int>()(v.member.value);
        }
    };
    struct value_equal {
        bool operator()(const value& a, const value& b) const noexcept {
            return a.member.value == b.member.value;
        }
    };
    wr::weak_interner<value, value_hash, value_equal> n;
    names made;
    const value v(false, 5);
    value::fail_copies().store(true);
    CHECK_THROWS_AS(n.intern(v), wrtest::construction_failed);
    value::fail_copies().store(false);
    CHECK(n.empty());
    CHECK(made.alive() == 1); // only v
    wr::ref<value> r = n.intern(v);
    CHECK(r->member.value == 5);
    CHECK(n.size() == 1);
}
#endif

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "weak_interner: a hash or key equality that throws leaves the interner "
                          "unchanged",
          "[needs-exceptions][weak_interner][exceptions]") {
    struct tag {};
    wr::weak_interner<int, wrtest::flaky_hash<tag>, wrtest::flaky_equal<tag>> n;
    wrtest::disarm_at_exit<tag> disarm;
    wr::ref<int> one = n.intern(1);
    wrtest::fault<tag>::arm(0); // the next hash throws
    CHECK_THROWS_AS(n.intern(2), wrtest::injected_failure);
    CHECK(n.size() == 1);
    wrtest::fault<tag>::arm(1); // the hash passes, the comparison with the live 1 throws
    CHECK_THROWS_AS(n.intern(1), wrtest::injected_failure);
    CHECK(one.use_count() == 1); // the candidate held for the comparison was let go
    CHECK(n.intern(1) == one);
    CHECK(n.size() == 1);
}
#endif

// --- Copies and moves
// --------------------------------------------------------------------------------

TEST_CASE(WEAKREF_FLAVOUR "weak_interner: a copy has the same canonical objects; a moved-from one "
                          "is empty and usable",
          "[weak_interner]") {
    wr::weak_interner<std::string> a;
    wr::ref<std::string> spam = a.intern("spam");
    wr::ref<std::string> eggs = a.intern("eggs");
    wr::weak_interner<std::string> b(a);
    CHECK(b.size() == 2);
    CHECK(b.intern("spam") == spam); // the same object, not a copy of it
    CHECK(spam.weak_count() == 2);   // an entry in each
    wr::ref<std::string> ham = b.intern("ham");
    CHECK_FALSE(a.contains("ham"));

    wr::weak_interner<std::string> c(std::move(a));
    CHECK(a.empty()); // NOLINT(bugprone-use-after-move): moved-from is empty and usable
    CHECK(c.intern("eggs") == eggs);
    wr::ref<std::string> fresh = a.intern("eggs");
    CHECK(fresh != eggs);
    CHECK(a.size() == 1);

    a.swap(c);
    CHECK(a.intern("eggs") == eggs);
    CHECK(c.intern("eggs") == fresh);

    c = b;
    CHECK(c.intern("ham") == ham);
    CHECK(c.size() == 3);
    CHECK(fresh.weak_count() == 0); // c's old entry for it is gone
    spam.reset();
    CHECK(b.size() == 2);
    CHECK(c.size() == 2);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_interner: its objects outlive the interner", "[weak_interner]") {
    wr::ref<std::string> kept;
    {
        wr::weak_interner<std::string> n;
        kept = n.intern("parrot");
        CHECK(kept.weak_count() == 1);
    }
    wr::flush_retired();
    CHECK(*kept == "parrot");
    CHECK(kept.weak_count() == 0);
}
