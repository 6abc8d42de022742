// SPDX-License-Identifier: MIT
// Behaviour of ref, weak_ref, make_ref, allocate_ref, the casts, identity and printing.
#include "support/catch.hpp"
#include "support/counting.hpp"
#include "support/exceptions.hpp"
#include "support/flavour.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iomanip>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <unordered_set>
#include <utility>
#include <vector>

namespace {

struct live_tag {};
using live = wrtest::counted<live_tag>;

struct base_a {
    virtual ~base_a() = default;
    int a = 1;
};
struct base_b {
    virtual ~base_b() = default;
    int b = 2;
};
/// base_a sits at the object's address; base_b does not.
struct two_bases : base_a, base_b {
    int c = 3;
};
struct unrelated : base_a {};
struct left : base_a {};
struct right : base_a {};
/// Two base_a subobjects: a conversion to base_a is ambiguous.
struct diamond : left, right {};
class hidden_base : base_a {};

struct vbase {
    virtual ~vbase() = default;
    int v = 4;
};
/// The virtual base is placed after the derived part.
struct virtual_derived : virtual vbase {
    int d = 5;
};

struct aggregate {
    int x;
    int y;
};

struct self_aware : wr::enable_ref_from_this<self_aware> {
    self_aware() {
        const wr::weak_ref<self_aware> w = weak_from_this();
        ctor_block = w.block_address();
        ctor_saw_expired = w.expired();
    }
    ~self_aware() {
#if WEAKREF_TEST_HAS_EXCEPTIONS // without, ref_from_this() here would end the program
        try {
            (void)ref_from_this();
        } catch (const weakref::bad_weak_ref&) {
            if (on_destroy_threw != nullptr) {
                *on_destroy_threw = true;
            }
        }
#endif
        if (weak_in_dtor != nullptr) {
            *weak_in_dtor = weak_from_this().expired();
        }
        if (keep_from_dtor != nullptr) {
            *keep_from_dtor = weak_from_this();
        }
    }
    self_aware(const self_aware& other) : wr::enable_ref_from_this<self_aware>(other) {}
    self_aware& operator=(const self_aware&) = default;

    wr::ref<self_aware> me() { return ref_from_this(); }
    wr::ref<const self_aware> me() const { return ref_from_this(); }

    const void* ctor_block = nullptr; // weak_from_this() in the constructor
    bool ctor_saw_expired = false;
    bool* on_destroy_threw = nullptr;
    bool* weak_in_dtor = nullptr;
    wr::weak_ref<self_aware>* keep_from_dtor = nullptr;
};

struct self_aware_derived : self_aware {
    int extra = 11;
};

/// The text `os << p` gives for an address, in the format the weak_ref printing uses.
std::string hex(const volatile void* p) {
    std::ostringstream os;
    os << "0x" << std::hex << reinterpret_cast<std::uintptr_t>(p);
    return os.str();
}

template <class T> std::string print(const T& handle) {
    std::ostringstream os;
    os << handle;
    return os.str();
}

const volatile void* block_below(const volatile void* object) {
    return static_cast<const volatile char*>(object) - 16;
}

/// True when `text` matches `pattern`, where each '#' in the pattern stands for one or more
/// lower-case hex digits and every other character stands for itself. (std::regex would do, but
/// libstdc++'s regex trips GCC's -Wmaybe-uninitialized in sanitizer builds.)
bool matches_hex_pattern(const std::string& text, const std::string& pattern) {
    auto is_hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
    std::size_t t = 0;
    for (const char p : pattern) {
        if (p == '#') {
            const std::size_t start = t;
            while (t < text.size() && is_hex(text[t])) {
                ++t;
            }
            if (t == start) {
                return false;
            }
        } else if (t == text.size() || text[t++] != p) {
            return false;
        }
    }
    return t == text.size();
}

} // namespace

// --- ref: construction, ownership, counts ---

TEST_CASE(WEAKREF_FLAVOUR "ref: default and nullptr construction give an empty handle", "[ref]") {
    wr::ref<int> a;
    wr::ref<int> b = nullptr;
    CHECK_FALSE(a);
    CHECK_FALSE(b);
    CHECK(a.get() == nullptr);
    CHECK(a.use_count() == 0);
    CHECK(a.weak_count() == 0);
    CHECK(a == nullptr);
    CHECK(nullptr == b);
    CHECK_FALSE(a != nullptr);
    CHECK(a == b);
}

