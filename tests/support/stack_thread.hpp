// SPDX-License-Identifier: MIT
// Runs a function on a thread with a stack of a given size (std::thread cannot choose one).
#pragma once

#include <pthread.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace wrtest {

/// Calls `fn()` on a new thread whose stack is `bytes` long and waits for it to return.
template <class F> void run_on_stack(std::size_t bytes, F&& fn) {
    struct call {
        F* fn;
        static void* run(void* self) {
            (*static_cast<call*>(self)->fn)();
            return nullptr;
        }
    };
    call c{&fn};
    pthread_attr_t attr;
    pthread_t thread;
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, bytes) != 0 ||
        pthread_create(&thread, &attr, &call::run, &c) != 0) {
        std::fprintf(stderr, "wrtest: cannot start a thread with a %zu-byte stack\n", bytes);
        std::abort();
    }
    pthread_attr_destroy(&attr);
    pthread_join(thread, nullptr);
}

} // namespace wrtest
