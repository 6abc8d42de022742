# SPDX-License-Identifier: MIT
# LLDB data formatters for weakref's handles (ref, weak_ref, proxy) and containers (weak_value_map,
# weak_key_map, weak_set), in both flavours: a summary and synthetic children for each.
#
# Load with `command script import /path/to/weakref_lldb.py` (see README.md). The formatters read
# memory only; they never run code in the process, so they work on core files and stopped
# threads alike.
#
# What they rely on (include/weakref/detail/control_block.hpp, death_hooks.hpp, weak_table.hpp
# and reclamation.hpp):
# - A handle holds one pointer, `ptr_`, the object's own address (a proxy holds a weak_ref,
#   `weak_`). The control block is the 16 bytes immediately below the object: first the counts
#   (weakref::, one 64-bit word: strong in the low 32 bits, weak in the high 32;
#   weakref::local::, two 32-bit words, strong then weak), then the hook-list head: the newest
#   death hook, or an end tag with bit 0 set; bit 1 is the hook lock. The weak count holds 1 for
#   the live object (while strong != 0) and 1 per armed finalizer's pin, besides the observers.
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
import struct

import lldb

_BLOCK_SIZE = 16  # the control block sits this many bytes below every object
_END_BIT = 1  # a hook-list word with this bit set is the end tag, not a hook
_LOCK_BIT = 2  # the hook lock, in the hook-list head
_MAX_STEPS = 1000000  # a walk stops here: a corrupt list must not hang the debugger
_LIVE = 0  # weak_key_map entry state_: the value is there for readers
_MAX_NAME = 200  # a child's name (a rendered key) is cut here

_STRING_NAMES = re.compile(
    r"std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<(char)?> ?>"
    r"|std::__cxx11::basic_string<char>"
    r"|std::basic_string<char, std::char_traits<char>, std::allocator<(char)?> ?>"
)

# The functions a retired item is freed with, when it holds a weak unit: a container's entry
# (Entry::free) and a unit let go of by a re-pointed entry (unit_release::deallocate_block; its
# count is dropped as it leaves the ring, so while it is there it still counts).
_ENTRY_FREE = re.compile(r"^weakref::detail::basic_weak_\w+<.*>::entry::free(\(void ?\*\))?$")
_UNIT_RELEASE = re.compile(
    r"^weakref::detail::weak_table<.*>::unit_release::deallocate_block(\(void ?\*\))?$")
# epoch_domain::instance()'s `static epoch_domain* const domain`, one per copy of weakref.
_DOMAIN_SYMBOL = "_ZZN7weakref6detail12epoch_domain8instanceEvE6domain"
_DOMAIN_TYPE = "weakref::detail::epoch_domain"
_ATOMIC_ENTRY = "weakref::detail::table_entry<weakref::detail::atomic_policy>"

_HANDLES = r"^weakref::detail::basic_(ref|weak_ref|proxy)<.+>$"
_CONTAINERS = r"^weakref::detail::basic_(weak_value_map|weak_key_map|weak_set)<.+>$"


class _Unreadable(Exception):
    """Memory the formatters need could not be read."""


def _short(type_name):
    """The spelling a user wrote: std::string rather than its full template name."""
    return _STRING_NAMES.sub("std::string", type_name)


def _canonical(valobj):
    """The class `valobj` is, or refers or points to (LLDB formats references and pointers to a
    type with the type's formatters), without typedefs and const."""
    t = valobj.GetType().GetCanonicalType()
    if t.IsReferenceType():
        t = t.GetDereferencedType().GetCanonicalType()
    elif t.IsPointerType():
        t = t.GetPointeeType().GetCanonicalType()
    return t.GetUnqualifiedType()


def _is_local(sbtype):
    """True for weakref::local:: types: their Policy argument is local_policy."""
    return "weakref::detail::local_policy" in sbtype.GetName()


def _flavour(sbtype):
    return "weakref::local::" if _is_local(sbtype) else "weakref::"


def _kind(sbtype):
    """`ref`, `weak_map`, ...: the public name of a basic_ template."""
    match = re.match(r"^weakref::detail::basic_(\w+)<", sbtype.GetName())
    return match.group(1) if match else "?"


def _template_arg(sbtype, n):
    """The n-th template argument of `sbtype` (canonical), or None if the debug info lacks it."""
    if n >= sbtype.GetNumberOfTemplateArguments():
        return None
    arg = sbtype.GetTemplateArgumentType(n)
    return arg.GetCanonicalType() if arg.IsValid() else None