TEST_CASE(WEAKREF_FLAVOUR "ref: make_ref constructs from the arguments and owns one count",
          "[ref][make_ref]") {
    wrtest::count_scope<live> scope;
    {
        auto r = wr::make_ref<live>(42);
        REQUIRE(r);
        CHECK(r->value == 42);
        CHECK((*r).value == 42);
        CHECK(r.get()->value == 42);
        CHECK(r.use_count() == 1);
        CHECK(r.weak_count() == 0);
        CHECK(scope.made() == 1);
        CHECK(scope.alive() == 1);
    }
    CHECK(scope.destroyed() == 1);
    CHECK(scope.alive() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "ref: make_ref brace-initialises an aggregate", "[ref][make_ref]") {
    auto r = wr::make_ref<aggregate>(3, 4);
    CHECK(r->x == 3);
    CHECK(r->y == 4);
    auto s = wr::make_ref<std::string>(3, 'z');
    CHECK(*s == "zzz");
}

TEST_CASE(WEAKREF_FLAVOUR "ref: copies share the object; the last one destroys it once", "[ref]") {
    wrtest::count_scope<live> scope;
    auto a = wr::make_ref<live>(1);
    {
        auto b = a;
        wr::ref<live> c;
        c = b;
        CHECK(a.use_count() == 3);
        CHECK(b.get() == a.get());
        CHECK(c.get() == a.get());
        c->value = 9;
        CHECK(a->value == 9);
    }
    CHECK(a.use_count() == 1);
    CHECK(scope.destroyed() == 0);
    a.reset();
    CHECK_FALSE(a);
    CHECK(scope.destroyed() == 1);
    CHECK(scope.made() == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "ref: a moved-from handle is empty and the count is unchanged", "[ref]") {
    auto a = wr::make_ref<int>(5);
    int* p = a.get();
    SECTION("move construction") {
        wr::ref<int> b(std::move(a));
        CHECK_FALSE(a); // NOLINT(bugprone-use-after-move)
        CHECK(a.use_count() == 0);
        CHECK(b.get() == p);
        CHECK(b.use_count() == 1);
    }
    SECTION("move assignment") {
        auto b = wr::make_ref<int>(6);
        b = std::move(a);
        CHECK_FALSE(a); // NOLINT(bugprone-use-after-move)
        CHECK(b.get() == p);
        CHECK(b.use_count() == 1);
    }
    SECTION("converting move") {
        wr::ref<const int> b(std::move(a));
        CHECK_FALSE(a); // NOLINT(bugprone-use-after-move)
        CHECK(b.get() == p);
        CHECK(b.use_count() == 1);
    }
}

TEST_CASE(WEAKREF_FLAVOUR "ref: self-assignment keeps the object", "[ref]") {
    wrtest::count_scope<live> scope;
    auto a = wr::make_ref<live>(3);
    auto& alias = a;
    a = alias;
    CHECK(a.use_count() == 1);
    CHECK(a->value == 3);
    a = std::move(alias);
    REQUIRE(a);
    CHECK(a.use_count() == 1);
    CHECK(a->value == 3);
    CHECK(scope.destroyed() == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "ref: reset, = nullptr and swap", "[ref]") {
    wrtest::count_scope<live> scope;
    auto a = wr::make_ref<live>(1);
    auto b = wr::make_ref<live>(2);
    live* pa = a.get();
    live* pb = b.get();
    SECTION("member swap") {
        a.swap(b);
        CHECK(a.get() == pb);
        CHECK(b.get() == pa);
    }
    SECTION("free swap") {
        using std::swap;
        swap(a, b);
        CHECK(a.get() == pb);
        CHECK(b.get() == pa);
    }
    SECTION("swap with an empty handle") {
        wr::ref<live> e;
        e.swap(a);
        CHECK_FALSE(a);
        CHECK(e.get() == pa);
        CHECK(e.use_count() == 1);
    }
    SECTION("reset") {
        a.reset();
        CHECK_FALSE(a);
        CHECK(scope.destroyed() == 1);
        CHECK(b->value == 2);
    }
    SECTION("= nullptr") {
        b = nullptr;
        CHECK_FALSE(b);
        CHECK(scope.destroyed() == 1);
        CHECK(a->value == 1);
    }
    SECTION("reset of an empty handle") {
        wr::ref<live> e;
        e.reset();
        CHECK_FALSE(e);
        CHECK(scope.destroyed() == 0);
    }
}

TEST_CASE(WEAKREF_FLAVOUR "ref: use_count and weak_count follow the handles", "[ref][weak_ref]") {
    auto r = wr::make_ref<int>(1);
    CHECK(r.use_count() == 1);
    CHECK(r.weak_count() == 0);
    wr::weak_ref<int> w1 = r;
    CHECK(r.weak_count() == 1);
    {
        auto w2 = w1;
        wr::weak_ref<int> w3;
        w3 = r;
        CHECK(r.weak_count() == 3);
        CHECK(w2.weak_count() == 3);
        auto r2 = w2.lock();
        CHECK(r.use_count() == 2);
        CHECK(w1.use_count() == 2);
    }
    CHECK(r.use_count() == 1);
    CHECK(r.weak_count() == 1);
    w1.reset();
    CHECK(r.weak_count() == 0);
}

// --- weak_ref ---

TEST_CASE(WEAKREF_FLAVOUR "weak_ref: an empty weak_ref is expired and locks to nothing",
          "[weak_ref]") {
    wr::weak_ref<int> w;
    wr::weak_ref<int> n = nullptr;
    CHECK(w.expired());
    CHECK(n.expired());
    CHECK_FALSE(w.lock());
    CHECK_FALSE(w());
    CHECK(w.use_count() == 0);
    CHECK(w.weak_count() == 0);
    CHECK(w == n);
    CHECK(w.block_address() == nullptr);
    wr::ref<int> empty;
    wr::weak_ref<int> from_empty = empty;
    CHECK(from_empty.expired());
    CHECK(from_empty == w);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_ref: lock() returns the live referent", "[weak_ref]") {
    auto r = wr::make_ref<int>(17);
    wr::weak_ref<int> w = r;
    CHECK_FALSE(w.expired());
    auto l = w.lock();
    REQUIRE(l);
    CHECK(l.get() == r.get());
    CHECK(*l == 17);
    auto c = w();
    CHECK(c.get() == r.get());
    CHECK(r.use_count() == 3);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_ref: lock() of a dead referent is empty", "[weak_ref]") {
    wrtest::count_scope<live> scope;
    auto r = wr::make_ref<live>(1);
    wr::weak_ref<live> w = r;
    auto w2 = w;
    r.reset();
    CHECK(scope.destroyed() == 1); // the weak_refs do not keep it alive
    CHECK(w.expired());
    CHECK(w2.expired());
    CHECK_FALSE(w.lock());
    CHECK_FALSE(w());
    CHECK(w.use_count() == 0);
    CHECK(w.weak_count() == 2);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_ref: moved-from weak_refs are empty", "[weak_ref]") {
    auto r = wr::make_ref<int>(1);
    wr::weak_ref<int> w = r;
    SECTION("move construction") {
        wr::weak_ref<int> m(std::move(w));
        CHECK(w.expired()); // NOLINT(bugprone-use-after-move)
        CHECK(w.block_address() == nullptr);
        CHECK(m.lock().get() == r.get());
        CHECK(r.weak_count() == 1);
    }
    SECTION("move assignment") {
        wr::weak_ref<int> m;
        m = std::move(w);
        CHECK(w.block_address() == nullptr); // NOLINT(bugprone-use-after-move)
        CHECK(m.lock().get() == r.get());
        CHECK(r.weak_count() == 1);
    }
    SECTION("converting move") {
        wr::weak_ref<const int> m(std::move(w));
        CHECK(w.block_address() == nullptr); // NOLINT(bugprone-use-after-move)
        CHECK(m.lock().get() == r.get());
        CHECK(r.weak_count() == 1);
    }
}

TEST_CASE(WEAKREF_FLAVOUR "weak_ref: reset and swap", "[weak_ref]") {
    auto a = wr::make_ref<int>(1);
    auto b = wr::make_ref<int>(2);
    wr::weak_ref<int> wa = a;
    wr::weak_ref<int> wb = b;
    swap(wa, wb);
    CHECK(wa.lock().get() == b.get());
    CHECK(wb.lock().get() == a.get());
    wa.swap(wb);
    CHECK(wa.lock().get() == a.get());
    wa.reset();
    CHECK(wa.expired());
    CHECK(a.weak_count() == 0);
    CHECK(b.weak_count() == 1);
}

TEST_CASE(WEAKREF_FLAVOUR "weak_ref: ref(w) throws bad_weak_ref when w is empty or dead",
          "[weak_ref][bad_weak_ref]") {
    static_assert(std::is_base_of_v<std::exception, weakref::bad_weak_ref>);
    static_assert(!std::is_convertible_v<wr::weak_ref<int>, wr::ref<int>>,
                  "ref from weak_ref is explicit");
    static_assert(std::is_constructible_v<wr::ref<int>, const wr::weak_ref<int>&>);
    auto r = wr::make_ref<int>(1);
    wr::weak_ref<int> w = r;
    SECTION("live") {
        wr::ref<int> s(w);
        CHECK(s.get() == r.get());
        CHECK(r.use_count() == 2);
    }
#if WEAKREF_TEST_HAS_EXCEPTIONS
    SECTION("dead") {
        r.reset();
        REQUIRE_THROWS_AS(wr::ref<int>(w), weakref::bad_weak_ref);
        try {
            wr::ref<int> s(w);
            FAIL("no exception");
        } catch (const std::exception& e) {
            CHECK(std::string(e.what()).size() > 0);
        }
    }
    SECTION("empty") {
        wr::weak_ref<int> e;
        REQUIRE_THROWS_AS(wr::ref<int>(e), weakref::bad_weak_ref);
    }
    SECTION("dead, converting to a base") {
        auto d = wr::make_ref<two_bases>();
        wr::weak_ref<two_bases> wd = d;
        d.reset();
        REQUIRE_THROWS_AS(wr::ref<base_a>(wd), weakref::bad_weak_ref);
    }
#endif
}

// --- Conversions and casts ---

TEST_CASE(WEAKREF_FLAVOUR "conversions: only what U* -> T* allows", "[ref][conversion]") {
    static_assert(std::is_convertible_v<wr::ref<two_bases>, wr::ref<base_a>>);
    static_assert(std::is_convertible_v<wr::ref<int>, wr::ref<const int>>);
    static_assert(!std::is_convertible_v<wr::ref<const int>, wr::ref<int>>);
    static_assert(!std::is_constructible_v<wr::ref<two_bases>, wr::ref<base_a>>);
    static_assert(!std::is_constructible_v<wr::ref<long>, wr::ref<int>>);
    static_assert(std::is_convertible_v<wr::ref<two_bases>, wr::weak_ref<base_a>>);
    static_assert(std::is_convertible_v<wr::weak_ref<two_bases>, wr::weak_ref<base_a>>);
    static_assert(!std::is_constructible_v<wr::weak_ref<two_bases>, wr::weak_ref<base_a>>);
    static_assert(!std::is_constructible_v<wr::weak_ref<two_bases>, wr::ref<base_a>>);
    static_assert(!std::is_constructible_v<wr::ref<int>, int*>, "no raw-pointer adoption");
    static_assert(std::is_same_v<wr::ref<int>::element_type, int>);
    static_assert(std::is_same_v<wr::weak_ref<int>::element_type, int>);
    static_assert(std::is_constructible_v<bool, wr::ref<int>>);
    static_assert(!std::is_convertible_v<wr::ref<int>, bool>, "operator bool is explicit");
    static_assert(std::is_convertible_v<wr::ref<int>, wr::weak_ref<int>>, "implicit weak_ref");
    // Ambiguous and private bases are refused at compile time.
    static_assert(!std::is_constructible_v<wr::ref<base_a>, wr::ref<diamond>>);
    static_assert(!std::is_constructible_v<wr::weak_ref<base_a>, wr::ref<diamond>>);
    static_assert(!std::is_constructible_v<wr::ref<base_a>, wr::ref<hidden_base>>);
    CHECK(true);
}

TEST_CASE(WEAKREF_FLAVOUR "conversions: to a first base keep the object and its counts",
          "[ref][weak_ref][conversion]") {
    auto d = wr::make_ref<two_bases>();
    wr::ref<base_a> a = d;
    CHECK(static_cast<void*>(a.get()) == static_cast<void*>(d.get()));
    CHECK(d.use_count() == 2);
    CHECK(a == d);
    wr::weak_ref<base_a> wa = d;
    wr::weak_ref<two_bases> wd = d;
    wr::weak_ref<base_a> wa2 = wd;
    CHECK(d.weak_count() == 3);
    CHECK(wa == wa2);
    CHECK(wa2.lock().get() == a.get());
    CHECK(wa.block_address() == wd.block_address());
    wr::ref<base_a> moved = std::move(d);
    CHECK_FALSE(d); // NOLINT(bugprone-use-after-move)
    CHECK(moved.use_count() == 2);
    a.reset();
    moved.reset();
    CHECK(wa.expired());
    CHECK(wa2.expired());
    // Converting a dead weak_ref keeps its identity.
    wr::weak_ref<base_a> wa3 = wd;
    CHECK(wa3 == wa);
    CHECK(wa3.expired());
    CHECK(std::hash<wr::weak_ref<base_a>>()(wa3) == std::hash<wr::weak_ref<base_a>>()(wa));
}

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "conversions: to a second base throw std::bad_cast and leak no count",
          "[needs-exceptions][ref][weak_ref][conversion]") {
    wrtest::count_scope<live> scope;
    auto d = wr::make_ref<two_bases>();
    SECTION("ref from ref") {
        REQUIRE_THROWS_AS(wr::ref<base_b>(d), std::bad_cast);
        wr::ref<two_bases> copy = d;
        REQUIRE_THROWS_AS(wr::ref<base_b>(std::move(copy)), std::bad_cast);
    }
    SECTION("weak_ref from ref") { REQUIRE_THROWS_AS(wr::weak_ref<base_b>(d), std::bad_cast); }
    SECTION("weak_ref from a live weak_ref") {
        wr::weak_ref<two_bases> wd = d;
        REQUIRE_THROWS_AS(wr::weak_ref<base_b>(wd), std::bad_cast);
        CHECK(d.weak_count() == 1);
    }
    SECTION("dynamic_ref_cast") {
        wr::ref<base_a> a = d;
        REQUIRE_THROWS_AS(wr::dynamic_ref_cast<base_b>(a), std::bad_cast);
        CHECK(d.use_count() == 2);
    }
    SECTION("static_ref_cast") { REQUIRE_THROWS_AS(wr::static_ref_cast<base_b>(d), std::bad_cast); }
    SECTION("ref from a live weak_ref") {
        wr::weak_ref<two_bases> wd = d;
        REQUIRE_THROWS_AS(wr::ref<base_b>(wd), std::bad_cast);
        CHECK(d.use_count() == 1);
        CHECK(d.weak_count() == 1);
    }
    SECTION("assignment") {
        wr::ref<base_b> b;
        REQUIRE_THROWS_AS(b = d, std::bad_cast);
        CHECK_FALSE(b);
    }
    CHECK(d.use_count() == 1);
    CHECK(d.weak_count() == 0);
    wr::weak_ref<two_bases> w = d;
    d.reset();
    CHECK(w.expired()); // the failed conversions left no strong count behind
}
#endif

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "conversions: to a virtual base at another address throw std::bad_cast",
          "[needs-exceptions][ref][conversion]") {
    auto d = wr::make_ref<virtual_derived>();
    const vbase& as_base = *d;
    if (static_cast<const void*>(&as_base) == static_cast<const void*>(d.get())) {
        WARN("the virtual base sits at the object's address on this ABI");
        return;
    }
    REQUIRE_THROWS_AS(wr::ref<vbase>(d), std::bad_cast);
    REQUIRE_THROWS_AS(wr::weak_ref<vbase>(d), std::bad_cast);
    CHECK(d.use_count() == 1);
    CHECK(d.weak_count() == 0);
}
#endif

TEST_CASE(WEAKREF_FLAVOUR "casts: static, dynamic and const", "[ref][cast]") {
    auto d = wr::make_ref<two_bases>();
    wr::ref<base_a> a = d;
    SECTION("static_ref_cast down and up") {
        wr::ref<two_bases> down = wr::static_ref_cast<two_bases>(a);
        CHECK(down.get() == d.get());
        CHECK(d.use_count() == 3);
        wr::ref<base_a> up = wr::static_ref_cast<base_a>(down);
        CHECK(up.get() == a.get());
        CHECK(d.use_count() == 4);
    }
#if WEAKREF_TEST_HAS_RTTI
    SECTION("dynamic_ref_cast to the right type") {
        auto down = wr::dynamic_ref_cast<two_bases>(a);
        REQUIRE(down);
        CHECK(down.get() == d.get());
        CHECK(d.use_count() == 3);
    }
    SECTION("dynamic_ref_cast to the wrong type is empty and adds no count") {
        auto other = wr::dynamic_ref_cast<unrelated>(a);
        CHECK_FALSE(other);
        CHECK(d.use_count() == 2);
    }
#endif
    SECTION("const_ref_cast") {
        wr::ref<const two_bases> c = d;
        wr::ref<two_bases> m = wr::const_ref_cast<two_bases>(c);
        CHECK(m.get() == d.get());
        m->c = 99;
        CHECK(c->c == 99);
        CHECK(d.use_count() == 4);
    }
    SECTION("casts of an empty handle are empty") {
        wr::ref<base_a> e;
        CHECK_FALSE(wr::static_ref_cast<two_bases>(e));
#if WEAKREF_TEST_HAS_RTTI
        CHECK_FALSE(wr::dynamic_ref_cast<two_bases>(e));
#endif
        wr::ref<const base_a> ce;
        CHECK_FALSE(wr::const_ref_cast<base_a>(ce));
    }
}

// --- Identity, hashing, ordering ---

TEST_CASE(WEAKREF_FLAVOUR "identity: == and hash go by the referent", "[ref][weak_ref][identity]") {
    auto a = wr::make_ref<int>(1);
    auto b = wr::make_ref<int>(1);
    auto a2 = a;
    CHECK(a == a2);
    CHECK_FALSE(a != a2);
    CHECK(a != b); // equal values, different objects
    CHECK_FALSE(a == b);
    CHECK(std::hash<wr::ref<int>>()(a) == std::hash<wr::ref<int>>()(a2));
    wr::weak_ref<int> wa = a;
    wr::weak_ref<int> wa2 = a2;
    wr::weak_ref<int> wb = b;
    CHECK(wa == wa2);
    CHECK(wa != wb);
    CHECK(std::hash<wr::weak_ref<int>>()(wa) == std::hash<wr::weak_ref<int>>()(wa2));
    auto d = wr::make_ref<two_bases>();
    wr::ref<base_a> base = d;
    CHECK(base == d);
    CHECK(d == base);
}

TEST_CASE(WEAKREF_FLAVOUR "identity: a weak_ref's == and hash do not change at death",
          "[weak_ref][identity]") {
    auto a = wr::make_ref<int>(1);
    auto b = wr::make_ref<int>(2);
    wr::weak_ref<int> wa = a;
    wr::weak_ref<int> wa2 = a;
    wr::weak_ref<int> wb = b;
    const std::size_t hash_before = std::hash<wr::weak_ref<int>>()(wa);
    const auto address_before = wa.address();
    a.reset();
    CHECK(wa.expired());
    CHECK(std::hash<wr::weak_ref<int>>()(wa) == hash_before);
    CHECK(wa.address() == address_before);
    CHECK(wa == wa2);
    CHECK(wa != wb);
    // A new object cannot take the address while a weak_ref keeps the block.
    auto c = wr::make_ref<int>(3);
    wr::weak_ref<int> wc = c;
    CHECK(wc != wa);
}

TEST_CASE(WEAKREF_FLAVOUR "identity: weak_refs are keys of an unordered_set through death",
          "[weak_ref][identity]") {
    std::vector<wr::ref<int>> objects;
    std::unordered_set<wr::weak_ref<int>> set;
    for (int i = 0; i < 20; ++i) {
        objects.push_back(wr::make_ref<int>(i));
        set.insert(objects.back());
    }
    REQUIRE(set.size() == 20);
    CHECK_FALSE(set.insert(objects[3]).second); // the same referent again
    std::vector<wr::weak_ref<int>> keys(objects.begin(), objects.end());
    for (std::size_t i = 0; i < objects.size(); i += 2) {
        objects[i].reset();
    }
    CHECK(set.size() == 20);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        INFO("key " << i);
        CHECK(set.count(keys[i]) == 1);
        CHECK(keys[i].expired() == (i % 2 == 0));
    }
    std::size_t erased = 0;
    for (auto it = set.begin(); it != set.end();) {
        if (it->expired()) {
            it = set.erase(it);
            ++erased;
        } else {
            ++it;
        }
    }
    CHECK(erased == 10);
    CHECK(set.size() == 10);
    CHECK(set.count(keys[1]) == 1);
    CHECK(set.count(keys[0]) == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "identity: owner_before is a strict order by referent, through death",
          "[ref][weak_ref][identity]") {
    auto a = wr::make_ref<int>(1);
    auto b = wr::make_ref<int>(2);
    wr::weak_ref<int> wa = a;
    wr::weak_ref<int> wb = b;
    CHECK_FALSE(a.owner_before(a));
    CHECK_FALSE(a.owner_before(wa));
    CHECK_FALSE(wa.owner_before(a));
    CHECK(a.owner_before(b) != b.owner_before(a));
    CHECK(a.owner_before(b) == wa.owner_before(wb));
    CHECK(a.owner_before(b) == a.owner_before(wb));
    CHECK(a.owner_before(b) == wa.owner_before(b));
    CHECK(a.owner_before(b) == (a < b));
    const bool before = wa.owner_before(wb);
    a.reset();
    CHECK(wa.owner_before(wb) == before);
    CHECK(wb.owner_before(wa) == !before);
    // An empty handle orders consistently with a live one.
    wr::weak_ref<int> e;
    CHECK(e.owner_before(wb) != wb.owner_before(e));
}

TEST_CASE(WEAKREF_FLAVOUR "ref: make_ref<const T> makes a const object", "[ref][make_ref]") {
    auto r = wr::make_ref<const std::string>("abc");
    static_assert(std::is_same_v<decltype(r), wr::ref<const std::string>>);
    CHECK(*r == "abc");
    wr::weak_ref<const std::string> w = r;
    CHECK(w.lock() == r);
    auto m = wr::const_ref_cast<std::string>(r);
    CHECK(m.get() == r.get());
}

namespace {
struct cycle_tag {};
struct cycle_node : wrtest::counted<cycle_tag> {
    wr::ref<cycle_node> strong_next;
    wr::weak_ref<cycle_node> weak_next;
};
} // namespace

TEST_CASE(WEAKREF_FLAVOUR "ref: a cycle of refs leaks; a weak_ref breaks it", "[ref][weak_ref]") {
    using counted = wrtest::counted<cycle_tag>;
    wrtest::count_scope<counted> scope;
    SECTION("strong cycle") {
        wr::weak_ref<cycle_node> watch;
        {
            auto a = wr::make_ref<cycle_node>();
            auto b = wr::make_ref<cycle_node>();
            a->strong_next = b;
            b->strong_next = a;
            watch = a;
        }
        CHECK(scope.alive() == 2); // leaked, as with std::shared_ptr
        CHECK_FALSE(watch.expired());
        watch.lock()->strong_next.reset(); // break it by hand
        CHECK(scope.alive() == 0);
        CHECK(watch.expired());
    }
    SECTION("one link weak") {
        {
            auto a = wr::make_ref<cycle_node>();
            auto b = wr::make_ref<cycle_node>();
            a->strong_next = b;
            b->weak_next = a;
            CHECK(b->weak_next.lock() == a);
        }
        CHECK(scope.alive() == 0);
    }
}

// --- Printing ---

TEST_CASE(WEAKREF_FLAVOUR "printing: live, dead and empty weak_refs", "[weak_ref][print]") {
    auto r = wr::make_ref<int>(5);
    wr::weak_ref<int> w = r;
    const std::string block = hex(block_below(r.get()));
    const std::string object = hex(r.get());

    const std::string live_text = print(w);
    CHECK(matches_hex_pattern(live_text, "<weak_ref at 0x#; to 'int' at 0x#>"));
    CHECK(live_text == "<weak_ref at " + block + "; to 'int' at " + object + ">");

    // Every handle to the object prints the same block.
    wr::weak_ref<const int> wc = r;
    CHECK(print(wc) == "<weak_ref at " + block + "; to 'int' at " + object + ">");

    r.reset();
    const std::string dead_text = print(w);
    CHECK(matches_hex_pattern(dead_text, "<weak_ref at 0x#; dead>"));
    CHECK(dead_text == "<weak_ref at " + block + "; dead>");

    wr::weak_ref<int> e;
    CHECK(print(e) == "<weak_ref empty>");
}

TEST_CASE(WEAKREF_FLAVOUR "printing: names the handle's type, demangled", "[weak_ref][print]") {
    auto f = wr::make_ref<wrtest::final_type>(1);
    wr::weak_ref<wrtest::final_type> wf = f;
    CHECK(matches_hex_pattern(print(wf), "<weak_ref at 0x#; to 'wrtest::final_type' at 0x#>"));
    auto d = wr::make_ref<two_bases>();
    wr::weak_ref<base_a> wa = d;
    CHECK(print(wa).find("; to '(anonymous namespace)::base_a' at ") != std::string::npos);
    auto s = wr::make_ref<std::set<int>>();
    wr::weak_ref<std::set<int>> ws = s;
    CHECK(print(ws).find("; to 'std::set<int") != std::string::npos);
}

TEST_CASE(WEAKREF_FLAVOUR "printing: leaves the stream's format flags alone", "[weak_ref][print]") {
    auto r = wr::make_ref<int>(5);
    wr::weak_ref<int> w = r;
    std::ostringstream plain;
    plain << w;
    std::ostringstream os;
    os << std::uppercase << std::showbase << std::dec << std::setfill('*');
    const auto flags = os.flags();
    os << w;
    CHECK(os.str() == plain.str());
    CHECK(os.flags() == flags);
    os.str("");
    os << 255;
    CHECK(os.str() == "255");
}

TEST_CASE(WEAKREF_FLAVOUR "printing: works on wide streams", "[weak_ref][print]") {
    auto r = wr::make_ref<int>(5);
    wr::weak_ref<int> w = r;
    std::wostringstream live_text;
    live_text << w;
    const std::string narrow = print(w);
    CHECK(live_text.str() == std::wstring(narrow.begin(), narrow.end()));
    r.reset();
    std::wostringstream dead_text;
    dead_text << w;
    CHECK(dead_text.str().find(L"; dead>") != std::wstring::npos);
    std::wostringstream empty_text;
    empty_text << wr::weak_ref<int>();
    CHECK(empty_text.str() == L"<weak_ref empty>");
}

TEST_CASE(WEAKREF_FLAVOUR "printing: the control block's address is stable across death",
          "[weak_ref][print]") {
    auto r = wr::make_ref<int>(5);
    wr::weak_ref<int> w = r;
    wr::weak_ref<int> w2 = w;
    const void* before = w.block_address();
    CHECK(before == block_below(r.get()));
    CHECK(w2.block_address() == before);
    r.reset();
    CHECK(w.block_address() == before);
    CHECK(w2.block_address() == before);
    CHECK(print(w).find(hex(before)) != std::string::npos);
}

// --- allocate_ref and memory ---

TEST_CASE(WEAKREF_FLAVOUR "allocate_ref: one allocation, freed when the last handle goes",
          "[allocate_ref][hazard-13]") {
    wrtest::alloc_stats stats;
    wrtest::count_scope<live> scope;
    {
        auto r = wr::allocate_ref<live>(wrtest::counting_allocator<live>(stats), 8);
        CHECK(r->value == 8);
        CHECK(stats.allocations == 1);
        CHECK(stats.misaligned == 0);
        wr::weak_ref<live> w = r;
        r.reset();
        CHECK(scope.alive() == 0);            // the object died
        CHECK(stats.live_allocations() == 1); // its bytes stay while a weak_ref lives
        CHECK(w.expired());
    }
    CHECK(stats.live_allocations() == 0);
    CHECK(stats.live_bytes() == 0);
    CHECK(stats.bad_deallocations == 0);
}

TEST_CASE(WEAKREF_FLAVOUR "allocate_ref: deallocates with the allocator it was given",
          "[allocate_ref]") {
    wrtest::alloc_stats first;
    wrtest::alloc_stats second;
    auto a = wr::allocate_ref<int>(wrtest::counting_allocator<int>(first), 1);
    auto b = wr::allocate_ref<int>(wrtest::counting_allocator<char>(second), 2);
    CHECK(first.allocations == 1);
    CHECK(second.allocations == 1);
    a.reset();
    CHECK(first.live_allocations() == 0);
    CHECK(second.live_allocations() == 1);
    b.reset();
    CHECK(second.live_allocations() == 0);
    CHECK(first.bad_deallocations == 0);
    CHECK(second.bad_deallocations == 0);

    struct tag {};
    using stateless = wrtest::stateless_counting_allocator<int, tag>;
    auto& s = stateless::stats();
    auto c = wr::allocate_ref<int>(stateless(), 3);
    CHECK(*c == 3);
    CHECK(s.allocations == 1);
    c.reset();
    CHECK(s.live_allocations() == 0);
    CHECK(s.bad_deallocations == 0);
}

namespace {

/// A fancy pointer: what an allocator for shared memory or a debugging arena hands out in
/// place of T* (std::allocator_traits<A>::pointer is not a raw pointer).
template <class T> class fancy_ptr {
public:
    using element_type = T;
    using value_type = std::remove_cv_t<T>;
    using difference_type = std::ptrdiff_t;
    using pointer = fancy_ptr;
    using reference = T&;
    using iterator_category = std::random_access_iterator_tag;

    fancy_ptr() noexcept = default;
    fancy_ptr(std::nullptr_t) noexcept {} // NOLINT(google-explicit-constructor)
    explicit fancy_ptr(T* p) noexcept : p_(p) {}
    template <class U, std::enable_if_t<std::is_convertible_v<U*, T*>, int> = 0>
    fancy_ptr(const fancy_ptr<U>& other) noexcept // NOLINT(google-explicit-constructor)
        : p_(other.operator->()) {}
    template <class U = T, std::enable_if_t<!std::is_void_v<U>, int> = 0>
    static fancy_ptr pointer_to(U& r) noexcept {
        return fancy_ptr(std::addressof(r));
    }
    T* operator->() const noexcept { return p_; }
    template <class U = T, std::enable_if_t<!std::is_void_v<U>, int> = 0> U& operator*() const {
        return *p_;
    }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    friend bool operator==(const fancy_ptr& a, const fancy_ptr& b) noexcept { return a.p_ == b.p_; }
    friend bool operator!=(const fancy_ptr& a, const fancy_ptr& b) noexcept { return a.p_ != b.p_; }

private:
    T* p_ = nullptr;
};

/// Live allocations of every fancy_allocator<T>, whatever T it was rebound to.
struct fancy_count {
    static inline long live = 0;
};

template <class T> struct fancy_allocator : fancy_count {
    using value_type = T;
    using pointer = fancy_ptr<T>;
    template <class U> struct rebind { using other = fancy_allocator<U>; };
    fancy_allocator() noexcept = default;
    template <class U> fancy_allocator(const fancy_allocator<U>& /*unused*/) noexcept {}
    pointer allocate(std::size_t n) {
        ++live;
        return pointer(static_cast<T*>(::operator new(n * sizeof(T))));
    }
    void deallocate(pointer p, std::size_t /*unused*/) noexcept {
        --live;
        ::operator delete(p.operator->());
    }
    friend bool operator==(const fancy_allocator&, const fancy_allocator&) noexcept { return true; }
    friend bool operator!=(const fancy_allocator&, const fancy_allocator&) noexcept {
        return false;
    }
};

} // namespace

TEST_CASE(WEAKREF_FLAVOUR "allocate_ref: takes an allocator of fancy pointers, as "
                          "std::allocate_shared does",
          "[allocate_ref]") {
    {
        auto theirs = std::allocate_shared<std::string>(fancy_allocator<std::string>(), "std");
        CHECK(*theirs == "std");
    }
    REQUIRE(fancy_count::live == 0);
    auto r = wr::allocate_ref<std::string>(fancy_allocator<std::string>(), "ours");
    CHECK(*r == "ours");
    CHECK(fancy_count::live == 1); // one allocation: block and object
    wr::weak_ref<std::string> w = r;
    r.reset();
    CHECK(w.expired());
    CHECK(fancy_count::live == 1); // the weak_ref keeps the block
    w.reset();
    CHECK(fancy_count::live == 0); // returned through the fancy pointer
}

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "make_ref: a throwing constructor leaks nothing",
          "[needs-exceptions][make_ref]") {
    struct tag {};
    using subject = wrtest::throwing_ctor<tag>;
    using member = wrtest::counted<tag>;
    wrtest::count_scope<member> scope;
    SECTION("allocate_ref with a counting allocator") {
        wrtest::alloc_stats stats;
        REQUIRE_THROWS_AS(
            wr::allocate_ref<subject>(wrtest::counting_allocator<subject>(stats), true),
            wrtest::construction_failed);
        CHECK(stats.allocations == 1);
        CHECK(stats.live_allocations() == 0);
        CHECK(stats.bad_deallocations == 0);
        auto ok = wr::allocate_ref<subject>(wrtest::counting_allocator<subject>(stats), false);
        CHECK(stats.live_allocations() == 1);
        ok.reset();
        CHECK(stats.live_allocations() == 0);
    }
    SECTION("make_ref") {
        REQUIRE_THROWS_AS(wr::make_ref<subject>(true), wrtest::construction_failed);
    }
    SECTION("a throwing copy") {
        subject original(false);
        wrtest::alloc_stats stats;
        wrtest::throwing_ctor<tag>::fail_copies() = true;
        CHECK_THROWS_AS(wr::allocate_ref<subject>(wrtest::counting_allocator<int>(stats), original),
                        wrtest::construction_failed);
        wrtest::throwing_ctor<tag>::fail_copies() = false;
        CHECK(stats.live_allocations() == 0);
    }
    CHECK(scope.alive() == 0);
}
#endif

