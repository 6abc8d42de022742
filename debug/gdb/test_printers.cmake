# SPDX-License-Identifier: MIT
# The gdb.printers test: runs printers_demo under gdb with weakref_printers.py and checks what
# each variable prints.
#
#   cmake -DGDB=/usr/bin/gdb -DPROGRAM=<printers_demo> -DPRINTERS=<weakref_printers.py>
#         -P test_printers.cmake
#
# gdb stops in breakpoint_here(), goes up to main() and prints the variables listed below, in
# order, so the i-th print is `$i`. Each expectation is a CMake regex that must match somewhere
# in the output; container entries come in hash order, so each entry is checked on its own.
# Then the program runs on and checks that the library's own use_count() and weak_count() are
# the counts expected here (it exits with 1 if not).

foreach(_var IN ITEMS GDB PROGRAM PRINTERS)
    if(NOT DEFINED ${_var})
        message(FATAL_ERROR "test_printers.cmake: pass -D${_var}=...")
    endif()
endforeach()

# The variables of printers_demo.cpp's main(), in print order.
set(_variables r r2 w p dead empty stock price tasted lr lw lmap lkeys lset lempty tried held
               shelf)

set(_gdb_args -batch -nx -ex "source ${PRINTERS}" -ex "set print pretty off"
              -ex "set width unlimited" -ex "break breakpoint_here" -ex run -ex up)
foreach(_var IN LISTS _variables)
    list(APPEND _gdb_args -ex "print ${_var}")
endforeach()
list(APPEND _gdb_args -ex "info pretty-printer" -ex continue "${PROGRAM}")

execute_process(COMMAND "${GDB}" ${_gdb_args} OUTPUT_VARIABLE _out ERROR_VARIABLE _err
                RESULT_VARIABLE _rc TIMEOUT 120)
message(STATUS "gdb output:\n${_out}")
if(_err)
    message(STATUS "gdb errors:\n${_err}")
endif()

set(_failures 0)

# expect(<regex part>... <what>): the output matches the regex, the concatenation of every
# argument but the last, which says what is checked. (Each argument is read by its number: a
# list would split or join them wrongly at the regexes' brackets.)
function(expect)
    math(EXPR _last "${ARGC} - 1")
    math(EXPR _before "${_last} - 1")
    set(_regex "")
    foreach(_n RANGE 0 ${_before})
        string(APPEND _regex "${ARGV${_n}}")
    endforeach()
    if(NOT _out MATCHES "${_regex}")
        message(SEND_ERROR "gdb.printers: ${ARGV${_last}}\n  expected to match: ${_regex}")
        math(EXPR _failures "${_failures} + 1")
        set(_failures ${_failures} PARENT_SCOPE)
    endif()
endfunction()

# reject(<regex part>... <what>): the output does not match the regex (as for expect).
function(reject)
    math(EXPR _last "${ARGC} - 1")
    math(EXPR _before "${_last} - 1")
    set(_regex "")
    foreach(_n RANGE 0 ${_before})
        string(APPEND _regex "${ARGV${_n}}")
    endforeach()
    if(_out MATCHES "${_regex}")
        message(SEND_ERROR "gdb.printers: ${ARGV${_last}}\n  expected no match for: ${_regex}")
        math(EXPR _failures "${_failures} + 1")
        set(_failures ${_failures} PARENT_SCOPE)
    endif()
endfunction()

# print(<variable>): the `$i = ` that starts its line in the output.
function(print_of variable out_var)
    list(FIND _variables "${variable}" _i)
    math(EXPR _i "${_i} + 1")
    set(${out_var} "\n\\$${_i} = " PARENT_SCOPE)
endfunction()

if(NOT _out MATCHES "Breakpoint 1, breakpoint_here")
    message(FATAL_ERROR "gdb.printers: gdb did not stop in breakpoint_here() (exit ${_rc}); can "
                        "it run programs here (ptrace)? Output above.")
endif()
if(_err MATCHES "Traceback|Python Exception|Error occurred in Python")
    message(SEND_ERROR "gdb.printers: the printers raised a Python error (see gdb errors above)")
    math(EXPR _failures "${_failures} + 1")
endif()

set(_brie "{kind = \"Brie\", age = 3}")
set(_parmesan "{kind = \"Parmesan\", age = 24}")

# Handles: a ref's counts and referent. r is held by r and r2, and observed by w, p and one entry
# in each of stock and price: weak_count 4, without the unit the live object holds, the pin of
# the finalizer f, and the unit of the entry erased from `tried` (retired, not yet freed).
print_of(r _p)
expect("${_p}weakref::ref<Cheese> \\(use_count 2, weak_count 4\\) = {referent = ${_brie}}\n"
       "ref: counts and referent")
