# SPDX-License-Identifier: MIT
# GDB pretty-printers for weakref's handles (ref, weak_ref, proxy) and containers (weak_value_map,
# weak_key_map, weak_set), in both flavours.
#
# Load with `source /path/to/weakref_printers.py` (see README.md). The printers read memory only;
# they never call into the inferior, so they work on core files and stopped threads alike.
#
# What they rely on (include/weakref/detail/control_block.hpp, death_hooks.hpp, weak_table.hpp
# and reclamation.hpp):
# - A handle holds one pointer, `ptr_`, the object's own address. The control block is the 16
#   bytes immediately below the object: first the counts (weakref::, one 64-bit word: strong in
#   the low 32 bits, weak in the high 32; weakref::local::, two 32-bit words, strong then weak),
#   then the hook-list head: the newest death hook, or an end tag with bit 0 set; bit 1 is the
#   hook lock. The weak count holds 1 for the live object (while strong != 0) and 1 per armed
#   finalizer's pin, besides the observers.
# - A death hook is three words: the next hook (or the end tag), its link, its sink. A sink
#   starts with `remove`, null for a finalizer.
# - weakref:: containers retire what they take out of a table (per-thread rings of
#   epoch_domain::instance()'s domain) and free it after a grace period: an entry keeps its
#   weak unit on its referent till then, and so does a unit a re-pointed entry let go of.
#   weak_count() waits for that grace period, so those units are not counted either.
# - A container holds `table_` (a table_handle) holding `table_`, a pointer (std::atomic in
#   weakref::, plain_cell in weakref::local::) to a weak_table, null before the first insert.
#   The table has `shards_`; each shard's `heads` points to a bucket_array (null before the
#   first insert): `bits`, then 2^bits bucket heads. A chain runs through table_entry::chain_;
#   an entry's `object_` is its referent's address. After the table_entry base, a
#   weak_value_map entry has `key`; a weak_key_map entry has `state_` (0 while the value is
#   readers' to use) and `storage_`, which holds the value; a weak_set entry has nothing.

import re

import gdb
import gdb.printing
import gdb.types

_BLOCK_SIZE = 16  # the control block sits this many bytes below every object
_END_BIT = 1  # a hook-list word with this bit set is the end tag, not a hook
_LOCK_BIT = 2  # the hook lock, in the hook-list head
_MAX_STEPS = 1000000  # a walk stops here: a corrupt list must not hang the debugger
_LIVE = 0  # weak_key_map entry state_: the value is there for readers

_STRING_NAMES = re.compile(
    r"std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> ?>"
    r"|std::__cxx11::basic_string<char>"
    r"|std::basic_string<char, std::char_traits<char>, std::allocator<char> ?>"
)

# The functions a retired item is freed with, when it holds a weak unit: a container's entry
# (Entry::free) and a unit let go of by a re-pointed entry (unit_release::deallocate_block; its
# count is dropped as it leaves the ring, so while it is there it still counts).
_ENTRY_FREE = re.compile(r"^weakref::detail::basic_weak_\w+<.*>::entry::free(\(void ?\*\))?$")
_UNIT_RELEASE = re.compile(
    r"^weakref::detail::weak_table<.*>::unit_release::deallocate_block(\(void ?\*\))?$")
_DOMAIN = "'weakref::detail::epoch_domain::instance()::domain'"
_ATOMIC_ENTRY = "weakref::detail::table_entry<weakref::detail::atomic_policy>"


def _short(type_name):
    """The spelling a user wrote: std::string rather than its full template name."""
    return _STRING_NAMES.sub("std::string", str(type_name))


def _is_local(basic_type):
    """True for weakref::local:: types: their Policy argument is local_policy."""
    return "weakref::detail::local_policy" in str(basic_type)


def _flavour(basic_type):
    return "weakref::local::" if _is_local(basic_type) else "weakref::"


def _template_arg(basic_type, n):
    """The n-th template argument of `basic_type`, or None if the debug info lacks it."""
    try:
        return basic_type.template_argument(n)
    except (RuntimeError, gdb.error):
        return None


def _scalar(value):
    """Unwraps std::atomic<T> / plain_cell<T> (one data member, perhaps in a base) down to T."""
    for _ in range(8):
        t = value.type.strip_typedefs()
        if t.code in (gdb.TYPE_CODE_PTR, gdb.TYPE_CODE_INT, gdb.TYPE_CODE_BOOL,
                      gdb.TYPE_CODE_ENUM):
            return value
        fields = [f for f in t.fields() if hasattr(f, "bitpos")]  # data members and bases
        if not fields:
            break
        value = value[fields[0]]
    raise gdb.GdbError("weakref printers: cannot unwrap a value of type %s" % value.type)