#if WEAKREF_TEST_HAS_EXCEPTIONS
TEST_CASE(WEAKREF_FLAVOUR "allocate_ref: a failed allocation throws and constructs nothing",
          "[needs-exceptions][allocate_ref]") {
    wrtest::alloc_stats stats;
    wrtest::count_scope<live> scope;
    stats.fail_next = true;
    REQUIRE_THROWS_AS(wr::allocate_ref<live>(wrtest::counting_allocator<live>(stats), 1),
                      std::bad_alloc);
    CHECK(scope.made() == 0);
    CHECK(stats.allocations == 0);
}
#endif

// --- enable_ref_from_this ---

TEST_CASE(WEAKREF_FLAVOUR "enable_ref_from_this: handles to *this from a member function",
          "[enable_ref_from_this]") {
    auto r = wr::make_ref<self_aware>();
    wr::ref<self_aware> me = r->me();
    CHECK(me.get() == r.get());
    CHECK(r.use_count() == 2);
    wr::weak_ref<self_aware> w = r->weak_from_this();
    CHECK(w.lock().get() == r.get());
    CHECK(r.weak_count() == 1);
    const self_aware& c = *r;
    wr::ref<const self_aware> cme = c.me();
    CHECK(cme.get() == r.get());
    wr::weak_ref<const self_aware> cw = c.weak_from_this();
    CHECK(cw == wr::weak_ref<const self_aware>(w));
}