print_of(r2 _p)
expect("${_p}weakref::ref<Cheese> \\(use_count 2, weak_count 4\\) = {referent = ${_brie}}\n"
       "a second ref to the same object")
print_of(w _p)
expect("${_p}weakref::weak_ref<Cheese> \\(use_count 2, weak_count 4\\) = {referent = ${_brie}}\n"
       "live weak_ref: counts and referent")
print_of(p _p)
expect("${_p}weakref::proxy<Cheese> \\(use_count 2, weak_count 4\\) = {referent = ${_brie}}\n"
       "proxy: counts and referent")
print_of(dead _p)
expect("${_p}weakref::weak_ref<Cheese> dead \\(weak_count 1\\)\n" "dead weak_ref")
print_of(empty _p)
expect("${_p}weakref::ref<Cheese> empty\n" "empty ref")

# Containers, thread-safe flavour: live entries only; the dead camembert's entry left the map.
print_of(stock _p)
expect("${_p}weakref::weak_value_map<std::string, Cheese> with 2 live entries = {[^\n]*"
       "\\[\"brie\"\\] = ${_brie}" "weak_value_map: brie => its Cheese")
expect("${_p}weakref::weak_value_map<std::string, Cheese> with 2 live entries = {[^\n]*"
       "\\[\"parmesan\"\\] = ${_parmesan}" "weak_value_map: parmesan => its Cheese")
reject("Camembert|camembert" "weak_value_map: the dead value's entry is shown")
print_of(price _p)
expect("${_p}weakref::weak_key_map<Cheese, int> with 2 live entries = {[^\n]*"
       "\\[${_brie}\\] = 7" "weak_key_map: Brie => 7")
expect("${_p}weakref::weak_key_map<Cheese, int> with 2 live entries = {[^\n]*"
       "\\[${_parmesan}\\] = 12" "weak_key_map: Parmesan => 12")
print_of(tasted _p)
expect("${_p}weakref::weak_set<Cheese> with 1 live entry = {${_parmesan}}\n" "weak_set<Cheese>")

# An erased entry is gone from its container at once, though its memory waits.
print_of(tried _p)
expect("${_p}weakref::weak_set<Cheese> with 0 live entries\n" "weak_set with an erased entry")

# Local flavour: lr is observed by lw and one entry of each container (and pinned by lf).
print_of(lr _p)
expect("${_p}weakref::local::ref<int> \\(use_count 1, weak_count 4\\) = {referent = 42}\n"
       "local ref")
print_of(lw _p)
expect("${_p}weakref::local::weak_ref<int> \\(use_count 1, weak_count 4\\) = {referent = 42}\n"
       "local weak_ref")
print_of(lmap _p)
expect("${_p}weakref::local::weak_value_map<int, int> with 1 live entry = {\\[1\\] = 42}\n"
       "local weak_value_map")
print_of(lkeys _p)
expect("${_p}weakref::local::weak_key_map<int, std::string> with 1 live entry = "
       "{\\[42\\] = \"answer\"}\n" "local weak_key_map")
print_of(lset _p)
expect("${_p}weakref::local::weak_set<int> with 1 live entry = {42}\n" "local weak_set")
print_of(lempty _p)
expect("${_p}weakref::local::weak_set<int> with 0 live entries\n" "empty local weak_set")

# A reference prints as what it refers to.
print_of(held _p)
expect("${_p}weakref::ref<Cheese> \\(use_count 2, weak_count 4\\) = {referent = ${_brie}}\n"
       "a reference to a ref")
print_of(shelf _p)
expect("${_p}weakref::local::weak_set<int> with 1 live entry = {42}\n" "a reference to a weak_set")

# gdb lists a collection's printers sorted by name.
expect("\n +weakref\n +proxy\n +ref\n +weak_key_map\n +weak_ref\n +weak_set\n +weak_value_map\n"
       "info pretty-printer lists the weakref printers")

# The program's own counts agree (see printers_demo.cpp).
expect("\\[Inferior 1 \\(process [0-9]+\\) exited normally\\]"
       "printers_demo: use_count() and weak_count() return the counts checked above")

if(_failures GREATER 0)
    message(FATAL_ERROR "gdb.printers: ${_failures} check(s) failed; gdb's output is above")
endif()
message(STATUS "gdb.printers: every check passed")