def _unsigned(size):
    """The unsigned integer type of `size` bytes."""
    for name in ("unsigned char", "unsigned short", "unsigned int", "unsigned long",
                 "unsigned long long"):
        t = gdb.lookup_type(name)
        if t.sizeof == size:
            return t
    raise gdb.GdbError("weakref printers: no %d-byte integer type" % size)


def _words(address, n, size=None):
    """`n` unsigned integers of `size` bytes (a pointer's by default) at `address`, read at
    once."""
    if size is None:
        size = gdb.lookup_type("void").pointer().sizeof
    array = _unsigned(size).array(n - 1)
    values = gdb.Value(address).cast(array.pointer()).dereference()
    return [int(values[i]) for i in range(n)]


def _raw_counts(block, local):
    """(strong, weak) as the block stores them."""
    if local:
        strong, weak = _words(block, 2, 4)
        return strong, weak
    (both,) = _words(block, 1, 8)
    return both & 0xFFFFFFFF, both >> 32


def _finalizer_pins(block):
    """The armed finalizers in the block's hook list: hooks whose sink has no `remove`."""
    pins = 0
    removes = {}  # sink -> its remove; one container's sink serves all its entries
    (w,) = _words(block + _BLOCK_SIZE // 2, 1)
    w &= ~_LOCK_BIT
    for _ in range(_MAX_STEPS):
        if w & _END_BIT or w == 0:
            break
        next_hook, _link, sink = _words(w, 3)
        if sink not in removes:
            (removes[sink],) = _words(sink, 1)
        pins += 1 if removes[sink] == 0 else 0
        w = next_hook
    return pins


def _function_name(pc):
    """The name of the function at `pc`, or None."""
    try:
        block = gdb.block_for_pc(pc)
    except RuntimeError:
        block = None
    while block is not None and block.function is None:
        block = block.superblock
    if block is not None:
        return block.function.name
    try:
        text = gdb.execute("info symbol 0x%x" % pc, to_string=True)
    except gdb.error:
        return None
    name = text.split(" in section ")[0].strip()
    return None if name.startswith("No symbol") else name


def _domain():
    """The reclamation domain of weakref:: tables, or None if the program has none."""
    try:
        d = gdb.parse_and_eval(_DOMAIN)
    except gdb.error:
        return None
    return None if int(d) == 0 else d.dereference()


def _rings(domain):
    """Every ring of retired items of `domain`: each thread's, then those of exited threads."""
    r = _scalar(domain["records_"])
    for _ in range(_MAX_STEPS):
        if int(r) == 0:
            break
        record = r.dereference()
        yield record["ring"]
        r = record["next"]
    yield domain["orphans_"]


def _lookup_pointer(type_name):
    """A pointer to `type_name`, or False if the debug info lacks the type."""
    try:
        return gdb.lookup_type(type_name).pointer()
    except gdb.error:
        return False


def _retired_units(block):
    """Weak units on `block` held by retired items of weakref:: tables: entries a container
    took out, and units a re-pointed entry let go of. weak_count() waits for them to be freed."""
    domain = _domain()
    if domain is None:
        return 0
    names = {}  # free function -> name
    entry_pointer = None
    units = 0
    for ring in _rings(domain):
        size, first, capacity = int(ring["size_"]), int(ring["first_"]), int(ring["capacity_"])
        if size == 0 or capacity == 0 or size > capacity:
            continue
        items = ring["items_"]
        items = items.cast(items.type.target().array(capacity - 1).pointer()).dereference()
        for i in range(size):
            item = items[(first + i) & (capacity - 1)]
            free, p = int(item["free"]), int(item["p"])
            if free not in names:
                names[free] = _function_name(free) or ""
            if _UNIT_RELEASE.match(names[free]):
                units += 1 if p == block else 0
            elif _ENTRY_FREE.match(names[free]):
                if entry_pointer is None:
                    entry_pointer = _lookup_pointer(_ATOMIC_ENTRY)
                if entry_pointer is False:
                    continue  # no debug info for entries: they cannot be read
                entry = gdb.Value(p).cast(entry_pointer).dereference()
                units += 1 if int(_scalar(entry["object_"])) - _BLOCK_SIZE == block else 0
    return units


def counts_of(object_address, local):
    """(strong, weak observers) of the object at `object_address`, read from its block.

    The weak count is given as weak_count() gives it: the weak units without the one the live
    object holds, the armed finalizers' pins, and the units of retired container entries.
    """
    block = object_address - _BLOCK_SIZE
    strong, weak = _raw_counts(block, local)
    weak -= 1 if strong != 0 else 0
    weak -= _finalizer_pins(block)
    if not local:
        weak -= _retired_units(block)
    return strong, max(weak, 0)


# --- Handles -----------------------------------------------------------------------------------


class _HandlePrinter(object):
    """ref<T>, weak_ref<T> and proxy<T>: counts, and the referent as a child while it lives."""

    def __init__(self, kind, value, pointer):
        basic = gdb.types.get_basic_type(value.type)
        element = _template_arg(basic, 0)
        self.name = "%s%s<%s>" % (_flavour(basic), kind,
                                  _short(element) if element is not None else "?")
        self.pointer = pointer
        self.local = _is_local(basic)

    def _state(self):
        address = int(self.pointer)
        if address == 0:
            return None
        try:
            return counts_of(address, self.local)
        except gdb.MemoryError:
            return "unreadable"

    def to_string(self):
        state = self._state()
        if state is None:
            return "%s empty" % self.name
        if state == "unreadable":
            return "%s at 0x%x <control block unreadable>" % (self.name, int(self.pointer))
        strong, weak = state
        if strong == 0:
            return "%s dead (weak_count %d)" % (self.name, weak)
        return "%s (use_count %d, weak_count %d)" % (self.name, strong, weak)

    def children(self):
        address = int(self.pointer)
        try:
            alive = address != 0 and _raw_counts(address - _BLOCK_SIZE, self.local)[0] != 0
        except gdb.MemoryError:
            alive = False
        return iter([("referent", self.pointer.dereference())] if alive else ())


def _ref_printer(value):
    return _HandlePrinter("ref", value, value["ptr_"])


def _weak_ref_printer(value):
    return _HandlePrinter("weak_ref", value, value["ptr_"])


def _proxy_printer(value):
    return _HandlePrinter("proxy", value, value["weak_"]["ptr_"])


# --- Containers --------------------------------------------------------------------------------


class _ContainerPrinter(object):
    """Walks a container's table and yields its live entries; subclasses say what to show."""

    hint = None

    def __init__(self, value):
        self.value = value
        self.basic = gdb.types.get_basic_type(value.type)
        self.local = _is_local(self.basic)

    def _table(self):
        pointer = _scalar(self.value["table_"]["table_"])
        return None if int(pointer) == 0 else pointer

    def _entry_type(self, table_pointer):
        table_type = table_pointer.type.strip_typedefs().target().strip_typedefs()
        entry = _template_arg(table_type, 0)
        if entry is None:
            entry = gdb.lookup_type(str(self.basic) + "::entry")
        return entry.strip_typedefs()

    def _walk(self):
        """(entries, resizing): every entry in every chain, dead or alive, in hash order; and
        whether a shard was stopped in the middle of growing its buckets (its chains are being
        moved then, and the walk may miss some of their entries)."""
        table = self._table()
        if table is None:
            return [], False
        entry_type = self._entry_type(table)
        base_type = entry_type.fields()[0].type.strip_typedefs()  # table_entry<Policy>
        shards = table.dereference()["shards_"]
        low, high = shards.type.strip_typedefs().range()
        entries, seen, resizing = [], set(), False
        for i in range(low, high + 1):
            shard = shards[i]
            resizing = resizing or int(_scalar(shard["resizing"])) % 2 == 1
            heads = _scalar(shard["heads"])
            if int(heads) == 0:
                continue
            bits = int(heads.dereference()["bits"])
            if bits >= 48:
                raise gdb.MemoryError("a bucket array of 2^%d buckets" % bits)
            slots = _words(int(heads) + heads.type.target().sizeof, 1 << bits)
            for e in slots:
                while e != 0 and e not in seen and len(seen) < _MAX_STEPS:
                    seen.add(e)
                    base = gdb.Value(e).cast(base_type.pointer()).dereference()
                    entries.append(gdb.Value(e).cast(entry_type.pointer()).dereference())
                    e = int(_scalar(base["chain_"]))
        return entries, resizing

    def _shown(self, entry):
        """Whether the container's observers see `entry`: its referent lives (it may be dying
        on another thread at the stop), and the subclass agrees."""
        try:
            strong, _ = _raw_counts(int(_scalar(entry["object_"])) - _BLOCK_SIZE, self.local)
        except gdb.MemoryError:
            return False
        return strong != 0 and self._entry_visible(entry)

    def _entry_visible(self, entry):
        return True

    def _live(self):
        entries, _ = self._walk()
        return [entry for entry in entries if self._shown(entry)]

    def _referent(self, entry, element_type):
        return _scalar(entry["object_"]).cast(element_type.pointer()).dereference()

    def to_string(self):
        try:
            entries, resizing = self._walk()
            live = sum(1 for entry in entries if self._shown(entry))
        except gdb.MemoryError:
            return "%s <unreadable>" % self._name()
        text = "%s with %d live %s" % (self._name(), live, "entry" if live == 1 else "entries")
        if resizing:
            text += " (stopped while its buckets grow: some entries may be missing)"
        return text

    def display_hint(self):
        return self.hint

    def _name(self):
        raise NotImplementedError

    def children(self):
        raise NotImplementedError


class _WeakValueMapPrinter(_ContainerPrinter):
    """weak_value_map<K, V>: key => referent."""

    hint = "map"

    def _name(self):
        k, v = _template_arg(self.basic, 0), _template_arg(self.basic, 1)
        return "%sweak_value_map<%s, %s>" % (_flavour(self.basic), _short(k), _short(v))

    def children(self):
        v = _template_arg(self.basic, 1).strip_typedefs()
        for i, entry in enumerate(self._live()):
            yield "[%d]" % (2 * i), entry["key"]
            yield "[%d]" % (2 * i + 1), self._referent(entry, v)


class _WeakKeyMapPrinter(_ContainerPrinter):
    """weak_key_map<K, V>: referent => value."""

    hint = "map"

    def _name(self):
        k, v = _template_arg(self.basic, 0), _template_arg(self.basic, 1)
        return "%sweak_key_map<%s, %s>" % (_flavour(self.basic), _short(k), _short(v))

    def _entry_visible(self, entry):
        # A value being replaced or removed at the stop is no reader's any more (with_value).
        return int(entry["state_"]) == _LIVE

    def children(self):
        k = _template_arg(self.basic, 0).strip_typedefs()
        v = _template_arg(self.basic, 1).strip_typedefs()
        for i, entry in enumerate(self._live()):
            yield "[%d]" % (2 * i), self._referent(entry, k)
            yield "[%d]" % (2 * i + 1), entry["storage_"].address.cast(v.pointer()).dereference()


class _WeakSetPrinter(_ContainerPrinter):
    """weak_set<T>: the elements."""

    hint = "array"

    def _name(self):
        return "%sweak_set<%s>" % (_flavour(self.basic), _short(_template_arg(self.basic, 0)))

    def children(self):
        t = _template_arg(self.basic, 0).strip_typedefs()
        for i, entry in enumerate(self._live()):
            yield "[%d]" % i, self._referent(entry, t)


# --- Registration ------------------------------------------------------------------------------


def build_pretty_printer():
    printers = gdb.printing.RegexpCollectionPrettyPrinter("weakref")
    printers.add_printer("ref", r"^weakref::detail::basic_ref<.*>$", _ref_printer)
    printers.add_printer("weak_ref", r"^weakref::detail::basic_weak_ref<.*>$", _weak_ref_printer)
    printers.add_printer("proxy", r"^weakref::detail::basic_proxy<.*>$", _proxy_printer)
    printers.add_printer("weak_value_map", r"^weakref::detail::basic_weak_value_map<.*>$",
                         _WeakValueMapPrinter)
    printers.add_printer("weak_key_map", r"^weakref::detail::basic_weak_key_map<.*>$",
                         _WeakKeyMapPrinter)
    printers.add_printer("weak_set", r"^weakref::detail::basic_weak_set<.*>$", _WeakSetPrinter)
    return printers


def register_printers(objfile=None):
    """Registers the printers for `objfile`, or for every program when it is None. Loading
    this file twice replaces the first registration."""
    gdb.printing.register_pretty_printer(objfile, build_pretty_printer(), replace=True)


# `source` runs this with no current objfile (the printers apply everywhere); auto-loading it
# as <program>-gdb.py runs it with that program as the current objfile.
register_printers(gdb.current_objfile())