def _display_type(target, sbtype):
    """The type to show a value of `sbtype` as: std::string for its long spelling, so that
    LLDB's own summary of std::string applies (GCC names the class `basic_string<char,
    std::char_traits<char>, std::allocator<> >`, which LLDB's formatters do not match)."""
    if _STRING_NAMES.fullmatch(sbtype.GetName()):
        string = target.FindFirstType("std::string")
        if string.IsValid() and string.GetCanonicalType().GetName() == sbtype.GetName():
            return string
    return sbtype


def _arg_name(sbtype, n):
    arg = _template_arg(sbtype, n)
    return _short(arg.GetName()) if arg is not None else "?"


def _member(valobj, name):
    """The member `name` of `valobj` (perhaps in a base), from the raw value."""
    child = valobj.GetNonSyntheticValue().GetChildMemberWithName(name)
    if not child.IsValid():
        raise _Unreadable("%s has no member %s" % (valobj.GetTypeName(), name))
    return child


def _unwrap(valobj):
    """Unwraps std::atomic<T> / plain_cell<T> (one data member, perhaps in a base) down to the
    T inside, a pointer, integer or enumeration."""
    v = valobj.GetNonSyntheticValue()
    for _ in range(8):
        t = v.GetType().GetCanonicalType()
        if t.IsPointerType() or t.GetTypeClass() in (lldb.eTypeClassBuiltin,
                                                     lldb.eTypeClassEnumeration):
            return v
        if v.GetNumChildren() == 0:
            break
        v = v.GetChildAtIndex(0).GetNonSyntheticValue()
    raise _Unreadable("cannot unwrap a value of type %s" % valobj.GetTypeName())


def _scalar(valobj):
    """The value of `valobj` (unwrapped, see _unwrap) as an unsigned int."""
    error = lldb.SBError()
    n = _unwrap(valobj).GetValueAsUnsigned(error)
    if error.Fail():
        raise _Unreadable(error.GetCString() or "unreadable %s" % valobj.GetTypeName())
    return n


class _Memory(object):
    """Reads the process's memory (or a core file's), in the target's byte order."""

    def __init__(self, valobj):
        self.target = valobj.GetTarget()
        self.process = valobj.GetProcess()
        little = self.target.GetByteOrder() != lldb.eByteOrderBig
        self.order = "<" if little else ">"
        self.pointer_size = self.target.GetAddressByteSize()

    def read(self, address, size):
        error = lldb.SBError()
        data = self.process.ReadMemory(address, size, error) if size > 0 else b""
        if error.Fail() or data is None or len(data) != size:
            raise _Unreadable("cannot read %d bytes at 0x%x" % (size, address))
        return data

    def words(self, address, n, size=None):
        """`n` unsigned integers of `size` bytes (a pointer's by default) at `address`."""
        size = self.pointer_size if size is None else size
        code = {1: "B", 2: "H", 4: "I", 8: "Q"}[size]
        return list(struct.unpack(self.order + code * n, self.read(address, n * size)))

    def counts(self, block, local):
        """(strong, weak) as the block stores them."""
        if local:
            strong, weak = self.words(block, 2, 4)
            return strong, weak
        (both,) = self.words(block, 1, 8)
        return both & 0xFFFFFFFF, both >> 32

    def function_name(self, pc):
        """The name of the function at `pc`, or ""."""
        address = self.target.ResolveLoadAddress(pc)
        function = address.GetFunction()
        if function.IsValid():
            return function.GetName() or ""
        symbol = address.GetSymbol()
        return (symbol.GetName() or "") if symbol.IsValid() else ""


# --- Counts ------------------------------------------------------------------------------------


