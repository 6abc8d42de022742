// SPDX-License-Identifier: MIT
// A widget owned by a std::unique_ptr, observed by a background task: weak_anchor, observer,
// pinned.
//
// A window owns its progress bar outright (std::unique_ptr, no ref anywhere). A download runs on
// another thread and reports to the bar through an observer<ProgressBar>: each report pins the
// bar, so the bar cannot be destroyed in the middle of it. The user closes the window while a
// report is being drawn: the bar's destructor waits for that pin, then the task finds the bar
// gone and finishes the download without it. Nobody unsubscribes anything.
#include <weakref/weakref.hpp>

#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

class ProgressBar {
public:
    explicit ProgressBar(int* last_drawn) : last_drawn_(last_drawn) {}
    ProgressBar(const ProgressBar&) = delete;
    ProgressBar& operator=(const ProgressBar&) = delete;
    ~ProgressBar() {
        // First thing: expire every observer and wait for the reports being drawn, so that no
        // task sees this bar half destroyed.
        anchor.invalidate();
        *last_drawn_ = percent_; // what the last report drew, on the window's thread
    }

    void draw(int percent) {
        percent_ = percent;
        std::cout << "bar: " << percent << "%\n";
    }

    weakref::weak_anchor<ProgressBar> anchor{this}; // the bar can be observed

private:
    int percent_ = 0; // touched under a pin or by the owner only
    int* last_drawn_;
};

struct Window {
    int last_drawn = 0;
    std::unique_ptr<ProgressBar> bar = std::make_unique<ProgressBar>(&last_drawn);
};

int main() {
    Window window;
    std::atomic<bool> drawing_third{false};

    // The task gets an observer: one pointer, no ownership, no say in when the bar dies.
    std::thread download([bar = window.bar->anchor.observe(), &drawing_third] {
        for (int chunk = 1; chunk <= 4; ++chunk) {
            weakref::pinned<ProgressBar> pin = bar.lock();
            if (!pin) {
                std::cout << "task: the bar is gone; the download finishes without it\n";
                return;
            }
            if (chunk == 3) {
                // The user closes the window now. For the story's sake, draw only once the close
                // has begun (the observer reads expired): the destructor must wait for us.
                drawing_third.store(true);
                while (!bar.expired()) {
                    std::this_thread::yield();
                }
            }
            pin->draw(chunk * 25); // the bar is intact while the pin is held
        }
        std::cout << "task: done\n";
    });

    while (!drawing_third.load()) {
        std::this_thread::yield();
    }
    window.bar.reset(); // ~ProgressBar waits for the report being drawn
    download.join();
    std::cout << "window: closed after the bar drew " << window.last_drawn << "%\n";
    return window.last_drawn == 75 ? 0 : 1;
}