TEST_CASE(WEAKREF_FLAVOUR "enable_ref_from_this: works through a derived type made by make_ref",
          "[enable_ref_from_this]") {
    auto r = wr::make_ref<self_aware_derived>();
    wr::ref<self_aware> me = r->me();
    CHECK(static_cast<void*>(me.get()) == static_cast<void*>(r.get()));
    CHECK(r.use_count() == 2);
    auto back = wr::static_ref_cast<self_aware_derived>(me);
    CHECK(back->extra == 11);
}

TEST_CASE(WEAKREF_FLAVOUR "enable_ref_from_this: outside make_ref, in the constructor and "
                          "in the destructor",
          "[enable_ref_from_this][bad_weak_ref]") {
    SECTION("an object not made by make_ref") {
        // On the heap: on the stack, GCC 12's -Wstringop-overflow (at -O2, with sanitizers)
        // cannot see that weak_from_this() is empty and warns of a read below the object.
        auto plain = std::make_unique<self_aware>();
#if WEAKREF_TEST_HAS_EXCEPTIONS
        REQUIRE_THROWS_AS(plain->me(), weakref::bad_weak_ref);
#endif
        CHECK(plain->weak_from_this().expired());
        CHECK(plain->weak_from_this().block_address() == nullptr);
    }
    SECTION("a copy of a managed object is not managed") {
        auto r = wr::make_ref<self_aware>();
        self_aware copy(*r);
#if WEAKREF_TEST_HAS_EXCEPTIONS
        REQUIRE_THROWS_AS(copy.me(), weakref::bad_weak_ref);
#endif
        CHECK(r.use_count() == 1);
    }
    SECTION("weak_from_this in the constructor is not empty, and expired") {
        auto r = wr::make_ref<self_aware>();
        CHECK(r->ctor_block == wr::weak_ref<self_aware>(r).block_address());
        CHECK(r->ctor_saw_expired);
        CHECK(r.weak_count() == 0); // the constructor's weak_ref is gone
    }
    SECTION("ref_from_this in the destructor throws; weak_from_this is expired") {
        bool threw = false;
        bool weak_expired = false;
        auto r = wr::make_ref<self_aware>();
        r->on_destroy_threw = &threw;
        r->weak_in_dtor = &weak_expired;
        SECTION("sole owner") { r.reset(); }
        SECTION("with a weak observer") {
            wr::weak_ref<self_aware> w = r;
            r.reset();
            CHECK(w.expired());
        }
#if WEAKREF_TEST_HAS_EXCEPTIONS
        CHECK(threw);
#endif
        CHECK(weak_expired);
    }
    SECTION("a weak_ref made in the destructor and kept outlives the object safely") {
        wr::weak_ref<self_aware> kept;
        auto r = wr::make_ref<self_aware>();
        const void* block = wr::weak_ref<self_aware>(r).block_address();
        r->keep_from_dtor = &kept;
        r.reset();
        CHECK(kept.expired());
        CHECK_FALSE(kept.lock());
        CHECK(kept.block_address() == block);
        CHECK(print(kept) == "<weak_ref at " + hex(block) + "; dead>");
        auto copy = kept;
        kept.reset();
        CHECK(copy.expired());
    }
}

