// SPDX-License-Identifier: MIT
// An observer list whose listeners unsubscribe by dying: weak_set of listeners and weak_fn.
//
// A thermometer publishes readings. It does not own its listeners: displays subscribe through a
// weak_set, a logger through weak_fn(logger, &Logger::record). Nobody ever calls
// "unsubscribe": a listener that is destroyed simply stops being told. Single-threaded, so it
// uses the weakref::local:: flavour (plain counts, no locks).
#include <weakref/weakref.hpp>

#include <cstddef>
#include <functional>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace wr = weakref::local;

// A listener of the first kind: anything with on_reading, kept in a weak_set.
struct Display {
    explicit Display(std::string n) : name(std::move(n)) {}
    void on_reading(double celsius) {
        last = celsius;
        ++seen;
    }
    std::string name;
    double last = 0;
    int seen = 0;
};

// A listener of the second kind: a member function bound weakly, like Python's WeakMethod.
struct Logger {
    void record(double celsius) { lines.push_back(std::to_string(celsius)); }
    std::vector<std::string> lines;
};

class Thermometer {
public:
    /// Displays: held weakly, by identity; subscribing twice is subscribing once.
    bool subscribe(const wr::ref<Display>& d) { return displays_.insert(d); }

    /// Any weak_fn (or other callable) that returns whether its target still lives.
    void subscribe(std::function<bool(double)> callback) {
        callbacks_.push_back(std::move(callback));
    }

    void publish(double celsius) {
        // items() is a snapshot that holds every display strongly, so a display cannot die
        // in the middle of its own notification even if the loop drops every other ref.
        for (const wr::ref<Display>& d : displays_.items()) {
            d->on_reading(celsius);
        }
        // A weak_fn returns false once its target died: that is the unsubscription.
        std::vector<std::function<bool(double)>> still_there;
        for (auto& callback : callbacks_) {
            if (callback(celsius)) {
                still_there.push_back(std::move(callback));
            }
        }
        callbacks_ = std::move(still_there);
    }

    std::size_t display_count() const { return displays_.size(); }
    std::size_t callback_count() const { return callbacks_.size(); }

private:
    wr::weak_set<Display> displays_;
    std::vector<std::function<bool(double)>> callbacks_;
};

static int failures = 0;
static void check(bool ok, const char* what) {
    if (!ok) {
        std::cerr << "observer: FAILED: " << what << '\n';
        ++failures;
    }
}

int main() {
    Thermometer thermometer;

    wr::ref<Display> kitchen = wr::make_ref<Display>("kitchen");
    wr::ref<Display> hall = wr::make_ref<Display>("hall");
    wr::ref<Logger> logger = wr::make_ref<Logger>();

    check(thermometer.subscribe(kitchen), "kitchen subscribes");
    check(thermometer.subscribe(hall), "hall subscribes");
    check(!thermometer.subscribe(kitchen), "a second subscription of kitchen changes nothing");
    thermometer.subscribe(wr::weak_fn(logger, &Logger::record));

    // The thermometer observes; it owns nothing.
    check(kitchen.use_count() == 1 && kitchen.weak_count() == 1, "the set is a weak observer");
    check(logger.use_count() == 1 && logger.weak_count() == 1, "so is the weak_fn");

    thermometer.publish(19.5);
    check(kitchen->seen == 1 && hall->seen == 1 && logger->lines.size() == 1,
          "everyone hears the first reading");

    // The hall display is taken down. Nobody tells the thermometer; the set forgets it at once.
    wr::weak_ref<Display> hall_was = hall;
    hall.reset();
    check(hall_was.expired(), "the hall display is gone");
    check(thermometer.display_count() == 1, "and gone from the thermometer's set already");

    thermometer.publish(21.0);
    check(kitchen->seen == 2 && kitchen->last == 21.0, "kitchen hears the second reading");
    check(logger->lines.size() == 2, "so does the logger");

    // The logger goes too. Its weak_fn now returns false, and publish() drops it.
    logger.reset();
    check(thermometer.callback_count() == 1, "the dead logger's callback is still listed...");
    thermometer.publish(22.5);
    check(thermometer.callback_count() == 0, "...until the next publish finds it dead");
    check(kitchen->seen == 3, "kitchen hears the third reading");

    // A listener that subscribes late hears only what comes after.
    wr::ref<Display> porch = wr::make_ref<Display>("porch");
    thermometer.subscribe(porch);
    thermometer.publish(18.0);
    check(porch->seen == 1 && kitchen->seen == 4, "late subscriber hears from then on");

    kitchen.reset();
    porch.reset();
    check(thermometer.display_count() == 0, "every display died: nobody is subscribed");
    thermometer.publish(17.0); // tells nobody, touches no freed memory

    std::cout << "observer: " << (failures == 0 ? "every listener unsubscribed by dying" : "FAILED")
              << '\n';
    return failures == 0 ? 0 : 1;
}
