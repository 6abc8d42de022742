// SPDX-License-Identifier: MIT
// A pool of resources lent to objects owned elsewhere, given back by a removal listener.
//
// An editor's tabs own its documents; each open document holds a file handle from a small
// pool. The pool must get every handle back when its document goes, however it goes (a tab
// closed, a document saved and dropped, the whole editor closed), and the document knows
// nothing of the pool. A weak_key_map from document to handle does it: at the moment a
// document dies, the map's removal listener is handed that document's handle, intact, and puts
// it back. (A garbage-collected weak map cannot do this: by the time it notices a dead key, the
// value is gone with it.)
#include <weakref/weakref.hpp>

#include <cstddef>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

// A move-only resource: one owner at a time. Destroying one that was not given back leaks it.
class file_handle {
public:
    explicit file_handle(int fd) noexcept : fd_(fd) {}
    file_handle(file_handle&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    file_handle& operator=(file_handle&& other) noexcept {
        std::swap(fd_, other.fd_);
        return *this;
    }
    file_handle(const file_handle&) = delete;
    file_handle& operator=(const file_handle&) = delete;
    ~file_handle() {
        if (fd_ >= 0) {
            ++leaked;
        }
    }
    [[nodiscard]] int fd() const noexcept { return fd_; }
    static inline int leaked = 0;

private:
    int fd_;
};

// The pool: hands handles out and takes them back.
class handle_pool {
public:
    explicit handle_pool(int n) {
        for (int i = 0; i < n; ++i) {
            free_.emplace_back(100 + i);
        }
    }
    std::optional<file_handle> acquire() {
        if (free_.empty()) {
            return std::nullopt;
        }
        std::optional<file_handle> h(std::move(free_.back()));
        free_.pop_back();
        return h;
    }
    void give_back(file_handle&& h) { free_.push_back(std::move(h)); }
    [[nodiscard]] std::size_t available() const noexcept { return free_.size(); }

private:
    std::vector<file_handle> free_;
};

struct Document {
    std::string name;
};

static int failures = 0;
static void check(bool ok, const char* what) {
    if (!ok) {
        std::cerr << "resource_pool: FAILED: " << what << '\n';
        ++failures;
    }
}

static const char* why(weakref::removal_cause c) {
    switch (c) {
    case weakref::removal_cause::died:
        return "its document died";
    case weakref::removal_cause::erased:
        return "released";
    case weakref::removal_cause::replaced:
        return "replaced";
    case weakref::removal_cause::cleared:
        return "cleared";
    }
    return "?";
}

int main() {
    handle_pool files(3); // declared before the map: the listener uses it until the map goes
    weakref::weak_key_map<Document, file_handle> lent;
    std::vector<std::string> returned;
    lent.on_remove([&](const Document* doc, file_handle&& h, weakref::removal_cause cause) {
        // At a death the document is not destroyed yet: its name is still there to read.
        returned.push_back(doc->name);
        std::cout << "handle " << h.fd() << " back from " << doc->name << ": " << why(cause)
                  << '\n';
        files.give_back(std::move(h));
    });

    // Opening a document lends it a handle, if one is free.
    auto open = [&](std::string name) {
        auto doc = weakref::make_ref<Document>(Document{std::move(name)});
        if (std::optional<file_handle> h = files.acquire()) {
            lent.try_emplace(doc, std::move(*h));
        }
        return doc;
    };

    std::vector<weakref::ref<Document>> tabs;
    for (const char* name : {"notes.txt", "plan.md", "draft.tex", "todo.txt"}) {
        tabs.push_back(open(name));
    }
    check(lent.size() == 3 && files.available() == 0, "three handles lent, the pool is dry");
    check(!lent.contains(tabs[3]), "the fourth document got none");

    // A tab is closed: nobody tells the pool, the handle comes back at the document's death.
    tabs.erase(tabs.begin() + 1);
    check(returned == std::vector<std::string>{"plan.md"}, "plan.md's handle came back");
    check(files.available() == 1, "and is free again");
    tabs.push_back(open("later.txt"));
    check(lent.contains(tabs.back()), "the next document gets it");

    // A document gives its handle back while it stays open: erase, and the listener is told.
    check(lent.erase(tabs[0]), "notes.txt releases its handle");
    check(returned.back() == "notes.txt" && files.available() == 1, "it is back in the pool");

    // The handle of a document can be checked without copying it (a file_handle cannot be).
    const std::optional<int> fd = lent.visit(tabs[1], [](const file_handle& h) { return h.fd(); });
    check(fd.has_value() && *fd >= 100, "draft.tex holds a handle");

    // The editor closes: every tab goes, every handle comes back. (Destroying the map would
    // tell nothing and leak the handles: the map goes after the documents, as here.)
    tabs.clear();
    check(lent.empty(), "nothing is lent any more");
    check(files.available() == 3, "every handle is back");
    check(file_handle::leaked == 0, "no handle was lost");

    std::cout << "resource_pool: "
              << (failures == 0 ? "every handle came back when its document went" : "FAILED")
              << '\n';
    return failures == 0 ? 0 : 1;
}
