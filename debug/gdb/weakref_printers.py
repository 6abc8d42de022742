# SPDX-License-Identifier: MIT
# GDB pretty-printers for weakref's handles (ref, weak_ref, proxy) and containers (weak_value_map,
# weak_key_map, weak_set), in both flavours.
#
# Load with `source /path/to/weakref_printers.py` (see README.md). The printers read memory only;
# they never call into the inferior, so they work on core files and stopped threads alike.
#
# What they rely on (include/weakref/detail/control_block.hpp and weak_table.hpp):
# - A handle holds one pointer, `ptr_`, the object's own address. The control block sits the
#   16 bytes immediately below the object and starts with the counts: in weakref:: one 64-bit
#   word, strong in the low 32 bits and weak in the high 32 bits; in weakref::local:: two 32-bit
#   words, strong then weak. The weak count includes one unit held while strong != 0.
# - A container holds `table_` (a table_handle) holding `table_`, a pointer (std::atomic in
#   weakref::, plain_cell in weakref::local::) to a weak_table, null before the first insert.
#   The table has `shards_`, each with `buckets` (2^bucket_bits chain heads, or null) and
#   chains through table_entry::next_. An entry's `object_` is its referent's address; a
#   weak_value_map entry adds `key`, a weak_key_map entry adds `value`.

import re

import gdb
import gdb.printing
import gdb.types

_BLOCK_SIZE = 16  # the control block sits this many bytes below every object
_MAX_ENTRIES = 1000000  # a walk stops here: a corrupt chain must not hang the debugger

_STRING_NAMES = re.compile(
    r"std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> ?>"
    r"|std::__cxx11::basic_string<char>"
    r"|std::basic_string<char, std::char_traits<char>, std::allocator<char> ?>"
)


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


def _u32(address):
    return int(gdb.Value(address).cast(gdb.lookup_type("unsigned int").pointer()).dereference())


def _u64(address):
    t = gdb.lookup_type("unsigned long long")
    return int(gdb.Value(address).cast(t.pointer()).dereference())


def counts_of(object_address, local):
    """(strong, weak observers) of the object at `object_address`, read from its block.

    The weak count is given as weak_count() gives it: without the unit the live object holds.
    """
    block = object_address - _BLOCK_SIZE
    if local:
        strong, weak = _u32(block), _u32(block + 4)
    else:
        both = _u64(block)
        strong, weak = both & 0xFFFFFFFF, both >> 32
    return strong, weak - (1 if strong != 0 else 0)


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
        state = self._state()
        if state is None or state == "unreadable" or state[0] == 0:
            return iter(())
        return iter([("referent", self.pointer.dereference())])


def _ref_printer(value):
    return _HandlePrinter("ref", value, value["ptr_"])


def _weak_ref_printer(value):
    return _HandlePrinter("weak_ref", value, value["ptr_"])


def _proxy_printer(value):
    return _HandlePrinter("proxy", value, value["weak_"]["ptr_"])


# --- Containers --------------------------------------------------------------------------------


def _own_field(struct_type, name):
    """The field `name` declared in `struct_type` itself, not in a base: table_entry's next_
    (the bucket chain), not death_hook's next_ (the death list)."""
    for field in struct_type.fields():
        if field.name == name and not field.is_base_class:
            return field
    raise gdb.GdbError("weakref printers: %s has no member %s" % (struct_type, name))


class _ContainerPrinter(object):
    """Walks a container's table and yields its live entries; subclasses say what to show."""

    hint = None
    kind = None

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

    def _entries(self):
        """(entry, strong count) for every entry in every chain, dead or alive."""
        table = self._table()
        if table is None:
            return
        entry_type = self._entry_type(table)
        shards = table.dereference()["shards_"]
        low, high = shards.type.strip_typedefs().range()
        seen = 0
        for i in range(low, high + 1):
            shard = shards[i]
            buckets = shard["buckets"]
            if int(buckets) == 0:
                continue
            base_type = buckets.type.strip_typedefs().target().target().strip_typedefs()
            next_field = _own_field(base_type, "next_")
            for b in range(1 << int(shard["bucket_bits"])):
                e = buckets[b]
                while int(e) >= 4096:  # null ends a chain; nothing real lives in page zero
                    seen += 1
                    if seen > _MAX_ENTRIES:
                        return
                    entry = e.cast(entry_type.pointer()).dereference()
                    try:
                        strong, _ = counts_of(int(entry["object_"]), self.local)
                    except gdb.MemoryError:
                        strong = 0
                    yield entry, strong
                    e = e.dereference()[next_field]

    def _live(self):
        for entry, strong in self._entries():
            if strong != 0:  # a referent dying on another thread: already gone for users
                yield entry

    def _referent(self, entry, element_type):
        return entry["object_"].cast(element_type.pointer()).dereference()

    def to_string(self):
        try:
            live = sum(1 for _ in self._live())
        except gdb.MemoryError:
            return "%s <unreadable>" % self._name()
        return "%s with %d live %s" % (self._name(), live, "entry" if live == 1 else "entries")

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

    def children(self):
        k = _template_arg(self.basic, 0).strip_typedefs()
        for i, entry in enumerate(self._live()):
            yield "[%d]" % (2 * i), self._referent(entry, k)
            yield "[%d]" % (2 * i + 1), entry["value"]


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
