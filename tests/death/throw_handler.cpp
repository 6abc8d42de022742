// SPDX-License-Identifier: MIT
// A user's weakref::throw_handler (WEAKREF_THROW_HANDLER): without exceptions weakref calls it
// where it would throw; with exceptions weakref throws as usual. Each case runs as its own
// process (tests/support/expect_death.cmake checks how it ended and what it printed).
//
//     weakref_throw_handler <case>
//
// Built with -DWEAKREF_THROW_HANDLER, once with -fno-exceptions and once without.
#include <weakref/finalizer.hpp>
#include <weakref/ref.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>

namespace {

/// What the handler does after printing: end the program itself, or return to weakref.
bool handler_returns = false;

/// A throw that weakref makes: on_death of an empty ref (std::invalid_argument).
int throw_from_weakref() {
    weakref::ref<int> empty;
#if WEAKREF_HAS_EXCEPTIONS
    try {
        auto f = weakref::on_death(empty, [] {});
        std::printf("survived: alive %d\n", f.alive() ? 1 : 0);
    } catch (const std::invalid_argument& e) {
        std::printf("caught: %s\n", e.what());
    }
    return 0;
#else
    auto f = weakref::on_death(empty, [] {});
    std::printf("survived: alive %d\n", f.alive() ? 1 : 0);
    return 0;
#endif
}

} // namespace

void weakref::throw_handler(const std::exception& e) {
    std::fprintf(stderr, "user throw_handler: %s\n", e.what());
    if (!handler_returns) {
        std::_Exit(3);
    }
}

int main(int argc, char** argv) {
    if (argc == 2 && std::strcmp(argv[1], "handler_ends") == 0) {
        return throw_from_weakref();
    }
    if (argc == 2 && std::strcmp(argv[1], "handler_returns") == 0) {
        handler_returns = true;
        return throw_from_weakref();
    }
    std::fprintf(stderr, "usage: weakref_throw_handler handler_ends|handler_returns\n");
    return 2;
}