TEST_CASE(WEAKREF_FLAVOUR "enable_ref_from_this: assigning a managed object keeps its own "
                          "identity",
          "[enable_ref_from_this]") {
    auto a = wr::make_ref<self_aware>();
    auto b = wr::make_ref<self_aware>();
    *a = *b;
    CHECK(a->me() == a);
    CHECK(b->me() == b);
    CHECK(a.use_count() == 1);
    CHECK(b.use_count() == 1);
}

// --- The same behaviour over many kinds of T ---

namespace {

/// How a typed case makes and checks its subject: `held` is the handle's type, `made` the
/// object's; `alive()` counts living objects where the type can count them (else -1).
struct int_subject {
    using held = int;
    using made = int;
    static wr::ref<held> make() { return wr::make_ref<int>(42); }
    static bool intact(const held& v) { return v == 42; }
    static long alive() { return -1; }
    static const char* name() { return "int"; }
};
struct set_subject {
    using held = std::set<int>;
    using made = std::set<int>;
    static wr::ref<held> make() { return wr::make_ref<std::set<int>>(std::set<int>{1, 2, 3}); }
    static bool intact(const held& v) { return v == std::set<int>{1, 2, 3}; }
    static long alive() { return -1; }
    static const char* name() { return nullptr; }
};
struct final_subject {
    using held = wrtest::final_type;
    using made = wrtest::final_type;
    static wr::ref<held> make() { return wr::make_ref<wrtest::final_type>(42); }
    static bool intact(const held& v) { return v.value == 42; }
    static long alive() { return wrtest::final_type::counts().alive(); }
    static const char* name() { return "wrtest::final_type"; }
};
struct plain_base_subject {
    using held = wrtest::plain_base;
    using made = wrtest::plain_derived;
    static wr::ref<held> make() { return wr::make_ref<wrtest::plain_derived>(42); }
    static bool intact(const held& v) {
        return v.base_value == 7 && static_cast<const wrtest::plain_derived&>(v).member.value == 42;
    }
    static long alive() { return wrtest::counted<wrtest::plain_derived>::counts().alive(); }
    static const char* name() { return "wrtest::plain_base"; }
};
struct aligned_subject {
    using held = wrtest::over_aligned;
    using made = wrtest::over_aligned;
    static wr::ref<held> make() { return wr::make_ref<wrtest::over_aligned>(42); }
    static bool intact(const held& v) { return v.value == 42; }
    static long alive() { return wrtest::over_aligned::counts().alive(); }
    static const char* name() { return "wrtest::over_aligned"; }
};

} // namespace

