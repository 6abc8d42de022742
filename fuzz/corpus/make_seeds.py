#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the fuzzer's seed corpus (fuzz/corpus/seed-*): short op sequences, one per feature.
# Each op is an opcode byte and its argument bytes, as decoded by weakref_fuzzer.cpp.
import pathlib

CODES = """make copy move drop swap weak_of weak_copy weak_drop lock lock_ctor equal on_death
fin_copy fin_drop fin_detach fin_call scoped_from scoped_drop scoped_rel scoped_detach scoped_call
vm_insert vm_erase vm_get vm_contains vm_get_or_ins vm_values km_insert km_erase km_get km_contains
set_insert set_erase set_contains clear copy_assign move_assign swap_cont destroy recreate iterate
size vm_take vm_erase_if vm_get_or_emp vm_value_refs km_try_emplace km_get_or_ins km_update km_visit
km_take km_values km_erase_if set_pop set_erase_if set_algebra set_relation compare on_remove
vm_keep_recent in_intern in_contains in_drop in_copy in_reset sig_connect sig_emit sig_disconnect
sig_alive sig_conn_copy sig_conn_drop sig_conn_equal sig_scoped sig_scoped_drop sig_scoped_rel
sig_scoped_disc sig_disc_all sig_size sig_reset""".split()
OP = {name: i for i, name in enumerate(CODES)}
# Death callback actions (the kind byte of on_death).
(LOG, DROP_SLOT, DETACH_FIN, LOG_SIZES, CLEAR_OR_DESTROY, LOG_LOCK, LOCK_INTO_SLOT, REGISTER,
 CALL_FIN) = range(9)
# get_or_insert factories (the kind byte of vm_get_or_ins).
NEW, COPY_SLOT, THROW, INSERT_THEN_NEW, DROP_THEN_NEW = range(5)
VM, KM, SET = range(3)
# weak_key_map get_or_insert factories (the kind byte of km_get_or_ins).
KM_VALUE, KM_THROW, KM_INSERT_FIRST = range(3)
# set_algebra: compound |= &= -= ^=, then assignments of | & - ^.
OR_EQ, AND_EQ, SUB_EQ, XOR_EQ, OR, AND, SUB, XOR = range(8)
LISTEN, UNLISTEN = 1, 0  # on_remove's mode byte
# keep_recent's n, by index into kKeepSizes: 0, 1, 2, 3, 5, 17, 40.
KEEP_0, KEEP_1, KEEP_2, KEEP_3, KEEP_5, KEEP_17, KEEP_40 = range(7)
# weak_interner::intern's forms (the how byte of in_intern).
BY_COPY, BY_MOVE, BY_KEY = range(3)
# in_reset and sig_reset: a new one; the same kept through a copy / move; swapped / destroyed.
NEW_ONE, THROUGH_COPY, THROUGH_ASSIGN, SWAPPED_OR_DESTROYED = range(4)
# What a signal's subscriber does in its call (the action kind byte of sig_connect).
SUB_NOTHING, SUB_DROP_SLOT, SUB_DISCONNECT, SUB_LOG_SIZE = range(4)


def seq(*ops):
    out = bytearray()
    for name, *args in ops:
        out.append(OP[name])
        out.extend(args)
    return bytes(out)


