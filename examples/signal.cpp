// SPDX-License-Identifier: MIT
// A price ticker and its subscribers: weak_signal, connection, scoped_connection.
//
// A ticker announces prices through a weak_signal. A chart (owned by its window) and an audit log
// subscribe; the signal holds neither of them. An alert lives in a scope of its own and says
// "stop" by leaving that scope (a scoped_connection). Then the user closes the window: the chart
// dies, and with it its connection, at that moment. Nobody unsubscribes it, no list is swept,
// and the next price reaches only the log.
#include <weakref/weakref.hpp>

#include <iomanip>
#include <iostream>
#include <string>

struct Ticker {
    // Subscribers get the symbol and the price in cents.
    weakref::weak_signal<void(const std::string&, int)> price_changed;

    void trade(const std::string& symbol, int cents) {
        std::cout << "ticker: " << symbol << " at " << cents / 100 << "." << std::setw(2)
                  << std::setfill('0') << cents % 100 << std::setfill(' ') << "\n";
        price_changed(symbol, cents);
    }
};

class Chart {
public:
    void draw(const std::string& symbol, int cents) {
        ++points_;
        std::cout << "  chart: point " << points_ << " for " << symbol << " (" << cents << ")\n";
    }

private:
    int points_ = 0;
};

struct AuditLog {
    int entries = 0;
};

int main() {
    Ticker ticker;
    auto log = weakref::make_ref<AuditLog>();
    auto window_chart = weakref::make_ref<Chart>(); // the window's own ref to its chart

    ticker.price_changed.connect(window_chart, &Chart::draw); // a method of a weakly held chart
    ticker.price_changed.connect(log, [](AuditLog& l, const std::string& symbol, int cents) {
        ++l.entries;
        std::cout << "  log: #" << l.entries << " " << symbol << " " << cents << "\n";
    });
    ticker.trade("ACME", 1250);

    {
        // The alert watches while this scope runs, then stops by itself.
        auto alert = weakref::make_ref<int>(1300); // the threshold
        const weakref::scoped_connection watching{ticker.price_changed.connect(
            alert, [](const int& threshold, const std::string& symbol, int cents) {
                if (cents > threshold) {
                    std::cout << "  alert: " << symbol << " above " << threshold << "\n";
                }
            })};
        ticker.trade("ACME", 1310);
    }
    ticker.trade("ACME", 1320);

    window_chart.reset(); // the window closes: its chart dies and leaves the ticker now
    std::cout << "window closed; subscribers left: " << ticker.price_changed.size() << "\n";
    ticker.trade("ACME", 1290);
    return ticker.price_changed.size() == 1 && log->entries == 4 ? 0 : 1;
}
