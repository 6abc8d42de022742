// SPDX-License-Identifier: MIT
// The symbols of a tiny parser: weak_interner.
//
// A parser turns each program's identifiers into Symbols, through one weak_interner: every use
// of a name, in any program, gets the same Symbol object, made once and stored once. The
// interner keeps no Symbol alive. When the last program that uses a name is closed, its Symbol
// dies and leaves the interner at that moment; a later program that uses the name gets a new
// one.
#include <weakref/weakref.hpp>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct Symbol {
    explicit Symbol(std::string_view n) : name(n) { ++made; }
    Symbol(const Symbol&) = delete;
    Symbol& operator=(const Symbol&) = delete;
    ~Symbol() = default;

    std::string name;
    static inline int made = 0; // Symbols made so far
};

// Hash and equality that take a Symbol or a std::string_view, so that the parser can intern the
// characters it sees without making a std::string or a Symbol for a name already interned.
struct symbol_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
    std::size_t operator()(const Symbol& s) const { return (*this)(std::string_view(s.name)); }
};
struct symbol_equal {
    using is_transparent = void;
    bool operator()(const Symbol& a, const Symbol& b) const { return a.name == b.name; }
    bool operator()(const Symbol& a, std::string_view b) const { return a.name == b; }
    bool operator()(std::string_view a, const Symbol& b) const { return a == b.name; }
};

using symbol_table = weakref::weak_interner<Symbol, symbol_hash, symbol_equal>;

// A parsed program: its text and the Symbol of each identifier it uses, in order.
struct Program {
    std::string text;
    std::vector<weakref::ref<Symbol>> uses;
};

Program parse(symbol_table& symbols, std::string text) {
    Program p{std::move(text), {}};
    const std::string_view s = p.text;
    for (std::size_t i = 0; i < s.size();) {
        if (std::isalpha(static_cast<unsigned char>(s[i])) == 0) {
            ++i;
            continue;
        }
        std::size_t end = i;
        while (end < s.size() && std::isalnum(static_cast<unsigned char>(s[end])) != 0) {
            ++end;
        }
        p.uses.push_back(symbols.intern(s.substr(i, end - i))); // heterogeneous: a string_view
        i = end;
    }
    return p;
}

void show(const symbol_table& symbols) {
    std::vector<std::string> names;
    for (const weakref::ref<Symbol>& s : symbols.values()) {
        names.push_back(s->name);
    }
    std::sort(names.begin(), names.end());
    std::cout << "  symbols:";
    for (const std::string& n : names) {
        std::cout << " " << n;
    }
    std::cout << (names.empty() ? " (none)" : "") << "; made so far: " << Symbol::made << "\n";
}

int main() {
    symbol_table symbols;

    auto first = std::make_unique<Program>(parse(symbols, "total = price * count"));
    std::cout << "program 1: " << first->text << "\n";
    show(symbols);

    auto second = std::make_unique<Program>(parse(symbols, "count = count + 1"));
    std::cout << "program 2: " << second->text << "\n";
    const bool same_in_program = second->uses[0] == second->uses[1];
    const bool same_across = second->uses[0] == first->uses[2];
    std::cout << "  both uses of 'count' in program 2 are one object: "
              << (same_in_program ? "yes" : "no") << "\n";
    std::cout << "  and it is program 1's 'count': " << (same_across ? "yes" : "no") << "\n";
    show(symbols);

    const weakref::weak_ref<Symbol> old_total = first->uses[0];
    first.reset(); // program 1 is closed: 'total' and 'price' have no other user and die now
    std::cout << "program 1 closed\n";
    show(symbols);

    second.reset();
    std::cout << "program 2 closed\n";
    show(symbols);

    const Program third = parse(symbols, "total = 0");
    std::cout << "program 3: " << third.text << "\n";
    std::cout << "  the old 'total' is " << (old_total.expired() ? "dead" : "alive")
              << ": program 3 has a new one\n";
    show(symbols);

    const bool ok = same_in_program && same_across && old_total.expired() && symbols.size() == 1 &&
                    Symbol::made == 4;
    return ok ? 0 : 1;
}