SEEDS = {
    "handles": seq(("make", 0), ("copy", 0, 1), ("weak_of", 0, 0), ("weak_copy", 0, 1),
                   ("equal", 0, 1), ("drop", 0), ("lock", 0, 2), ("drop", 1), ("drop", 2),
                   ("lock", 1, 3), ("lock_ctor", 0), ("move", 3, 4), ("swap", 4, 5)),
    "callbacks_order": seq(("make", 0), ("on_death", 0, 0, LOG, 0, 0),
                           ("on_death", 0, 1, LOG, 0, 0), ("on_death", 0, 2, DETACH_FIN, 1, 0),
                           ("drop", 0), ("fin_detach", 1)),
    "finalizer_call": seq(("make", 0), ("on_death", 0, 0, LOG, 0, 0), ("fin_call", 0),
                          ("fin_call", 0), ("fin_detach", 0), ("on_death", 0, 1, LOG, 0, 0),
                          ("fin_copy", 1, 2), ("fin_detach", 2), ("fin_detach", 1), ("drop", 0)),
    "scoped": seq(("make", 0), ("on_death", 0, 0, LOG, 0, 0), ("scoped_from", 0, 0),
                  ("on_death", 0, 1, LOG, 0, 0), ("scoped_from", 1, 1), ("scoped_drop", 0),
                  ("scoped_rel", 1, 2), ("drop", 0), ("scoped_call", 1)),
    "value_map": seq(("make", 0), ("make", 1), ("vm_insert", 0, 1, 0, 0),
                     ("vm_insert", 0, 1, 1, 0), ("vm_insert", 0, 1, 1, 3), ("vm_get", 0, 1),
                     ("vm_insert", 0, 2, 0, 2), ("vm_values", 0), ("drop", 1), ("vm_get", 0, 1),
                     ("vm_contains", 0, 2), ("vm_erase", 0, 2), ("size", VM, 0)),
    "get_or_insert": seq(("make", 0), ("vm_get_or_ins", 0, 1, 1, NEW, 0),
                         ("vm_get_or_ins", 0, 1, 2, THROW, 0),
                         ("vm_get_or_ins", 0, 2, 2, THROW, 0),
                         ("vm_get_or_ins", 0, 3, 3, COPY_SLOT, 5),
                         ("vm_get_or_ins", 0, 4, 4, INSERT_THEN_NEW, 0),
                         ("on_death", 0, 0, CLEAR_OR_DESTROY, VM, 2),
                         ("vm_get_or_ins", 0, 5, 5, DROP_THEN_NEW, 0), ("iterate", VM, 0)),
    "key_map": seq(("make", 0), ("make", 1), ("km_insert", 0, 0, 7, 0),
                   ("km_insert", 0, 0, 8, 0), ("km_insert", 0, 0, 9, 1), ("km_insert", 0, 1, 5, 2),
                   ("km_get", 0, 0), ("km_contains", 0, 1), ("drop", 0), ("km_get", 0, 0),
                   ("km_erase", 0, 1), ("size", KM, 0)),
    "weak_set": seq(("make", 0), ("make", 1), ("set_insert", 0, 0), ("set_insert", 0, 0),
                    ("set_insert", 0, 1), ("set_contains", 0, 1), ("drop", 1),
                    ("set_erase", 0, 0), ("set_insert", 0, 2), ("iterate", SET, 0)),
    "containers_copy_move": seq(("make", 0), ("make", 1), ("vm_insert", 0, 0, 0, 0),
                                ("km_insert", 0, 1, 3, 0), ("set_insert", 0, 0),
                                ("copy_assign", VM, 1, 1), ("copy_assign", KM, 1, 1),
                                ("move_assign", SET, 1, 1), ("swap_cont", VM, 0),
                                ("swap_cont", KM, 1), ("copy_assign", SET, 0, 0),
                                ("move_assign", VM, 0, 0), ("destroy", KM, 0),
                                ("recreate", KM, 0, 1), ("recreate", SET, 1, 2), ("drop", 0),
                                ("clear", VM, 1), ("iterate", KM, 0)),
    "death_uses_containers": seq(("make", 0), ("make", 1), ("vm_insert", 0, 0, 0, 0),
                                 ("km_insert", 1, 0, 4, 0), ("set_insert", 0, 1),
                                 ("on_death", 0, 0, LOG_SIZES, 0, 0),
                                 ("on_death", 0, 1, CLEAR_OR_DESTROY, SET, 2),
                                 ("on_death", 0, 2, CLEAR_OR_DESTROY, KM, 3), ("drop", 0),
                                 ("size", SET, 0), ("recreate", SET, 0, 0)),
    "death_chain": seq(("make", 0), ("make", 1), ("make", 2), ("make", 3),
                       ("on_death", 0, 0, DROP_SLOT, 1, 0), ("on_death", 1, 1, DROP_SLOT, 2, 0),
                       ("on_death", 2, 2, DROP_SLOT, 3, 0), ("on_death", 3, 3, LOG_SIZES, 0, 0),
                       ("weak_of", 0, 3), ("drop", 0), ("lock", 0, 4)),
    "death_locks": seq(("make", 0), ("make", 1), ("weak_of", 0, 0), ("weak_of", 1, 1),
                       ("on_death", 0, 0, LOG_LOCK, 0, 0), ("on_death", 0, 1, LOCK_INTO_SLOT, 1, 2),
                       ("on_death", 0, 2, LOCK_INTO_SLOT, 0, 3), ("drop", 1), ("drop", 0),
                       ("drop", 2), ("lock", 1, 5)),
    "death_calls_and_registers": seq(("make", 0), ("make", 1), ("on_death", 0, 0, LOG, 0, 0),
                                     ("on_death", 0, 1, CALL_FIN, 0, 0),
                                     ("on_death", 0, 2, REGISTER, 1, 3), ("drop", 0),
                                     ("fin_call", 0), ("drop", 1), ("fin_detach", 3)),
    "listeners": seq(("make", 0), ("make", 1), ("make", 2), ("on_remove", VM, 0, LISTEN),
                     ("on_remove", KM, 0, LISTEN), ("on_remove", SET, 0, LISTEN),
                     ("vm_insert", 0, 1, 0, 0), ("vm_insert", 0, 1, 1, 1), ("vm_erase", 0, 1),
                     ("vm_insert", 0, 2, 2, 0), ("km_insert", 0, 0, 5, 0), ("km_insert", 0, 0, 6, 1),
                     ("set_insert", 0, 1), ("copy_assign", VM, 1, 1), ("drop", 2), ("drop", 0),
                     ("clear", SET, 0), ("move_assign", KM, 1, 1), ("on_remove", VM, 1, UNLISTEN),
                     ("drop", 1)),
    "value_map_inside": seq(("make", 0), ("make", 1), ("on_remove", VM, 0, LISTEN),
                            ("vm_insert", 0, 1, 0, 0), ("vm_insert", 0, 2, 1, 0),
                            ("vm_insert", 0, 3, 0, 0), ("vm_take", 0, 1, 4),
                            ("vm_erase_if", 0, 0xff, 1), ("vm_get_or_emp", 0, 5, 5),
                            ("vm_get_or_emp", 0, 5, 6), ("vm_value_refs", 0),
                            ("copy_assign", VM, 1, 1), ("compare", VM), ("drop", 5), ("drop", 6),
                            ("compare", VM)),
    "key_map_inside": seq(("make", 0), ("make", 1), ("on_remove", KM, 0, LISTEN),
                          ("km_try_emplace", 0, 0, 3), ("km_try_emplace", 0, 0, 4),
                          ("km_update", 0, 0, 10), ("km_update", 0, 8, 1), ("km_visit", 0, 8),
                          ("km_get_or_ins", 0, 1, 7, KM_THROW), ("km_get_or_ins", 0, 1, 7, KM_INSERT_FIRST),
                          ("km_get_or_ins", 0, 1, 9, KM_VALUE), ("km_values", 0),
                          ("km_erase_if", 0, 0), ("km_take", 0, 1), ("km_take", 0, 8),
                          ("copy_assign", KM, 1, 1), ("compare", KM), ("drop", 0)),
    "set_inside": seq(("make", 0), ("make", 1), ("make", 2), ("set_insert", 0, 0), ("set_insert", 0, 1),
                      ("set_insert", 1, 1), ("set_insert", 1, 2), ("on_remove", SET, 0, LISTEN),
                      ("set_relation",), ("set_algebra", 0, OR_EQ, 1), ("set_algebra", 0, AND_EQ, 1),
                      ("set_algebra", 0, XOR, 1), ("set_algebra", 1, SUB_EQ, 0),
                      ("set_erase_if", 0, 0xff), ("set_insert", 0, 2), ("set_pop", 0, 3),
                      ("set_pop", 0, 4), ("compare", SET), ("drop", 3)),
    "keep_recent": seq(("vm_keep_recent", 0, KEEP_2), ("make", 0), ("make", 1), ("make", 2),
                       ("make", 3), ("vm_insert", 0, 0, 0, 0), ("vm_insert", 0, 1, 1, 0),
                       ("vm_insert", 0, 2, 2, 0), ("vm_insert", 0, 3, 3, 0), ("drop", 0),
                       ("drop", 1), ("drop", 2), ("drop", 3), ("size", VM, 0), ("vm_get", 0, 0),
                       ("vm_get", 0, 2), ("vm_insert", 0, 4, 4, 0), ("vm_keep_recent", 0, KEEP_40),
                       ("vm_get_or_emp", 0, 5, 5), ("drop", 5), ("vm_get_or_ins", 0, 6, 6, NEW, 0),
                       ("drop", 6), ("vm_keep_recent", 0, KEEP_1), ("vm_erase", 0, 5),
                       ("vm_take", 0, 6, 7), ("drop", 7), ("size", VM, 0)),
    "keep_recent_copies": seq(("vm_keep_recent", 0, KEEP_17), ("on_remove", VM, 0, LISTEN),
                              ("make", 0), ("make", 1), ("make", 2), ("vm_insert", 0, 0, 0, 0),
                              ("vm_insert", 0, 1, 1, 0), ("vm_insert", 0, 2, 1, 0),
                              ("vm_insert", 0, 3, 2, 1), ("on_death", 1, 0, LOG_SIZES, 0, 0),
                              ("on_death", 2, 1, CLEAR_OR_DESTROY, VM, 3), ("drop", 0), ("drop", 1),
                              ("drop", 2), ("vm_insert", 0, 3, 3, 1), ("copy_assign", VM, 1, 1),
                              ("vm_get", 1, 0), ("vm_erase_if", 0, 0x03, 0), ("swap_cont", VM, 0),
                              ("move_assign", VM, 0, 1), ("recreate", VM, 1, 2), ("clear", VM, 1),
                              ("vm_keep_recent", 0, KEEP_3), ("vm_insert", 0, 5, 4, 0),
                              ("destroy", VM, 0), ("size", VM, 0)),
    "interner": seq(("in_intern", 0, 1, BY_COPY), ("in_intern", 1, 1, BY_MOVE),
                    ("in_intern", 2, 1, BY_KEY), ("in_intern", 3, 4, BY_COPY),
                    ("in_contains", 4, 0), ("in_contains", 3, 1), ("in_intern", 3, 3, BY_KEY),
                    ("in_intern", 2, 0, BY_MOVE), ("in_drop", 0), ("in_drop", 1),
                    ("in_contains", 1, 1), ("in_drop", 2), ("in_contains", 1, 0),
                    ("in_intern", 0, 1, BY_KEY), ("in_copy", 0, 1), ("in_reset", THROUGH_COPY),
                    ("in_intern", 2, 1, BY_COPY), ("in_reset", THROUGH_ASSIGN),
                    ("in_reset", SWAPPED_OR_DESTROYED), ("in_reset", NEW_ONE),
                    ("in_intern", 2, 1, BY_MOVE), ("in_drop", 3)),
    "signal": seq(("make", 0), ("make", 1), ("make", 2), ("sig_connect", 0, 0, SUB_NOTHING, 0),
                  ("sig_connect", 1, 1, SUB_DROP_SLOT, 2), ("sig_connect", 2, 2, SUB_NOTHING, 0),
                  ("sig_connect", 0, 3, SUB_LOG_SIZE, 0), ("sig_emit", 7), ("make", 2),
                  ("sig_connect", 2, 2, SUB_DISCONNECT, 0), ("sig_emit", 8), ("sig_alive", 0),
                  ("sig_scoped", 3, 0), ("sig_conn_copy", 1, 0), ("sig_conn_equal", 0, 1),
                  ("sig_emit", 9), ("sig_scoped_drop", 0), ("sig_emit", 10), ("drop", 1),
                  ("sig_size",), ("sig_emit", 11), ("sig_connect", 5, 0, SUB_NOTHING, 0),
                  ("sig_reset", THROUGH_COPY), ("sig_emit", 12), ("sig_reset", THROUGH_ASSIGN),
                  ("sig_scoped", 2, 1), ("sig_scoped_rel", 1, 3), ("sig_scoped_disc", 1),
                  ("sig_disconnect", 3), ("sig_disc_all",), ("sig_emit", 13),
                  ("sig_connect", 0, 0, SUB_DROP_SLOT, 0), ("sig_emit", 14),
                  ("sig_reset", SWAPPED_OR_DESTROYED), ("sig_emit", 15), ("sig_reset", NEW_ONE),
                  ("sig_size",)),
}

here = pathlib.Path(__file__).resolve().parent
for i, (name, data) in enumerate(SEEDS.items()):
    (here / f"seed-{i:02d}-{name}").write_bytes(data)
