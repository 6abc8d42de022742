// SPDX-License-Identifier: MIT
// A tree whose parents own their children and children only observe their parent.
//
// Parents hold `ref`s to their children; a child points back up with a `weak_ref`, filled in
// by enable_ref_from_this. The back pointers make no cycle, so dropping the root frees the
// whole tree, and a subtree somebody still holds outlives the rest, knowing its parent died.
#include <weakref/weakref.hpp>

#include <cstddef>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

class Node : public weakref::enable_ref_from_this<Node> {
public:
    explicit Node(std::string name) : name_(std::move(name)) { ++alive; }
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;
    ~Node() { --alive; }

    /// Makes a child named `name` under this node and returns it.
    weakref::ref<Node> add_child(std::string name) {
        weakref::ref<Node> child = weakref::make_ref<Node>(std::move(name));
        child->parent_ = weak_from_this(); // up: observe only
        children_.push_back(child);        // down: own
        return child;
    }

    /// The parent while it lives; an empty ref for the root, or once the parent died.
    weakref::ref<Node> parent() const { return parent_.lock(); }

    /// "/root/usr/local": the names from the highest living ancestor down to this node.
    std::string path() const {
        std::vector<const Node*> up{this};
        // `keep` holds the highest ancestor reached: it owns every node below it on the way,
        // so the raw pointers in `up` stay valid even if another thread lets go of the root.
        weakref::ref<Node> keep;
        for (weakref::ref<Node> p = parent(); p; p = p->parent()) {
            up.push_back(p.get());
            keep = p;
        }
        std::string out;
        for (std::size_t i = up.size(); i-- > 0;) {
            out += '/';
            out += up[i]->name_;
        }
        return out;
    }

    const std::string& name() const { return name_; }
    std::size_t child_count() const { return children_.size(); }

    static inline int alive = 0;

private:
    std::string name_;
    weakref::weak_ref<Node> parent_;           // empty at the root
    std::vector<weakref::ref<Node>> children_; // the only owners of the children
};

static int failures = 0;
static void check(bool ok, const std::string& what) {
    if (!ok) {
        std::cerr << "tree: FAILED: " << what << '\n';
        ++failures;
    }
}

int main() {
    weakref::ref<Node> root = weakref::make_ref<Node>("root");
    weakref::ref<Node> bin; // somebody outside the tree will keep this one
    {
        weakref::ref<Node> usr = root->add_child("usr");
        weakref::ref<Node> local = usr->add_child("local");
        bin = local->add_child("bin");
        local->add_child("lib");
        usr->add_child("share");
        root->add_child("etc")->add_child("hosts");
    }
    check(Node::alive == 8, "eight nodes");

    // The path-to-root walk follows the weak back pointers.
    check(bin->path() == "/root/usr/local/bin", "bin's path is " + bin->path());
    check(root->path() == "/root", "the root has no parent");

    // The counts show who owns whom: bin is owned by its parent and by `bin`; it observes its
    // parent, which in turn is owned by one node (usr) and observed by its two children.
    weakref::ref<Node> local = bin->parent();
    check(bin.use_count() == 2 && bin.weak_count() == 0, "bin: two owners, no observer");
    check(local.use_count() == 2 && local.weak_count() == 2,
          "local: usr and this walk own it; bin and lib observe it");
    check(root.use_count() == 1 && root.weak_count() == 2,
          "the root is owned once, observed by usr and etc");
    local.reset();

    // Drop the root. No child owns anything upward, so nothing keeps the tree up: every node
    // goes, except bin, which the program still holds.
    weakref::weak_ref<Node> root_was = root;
    root.reset();
    check(root_was.expired(), "the root died");
    check(Node::alive == 1, "only bin is left, " + std::to_string(Node::alive) + " alive");
    check(!bin->parent(), "bin knows its parent died");
    check(bin->path() == "/bin", "an orphan's path starts at itself: " + bin->path());
    bin.reset();
    check(Node::alive == 0, "the last node is gone");

    // A deep tree (a chain of 100000 nodes) goes just as well: the library frees long chains of
    // owners without deep recursion, so the last line here does not overflow the stack.
    {
        weakref::ref<Node> top = weakref::make_ref<Node>("deep");
        weakref::ref<Node> leaf = top;
        for (int i = 0; i < 100000; ++i) {
            leaf = leaf->add_child("n");
        }
        check(Node::alive == 100001, "a deep chain");
        check(leaf->parent()->parent()->child_count() == 1, "each node has one child");
        leaf.reset();
        top.reset();
    }
    check(Node::alive == 0, "the deep tree is gone");

    std::cout << "tree: " << (failures == 0 ? "every node freed with its root" : "FAILED") << '\n';
    return failures == 0 ? 0 : 1;
}
