// SPDX-License-Identifier: MIT
// A side table: data attached to objects owned by someone else, with weak_key_map.
//
// A scene owns its widgets. A tooltip service wants to attach a tooltip to some of them, but it
// may not add a field to Widget and must not keep widgets alive. A weak_key_map keyed by the
// widget does both: the tooltip lives exactly as long as its widget. Code that only has a raw
// `const Widget*` (a hit test, a callback given `this`) can look the tooltip up by pointer.
//
// A second side table counts clicks per widget, fed by several input threads at once: update()
// changes one widget's count atomically, so no click is lost, and threads clicking different
// widgets never wait for each other.
#include <weakref/weakref.hpp>

#include <cstddef>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// Owned by the scene; knows nothing of tooltips.
struct Widget {
    int x, y, width, height;
    bool hit(int px, int py) const {
        return px >= x && px < x + width && py >= y && py < y + height;
    }
};

// The attached data. It counts its live instances, to show that the map drops them.
struct Tooltip {
    explicit Tooltip(std::string t) : text(std::move(t)) { ++alive; }
    Tooltip(const Tooltip& other) : text(other.text) { ++alive; }
    Tooltip(Tooltip&& other) noexcept : text(std::move(other.text)) { ++alive; }
    Tooltip& operator=(const Tooltip&) = default;
    Tooltip& operator=(Tooltip&&) = default;
    ~Tooltip() { --alive; }
    std::string text;
    static inline int alive = 0;
};

// The owner of the widgets.
struct Scene {
    std::vector<weakref::ref<Widget>> widgets;

    /// The topmost widget at (px, py), as a raw pointer: all a hit test needs to hand out.
    const Widget* widget_at(int px, int py) const {
        for (std::size_t i = widgets.size(); i-- > 0;) {
            if (widgets[i]->hit(px, py)) {
                return widgets[i].get();
            }
        }
        return nullptr;
    }
};

static int failures = 0;
static void check(bool ok, const char* what) {
    if (!ok) {
        std::cerr << "side_table: FAILED: " << what << '\n';
        ++failures;
    }
}

int main() {
    Scene scene;
    scene.widgets.push_back(weakref::make_ref<Widget>(Widget{0, 0, 100, 20}));  // a toolbar
    scene.widgets.push_back(weakref::make_ref<Widget>(Widget{10, 2, 16, 16}));  // a button on it
    scene.widgets.push_back(weakref::make_ref<Widget>(Widget{0, 20, 100, 80})); // the canvas

    // The side table: widget => tooltip. It holds the widgets weakly, by identity.
    weakref::weak_key_map<Widget, Tooltip> tooltips;
    tooltips.insert(scene.widgets[1], Tooltip("Save"));
    tooltips.insert(scene.widgets[2], Tooltip("Draw here"));
    check(tooltips.size() == 2 && Tooltip::alive == 2, "two tooltips attached");
    check(scene.widgets[1].use_count() == 1, "the side table does not own the widget");
    check(scene.widgets[1].weak_count() == 1, "it observes it");

    // The mouse hovers at (12, 5): the hit test gives a raw pointer, and that is enough.
    const Widget* hovered = scene.widget_at(12, 5);
    std::optional<Tooltip> tip = tooltips.get(hovered);
    check(tip && tip->text == "Save", "the button under the mouse has its tooltip");
    tip.reset();
    check(!tooltips.contains(scene.widget_at(50, 5)), "the toolbar has none");
    check(tooltips.get(scene.widget_at(50, 50))->text == "Draw here", "the canvas has one");

    // The tooltip service replaces a tooltip; the old one is destroyed, the widget untouched.
    check(!tooltips.insert_or_assign(scene.widgets[1], Tooltip("Save (Ctrl+S)")),
          "insert_or_assign replaces the button's tooltip");
    check(tooltips.get(hovered)->text == "Save (Ctrl+S)", "the new text is there");
    check(Tooltip::alive == 2, "the old tooltip was destroyed");

    // The scene removes the button. Nobody tells the side table: the entry, and the Tooltip in
    // it, go at the moment the widget dies.
    //
    // A weak_ref kept across the removal keeps the widget's memory reserved (the control
    // block outlives the object while observed), so the address cannot be reused by a new
    // widget, and asking about the old raw pointer is a meaningful question.
    weakref::weak_ref<Widget> button_was = scene.widgets[1];
    scene.widgets.erase(scene.widgets.begin() + 1);
    check(button_was.expired(), "the button is gone");
    check(Tooltip::alive == 1, "its tooltip was destroyed with it");
    check(tooltips.size() == 1, "and its entry left the side table");
    check(!tooltips.contains(hovered), "the old pointer finds nothing");
    check(!tooltips.get(hovered), "get by the old pointer is empty");

    // The items are a snapshot holding the widgets strongly, so they can be used safely.
    for (const auto& [widget, tooltip] : tooltips.items()) {
        check(widget->height == 80 && tooltip.text == "Draw here", "the canvas remains");
    }
    // items() made copies of the tooltips; they went with the snapshot.
    check(Tooltip::alive == 1, "the snapshot's copies are gone");

    // Click counts, from four input threads. A plain long is enough: update() runs its function
    // under the entry's own lock, so concurrent updates of one widget lose nothing.
    weakref::weak_key_map<Widget, long> clicks;
    for (const auto& w : scene.widgets) {
        clicks.try_emplace(w, 0L);
    }
    constexpr int threads = 4;
    constexpr int clicks_per_thread = 10000;
    std::vector<std::thread> input;
    input.reserve(threads);
    for (int t = 0; t < threads; ++t) {
        input.emplace_back([&scene, &clicks, t] {
            for (int n = 0; n < clicks_per_thread; ++n) {
                // Every thread clicks the toolbar; each also clicks the canvas on odd turns.
                clicks.update(scene.widgets[0], [](long& c) { ++c; });
                if ((n + t) % 2 == 1) {
                    clicks.update(scene.widgets[1].get(), [](long& c) { ++c; }); // by pointer
                }
            }
        });
    }
    for (auto& thread : input) {
        thread.join();
    }
    const auto count = [](const long& c) { return c; };
    check(clicks.visit(scene.widgets[0], count) == long{threads} * clicks_per_thread,
          "every toolbar click was counted");
    check(clicks.visit(scene.widgets[1], count) == long{threads * clicks_per_thread / 2},
          "every canvas click was counted");

    // The whole scene goes: the side tables empty themselves.
    scene.widgets.clear();
    check(tooltips.empty() && Tooltip::alive == 0, "no widget, no tooltip");
    check(clicks.empty(), "no widget, no click count");

    std::cout << "side_table: "
              << (failures == 0
                      ? "every tooltip and click count lived exactly as long as its widget"
                      : "FAILED")
              << '\n';
    return failures == 0 ? 0 : 1;
}