def _finalizer_pins(memory, block):
    """The armed finalizers in the block's hook list: hooks whose sink has no `remove`."""
    pins = 0
    removes = {}  # sink -> its remove; one container's sink serves all its entries
    (w,) = memory.words(block + _BLOCK_SIZE // 2, 1)
    w &= ~_LOCK_BIT
    for _ in range(_MAX_STEPS):
        if w & _END_BIT or w == 0:
            break
        next_hook, _link, sink = memory.words(w, 3)
        if sink not in removes:
            (removes[sink],) = memory.words(sink, 1)
        pins += 1 if removes[sink] == 0 else 0
        w = next_hook
    return pins


def _domains(valobj, memory):
    """The reclamation domains of weakref:: tables in the program (one per copy of weakref)."""
    domain_type = memory.target.FindFirstType(_DOMAIN_TYPE)
    if not domain_type.IsValid():
        return []
    found, seen = [], set()
    for context in memory.target.FindSymbols(_DOMAIN_SYMBOL):
        address = context.GetSymbol().GetStartAddress().GetLoadAddress(memory.target)
        if address == lldb.LLDB_INVALID_ADDRESS:
            continue
        (pointer,) = memory.words(address, 1)
        if pointer != 0 and pointer not in seen:
            seen.add(pointer)
            found.append(valobj.CreateValueFromAddress("domain", pointer, domain_type))
    return found


def _rings(domain):
    """Every ring of retired items of `domain`: each thread's, then those of exited threads."""
    record = _unwrap(_member(domain, "records_"))
    for _ in range(_MAX_STEPS):
        if record.GetValueAsUnsigned(0) == 0:
            break
        yield _member(record.Dereference(), "ring")
        record = _unwrap(_member(record.Dereference(), "next"))
    yield _member(domain, "orphans_")


def _retired_units(valobj, memory, block):
    """Weak units on `block` held by retired items of weakref:: tables: entries a container
    took out, and units a re-pointed entry let go of. weak_count() waits for them to be freed."""
    names = {}  # free function -> name
    object_offset = None
    units = 0
    # retired_item's size in words (p, free, epoch, settle), from the debug info if it has it.
    item_type = memory.target.FindFirstType("weakref::detail::retired_item")
    stride = item_type.GetByteSize() // 8 if item_type.IsValid() and item_type.GetByteSize() else 4
    for domain in _domains(valobj, memory):
        for ring in _rings(domain):
            size, first = _scalar(_member(ring, "size_")), _scalar(_member(ring, "first_"))
            capacity, items = _scalar(_member(ring, "capacity_")), _scalar(_member(ring, "items_"))
            if size == 0 or capacity == 0 or size > capacity or capacity & (capacity - 1):
                continue
            words = memory.words(items, stride * capacity)  # retired_item: p, free, ...
            for i in range(size):
                at = stride * ((first + i) & (capacity - 1))
                p, free = words[at], words[at + 1]
                if free not in names:
                    names[free] = memory.function_name(free)
                if _UNIT_RELEASE.match(names[free]):
                    units += 1 if p == block else 0
                elif _ENTRY_FREE.match(names[free]):
                    if object_offset is None:
                        object_offset = _field_offset(memory.target, _ATOMIC_ENTRY, "object_")
                    if object_offset is False:
                        continue  # no debug info for entries: they cannot be read
                    (referent,) = memory.words(p + object_offset, 1)
                    units += 1 if referent - _BLOCK_SIZE == block else 0
    return units


def _field_offset(target, type_name, field):
    """The byte offset of `field` (declared in `type_name` itself) in `type_name`, or False if
    the debug info lacks them."""
    t = target.FindFirstType(type_name)
    for i in range(t.GetNumberOfFields() if t.IsValid() else 0):
        if t.GetFieldAtIndex(i).GetName() == field:
            return t.GetFieldAtIndex(i).GetOffsetInBytes()
    return False


def counts_of(valobj, object_address, local):
    """(strong, weak observers) of the object at `object_address`, read from its block.

    The weak count is given as weak_count() gives it: the weak units without the one the live
    object holds, the armed finalizers' pins, and the units of retired container entries.
    """
    memory = _Memory(valobj)
    block = object_address - _BLOCK_SIZE
    strong, weak = memory.counts(block, local)
    weak -= 1 if strong != 0 else 0
    weak -= _finalizer_pins(memory, block)
    if not local:
        weak -= _retired_units(valobj, memory, block)
    return strong, max(weak, 0)


# --- Handles -----------------------------------------------------------------------------------


def _handle_pointer(valobj):
    """(the handle's canonical type, the referent's address)."""
    t = _canonical(valobj)
    holder = _member(valobj, "weak_") if _kind(t) == "proxy" else valobj
    return t, _scalar(_member(holder, "ptr_"))


def handle_summary(valobj, internal_dict):
    """ref<T>, weak_ref<T>, proxy<T>: `weakref::ref<T> (use_count 2, weak_count 1)`, or dead
    (with its weak count), or empty."""
    try:
        t, address = _handle_pointer(valobj)
        name = "%s%s<%s>" % (_flavour(t), _kind(t), _arg_name(t, 0))
        if address == 0:
            return "%s empty" % name
        try:
            strong, weak = counts_of(valobj, address, _is_local(t))
        except _Unreadable:
            return "%s at 0x%x <control block unreadable>" % (name, address)
        if strong == 0:
            return "%s dead (weak_count %d)" % (name, weak)
        return "%s (use_count %d, weak_count %d)" % (name, strong, weak)
    except _Unreadable as e:
        return "<weakref formatter: %s>" % e


class HandleChildren(object):
    """ref<T>, weak_ref<T>, proxy<T>: the referent, while it lives, as the child `referent`."""

    def __init__(self, valobj, internal_dict):
        self.valobj = valobj
        self.children = []

    def update(self):
        self.children = []
        try:
            t, address = _handle_pointer(self.valobj)
            element = _template_arg(t, 0)
            if address == 0 or element is None:
                return False
            strong, _ = _Memory(self.valobj).counts(address - _BLOCK_SIZE, _is_local(t))
            if strong != 0:
                self.children = [
                    _at(self.valobj, "referent", address, element)]
        except _Unreadable:
            pass
        return False  # recompute at every stop

    def num_children(self):
        return len(self.children)

    def has_children(self):
        return bool(self.children)

    def get_child_index(self, name):
        return 0 if self.children and name == "referent" else -1

    def get_child_at_index(self, index):
        return self.children[index] if 0 <= index < len(self.children) else None


# --- Containers --------------------------------------------------------------------------------


def _walk(valobj):
    """(entries, resizing) of a container: every entry in every chain (an SBValue of the
    container's entry type), dead or alive, in hash order; and whether a shard was stopped in
    the middle of growing its buckets (its chains are being moved then, and the walk may miss
    some of their entries)."""
    memory = _Memory(valobj)
    handle = _member(_member(valobj, "table_"), "table_")
    table = _scalar(handle)
    if table == 0:
        return [], False
    table_pointer = _unwrap(handle)
    table_type = table_pointer.GetType().GetCanonicalType().GetPointeeType().GetCanonicalType()
    entry_type = _template_arg(table_type, 0)
    if entry_type is None:
        raise _Unreadable("no entry type in %s" % table_type.GetName())
    base = entry_type.GetDirectBaseClassAtIndex(0).GetType().GetCanonicalType()
    chain_offset = None
    for i in range(base.GetNumberOfFields()):
        if base.GetFieldAtIndex(i).GetName() == "chain_":
            chain_offset = base.GetFieldAtIndex(i).GetOffsetInBytes()
    if chain_offset is None:
        raise _Unreadable("%s has no member chain_" % base.GetName())
    shards = _member(table_pointer.Dereference(), "shards_")
    entries, seen, resizing = [], set(), False
    for i in range(shards.GetNumChildren()):
        shard = shards.GetChildAtIndex(i)
        resizing = resizing or _scalar(_member(shard, "resizing")) % 2 == 1
        heads = _scalar(_member(shard, "heads"))
        if heads == 0:
            continue
        (bits,) = memory.words(heads, 1)
        if bits >= 48:
            raise _Unreadable("a bucket array of 2^%d buckets" % bits)
        # The slots follow the header (`bits`, one size_t) in memory.
        for e in memory.words(heads + memory.pointer_size, 1 << bits):
            while e != 0 and e not in seen and len(seen) < _MAX_STEPS:
                seen.add(e)
                entries.append(valobj.CreateValueFromAddress("entry", e, entry_type))
                (e,) = memory.words(e + chain_offset, 1)
    return entries, resizing


def _at(valobj, name, address, sbtype):
    """A child `name` of `valobj`: the `sbtype` (see _display_type) at `address`."""
    return valobj.CreateValueFromAddress(name, address, _display_type(valobj.GetTarget(), sbtype))


def _referent(valobj, entry, element_type, name):
    return _at(valobj, name, _scalar(_member(entry, "object_")), element_type)


def _render(value, depth=0):
    """A one-line spelling of `value`, for a child's name: its summary, its value, or its
    members in parentheses."""
    summary = value.GetSummary()
    if summary:
        return summary
    text = value.GetValue()
    if text is not None:
        return text
    if depth >= 3:
        return "..."
    # An anonymous member (a union) has no name: its value alone.
    return "(%s)" % ", ".join(("%s = %s" % (c.GetName(), _render(c, depth + 1)))
                              if c.GetName() else _render(c, depth + 1) for c in value)


def _child_name(text):
    text = "[%s]" % text
    return text if len(text) <= _MAX_NAME else text[:_MAX_NAME - 4] + "...]"


class _ContainerFormat(object):
    """What one kind of container shows: which entries, and as which children."""

    def __init__(self, valobj):
        self.valobj = valobj
        self.type = _canonical(valobj)
        self.local = _is_local(self.type)
        self.memory = _Memory(valobj)

    def name(self):
        kind = _kind(self.type)
        args = 1 if kind == "weak_set" else 2
        return "%s%s<%s>" % (_flavour(self.type), kind,
                             ", ".join(_arg_name(self.type, n) for n in range(args)))

    def shown(self, entry):
        """Whether the container's observers see `entry`: its referent lives (it may be dying
        on another thread at the stop), and a weak_key_map's value is there for readers (not
        being replaced or removed at the stop)."""
        try:
            strong, _ = self.memory.counts(_scalar(_member(entry, "object_")) - _BLOCK_SIZE,
                                           self.local)
            if strong == 0:
                return False
            return _kind(self.type) != "weak_key_map" or _scalar(_member(entry, "state_")) == _LIVE
        except _Unreadable:
            return False

    def live(self):
        entries, resizing = _walk(self.valobj)
        return [entry for entry in entries if self.shown(entry)], resizing

    def children(self, entries):
        """(name, SBValue) for each live entry."""
        kind = _kind(self.type)
        k, v = _template_arg(self.type, 0), _template_arg(self.type, 1)
        out = []
        for i, entry in enumerate(entries):
            if kind == "weak_value_map":
                # key => referent
                key = _member(entry, "key")
                key = _at(self.valobj, "key", key.GetLoadAddress(), key.GetType())
                name = _child_name(_render(key))
                out.append((name, _referent(self.valobj, entry, v, name)))
            elif kind == "weak_key_map":
                # referent => value (constructed in the entry's storage_)
                name = _child_name(_render(_referent(self.valobj, entry, k, "key")))
                storage = _member(entry, "storage_").GetLoadAddress()
                out.append((name, _at(self.valobj, name, storage, v)))
            else:
                name = "[%d]" % i
                out.append((name, _referent(self.valobj, entry, k, name)))
        return out


def container_summary(valobj, internal_dict):
    """weak_value_map, weak_key_map, weak_set: `weakref::weak_set<T> with 2 live entries`."""
    try:
        f = _ContainerFormat(valobj)
        name = f.name()
        try:
            entries, resizing = f.live()
        except _Unreadable:
            return "%s <unreadable>" % name
        n = len(entries)
        text = "%s with %d live %s" % (name, n, "entry" if n == 1 else "entries")
        if resizing:
            text += " (stopped while its buckets grow: some entries may be missing)"
        return text
    except _Unreadable as e:
        return "<weakref formatter: %s>" % e


class ContainerChildren(object):
    """weak_value_map (key => referent), weak_key_map (referent => value), weak_set (elements):
    one child per live entry, in hash order, named by its key."""

    def __init__(self, valobj, internal_dict):
        self.valobj = valobj
        self.children = []

    def update(self):
        try:
            f = _ContainerFormat(self.valobj)
            entries, _ = f.live()
            self.children = f.children(entries)
        except _Unreadable:
            self.children = []
        return False  # recompute at every stop

    def num_children(self):
        return len(self.children)

    def has_children(self):
        return bool(self.children)

    def get_child_index(self, name):
        for i, (child, _) in enumerate(self.children):
            if child == name:
                return i
        return -1

    def get_child_at_index(self, index):
        return self.children[index][1] if 0 <= index < len(self.children) else None


# --- Registration ------------------------------------------------------------------------------


def __lldb_init_module(debugger, internal_dict):
    """`command script import` runs this: adds the formatters to the category `weakref` and
    enables it. Importing the file again replaces them."""
    module = __name__
    for command in (
            'type summary add -w weakref -e -x "%s" -F %s.handle_summary' % (_HANDLES, module),
            'type synthetic add -w weakref -x "%s" -l %s.HandleChildren' % (_HANDLES, module),
            'type summary add -w weakref -e -x "%s" -F %s.container_summary' %
            (_CONTAINERS, module),
            'type synthetic add -w weakref -x "%s" -l %s.ContainerChildren' %
            (_CONTAINERS, module),
            "type category enable weakref"):
        debugger.HandleCommand(command)