TEMPLATE_TEST_CASE(WEAKREF_FLAVOUR "typed: make_ref, weak_ref, death and printing for any T",
                   "[ref][weak_ref][typed]", int_subject, set_subject, final_subject,
                   plain_base_subject, aligned_subject) {
    using held = typename TestType::held;
    using made = typename TestType::made;
    const long alive_before = TestType::alive();
    {
        wr::ref<held> r = TestType::make();
        REQUIRE(r);
        CHECK(TestType::intact(*r));
        CHECK(reinterpret_cast<std::uintptr_t>(r.get()) % alignof(made) == 0);
        if (alive_before >= 0) {
            CHECK(TestType::alive() == alive_before + 1);
        }
        wr::weak_ref<held> w = r;
        CHECK(w.block_address() == block_below(r.get()));
        CHECK(w.lock() == r);
        const std::string text = print(w);
        CHECK(text.rfind("<weak_ref at " + hex(w.block_address()) + "; to '", 0) == 0);
        CHECK(text.find("' at " + hex(r.get()) + ">") != std::string::npos);
        if (TestType::name() != nullptr) {
            CHECK(text.find(std::string("'") + TestType::name() + "'") != std::string::npos);
        }
        wr::ref<held> copy = r;
        CHECK(r.use_count() == 2);
        r.reset();
        CHECK_FALSE(w.expired());
        CHECK(TestType::intact(*copy));
        const void* block = w.block_address();
        copy.reset();
        CHECK(w.expired());
        CHECK_FALSE(w.lock());
        CHECK(w.block_address() == block);
        CHECK(print(w) == "<weak_ref at " + hex(block) + "; dead>");
        if (alive_before >= 0) {
            CHECK(TestType::alive() == alive_before); // the destructor of `made` ran
        }
    }
    if (alive_before >= 0) {
        CHECK(TestType::alive() == alive_before);
    }
}

TEMPLATE_TEST_CASE(WEAKREF_FLAVOUR "typed: allocate_ref frees exactly what it allocated",
                   "[allocate_ref][typed]", int_subject, set_subject, final_subject,
                   aligned_subject) {
    using made = typename TestType::made;
    wrtest::alloc_stats stats;
    {
        auto r = wr::allocate_ref<made>(wrtest::counting_allocator<made>(stats));
        CHECK(reinterpret_cast<std::uintptr_t>(r.get()) % alignof(made) == 0);
        wr::weak_ref<made> w = r;
        CHECK(w.block_address() == block_below(r.get()));
        CHECK(stats.allocations == 1);
        CHECK(stats.misaligned == 0);
    }
    CHECK(stats.live_allocations() == 0);
    CHECK(stats.live_bytes() == 0);
    CHECK(stats.bad_deallocations == 0);
}
