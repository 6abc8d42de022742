# SPDX-License-Identifier: MIT
# The lldb.formatters test: runs printers_demo under lldb with weakref_lldb.py and checks what
# `frame variable` and `p` show for each variable.
#
#   cmake -DLLDB=/usr/bin/lldb -DPROGRAM=<printers_demo> -DFORMATTERS=<weakref_lldb.py>
#         -P test_formatters.cmake
#
# lldb stops in breakpoint_here(), goes up to main() and shows each variable listed below with
# `frame variable`, then again with `p` (so the i-th `p` is `$i`, counting from 0). Each
# expectation is a CMake regex that must match somewhere in the output; container entries come
# in hash order, so each entry is checked on its own. Then the program runs on and checks that
# the library's own use_count() and weak_count() are the counts expected here (it exits with 1
# if not).

foreach(_var IN ITEMS LLDB PROGRAM FORMATTERS)
    if(NOT DEFINED ${_var})
        message(FATAL_ERROR "test_formatters.cmake: pass -D${_var}=...")
    endif()
endforeach()

# -DLLDB=lldb-14 by hand: the program on PATH.
if(NOT IS_ABSOLUTE "${LLDB}")
    find_program(_lldb_path NAMES "${LLDB}" NO_CACHE)
    if(NOT _lldb_path)
        message(FATAL_ERROR "lldb.formatters: no ${LLDB} on PATH")
    endif()
    set(LLDB "${_lldb_path}")
endif()

# lldb 14 as Debian and Ubuntu package it looks for its Python module in a directory that does
# not exist (`lldb -P` prints it; LLVM issue 55575), and then runs no script at all. Point
# PYTHONPATH at the module beside lldb's own installation in that case.
execute_process(COMMAND "${LLDB}" -P OUTPUT_VARIABLE _python_dir ERROR_QUIET
                OUTPUT_STRIP_TRAILING_WHITESPACE TIMEOUT 60)
if(NOT EXISTS "${_python_dir}/lldb/embedded_interpreter.py")
    file(REAL_PATH "${LLDB}" _lldb_real)
    get_filename_component(_lldb_prefix "${_lldb_real}" DIRECTORY)
    get_filename_component(_lldb_prefix "${_lldb_prefix}" DIRECTORY)
    file(GLOB _found "${_lldb_prefix}/lib/python3*/*-packages/lldb/embedded_interpreter.py")
    if(NOT _found)
        message(FATAL_ERROR "lldb.formatters: lldb's Python module is neither in `lldb -P` "
                            "(${_python_dir}) nor under ${_lldb_prefix}/lib: is lldb's Python "
                            "package installed (Debian: python3-lldb-<version>)?")
    endif()
    list(GET _found 0 _found)
    get_filename_component(_found "${_found}" DIRECTORY)
    get_filename_component(_found "${_found}" DIRECTORY)
    message(STATUS "lldb.formatters: `lldb -P` names ${_python_dir}, which has no lldb module; "
                   "using PYTHONPATH=${_found}")
    if(DEFINED ENV{PYTHONPATH} AND NOT "$ENV{PYTHONPATH}" STREQUAL "")
        set(ENV{PYTHONPATH} "${_found}:$ENV{PYTHONPATH}")
    else()
        set(ENV{PYTHONPATH} "${_found}")
    endif()
endif()

# `command script import` would write the module's bytecode into the source tree.
set(ENV{PYTHONDONTWRITEBYTECODE} 1)

# The variables of printers_demo.cpp's main(), in the order they are shown.
set(_variables r r2 w p dead empty stock price tasted lr lw lmap lkeys lset lempty tried held
               shelf)

set(_lldb_args --batch --no-lldbinit -o "command script import ${FORMATTERS}"
               -o "breakpoint set --name breakpoint_here" -o run -o up)
foreach(_var IN LISTS _variables)
    list(APPEND _lldb_args -o "frame variable ${_var}")
endforeach()
foreach(_var IN LISTS _variables)
    list(APPEND _lldb_args -o "p ${_var}")
endforeach()
list(APPEND _lldb_args -o "frame variable r.referent" -o "type category list weakref"
                       -o continue "${PROGRAM}")

execute_process(COMMAND "${LLDB}" ${_lldb_args} OUTPUT_VARIABLE _out ERROR_VARIABLE _err
                RESULT_VARIABLE _rc TIMEOUT 120)
message(STATUS "lldb output:\n${_out}")
if(_err)
    message(STATUS "lldb errors:\n${_err}")
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
        message(SEND_ERROR "lldb.formatters: ${ARGV${_last}}\n  expected to match: ${_regex}")
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
        message(SEND_ERROR "lldb.formatters: ${ARGV${_last}}\n  expected no match for: "
                           "${_regex}")
        math(EXPR _failures "${_failures} + 1")
        set(_failures ${_failures} PARENT_SCOPE)
    endif()
endfunction()

# shows(<variable> <regex part>... <what>): both `frame variable <variable>` and its `p` show
# the regex (as for expect) after `(<type>) <variable> = ` (or `$i = `). The type in
# parentheses is not checked: GCC names an alias template without its arguments
# (`weakref::ref`), Clang with them.
function(shows variable)
    math(EXPR _last "${ARGC} - 1")
    math(EXPR _before "${_last} - 1")
    set(_regex "")
    foreach(_n RANGE 1 ${_before})
        string(APPEND _regex "${ARGV${_n}}")
    endforeach()
    list(FIND _variables "${variable}" _i)
    foreach(_name IN ITEMS "${variable}" "\\$${_i}")
        if(NOT _out MATCHES "\n\\([^\n]*\\) ${_name} = ${_regex}")
            message(SEND_ERROR "lldb.formatters: ${ARGV${_last}} (${_name})\n  expected to "
                               "match: \\([^\n]*\\) ${_name} = ${_regex}")
            math(EXPR _failures "${_failures} + 1")
        endif()
    endforeach()
    set(_failures ${_failures} PARENT_SCOPE)
endfunction()

if(NOT _out MATCHES "stop reason = breakpoint")
    message(FATAL_ERROR "lldb.formatters: lldb did not stop in breakpoint_here() (exit ${_rc}); "
                        "can it run programs here (ptrace)? Output above.")
endif()
if("${_out}${_err}" MATCHES "Traceback|Error:|error: |Exception")
    message(SEND_ERROR "lldb.formatters: lldb or the formatters reported an error (see above)")
    math(EXPR _failures "${_failures} + 1")
endif()
reject("<weakref formatter" "a formatter could not read what it needs")

set(_brie "\\(kind = \"Brie\", age = 3\\)")
set(_parmesan "\\(kind = \"Parmesan\", age = 24\\)")
set(_other "(  [^\n]*\n)*") # other entries, before or after the one checked

# Handles: a ref's counts and referent. r is held by r and r2, and observed by w, p and one entry
# in each of stock and price: weak_count 4, without the unit the live object holds, the pin of
# the finalizer f, and the unit of the entry erased from `tried` (retired, not yet freed).
shows(r "weakref::ref<Cheese> \\(use_count 2, weak_count 4\\) {\n  referent = ${_brie}\n}\n"
      "ref: counts and referent")
shows(r2 "weakref::ref<Cheese> \\(use_count 2, weak_count 4\\) {\n  referent = ${_brie}\n}\n"
      "a second ref to the same object")
shows(w "weakref::weak_ref<Cheese> \\(use_count 2, weak_count 4\\) {\n  referent = ${_brie}\n}\n"
      "live weak_ref: counts and referent")
shows(p "weakref::proxy<Cheese> \\(use_count 2, weak_count 4\\) {\n  referent = ${_brie}\n}\n"
      "proxy: counts and referent")
shows(dead "weakref::weak_ref<Cheese> dead \\(weak_count 1\\)\n" "dead weak_ref")
shows(empty "weakref::ref<Cheese> empty\n" "empty ref")
expect("\\(lldb\\) frame variable r.referent\n\\([^\n]*\\) r.referent = ${_brie}\n"
       "a ref's referent reached by name")

# Containers, thread-safe flavour: live entries only; the dead camembert's entry left the map.
shows(stock "weakref::weak_value_map<std::string, Cheese> with 2 live entries {\n${_other}"
            "  \\[\"brie\"\\] = ${_brie}\n" "weak_value_map: brie => its Cheese")
shows(stock "weakref::weak_value_map<std::string, Cheese> with 2 live entries {\n${_other}"
            "  \\[\"parmesan\"\\] = ${_parmesan}\n" "weak_value_map: parmesan => its Cheese")
reject("Camembert|camembert" "weak_value_map: the dead value's entry is shown")
shows(price "weakref::weak_key_map<Cheese, int> with 2 live entries {\n${_other}"
            "  \\[${_brie}\\] = 7\n" "weak_key_map: Brie => 7")
shows(price "weakref::weak_key_map<Cheese, int> with 2 live entries {\n${_other}"
            "  \\[${_parmesan}\\] = 12\n" "weak_key_map: Parmesan => 12")
shows(tasted "weakref::weak_set<Cheese> with 1 live entry {\n  \\[0\\] = ${_parmesan}\n}\n"
      "weak_set<Cheese>")

# An erased entry is gone from its container at once, though its memory waits.
shows(tried "weakref::weak_set<Cheese> with 0 live entries\n" "weak_set with an erased entry")

# Local flavour: lr is observed by lw and one entry of each container (and pinned by lf).
shows(lr "weakref::local::ref<int> \\(use_count 1, weak_count 4\\) {\n  referent = 42\n}\n"
      "local ref")
shows(lw "weakref::local::weak_ref<int> \\(use_count 1, weak_count 4\\) {\n  referent = 42\n}\n"
      "local weak_ref")
shows(lmap "weakref::local::weak_value_map<int, int> with 1 live entry {\n  \\[1\\] = 42\n}\n"
      "local weak_value_map")
shows(lkeys "weakref::local::weak_key_map<int, std::string> with 1 live entry {\n"
            "  \\[42\\] = \"answer\"\n}\n" "local weak_key_map")
shows(lset "weakref::local::weak_set<int> with 1 live entry {\n  \\[0\\] = 42\n}\n"
      "local weak_set")
shows(lempty "weakref::local::weak_set<int> with 0 live entries\n" "empty local weak_set")

# A reference shows its address, then what it refers to; `p` copies the value.
shows(held "(0x[0-9a-f]+ )?weakref::ref<Cheese> \\(use_count 2, weak_count 4\\):? {\n"
           "  referent = ${_brie}\n}\n" "a reference to a ref")
shows(shelf "(0x[0-9a-f]+ )?weakref::local::weak_set<int> with 1 live entry:? {\n"
            "  \\[0\\] = 42\n}\n" "a reference to a weak_set")
expect("\\) held = 0x[0-9a-f]+ weakref::ref<Cheese> " "frame variable: the reference's address")

# The formatters' category is there and on.
expect("Category: weakref \\(enabled\\)" "type category list shows the weakref category")

# The program's own counts agree (see printers_demo.cpp).
expect("Process [0-9]+ exited with status = 0 "
       "printers_demo: use_count() and weak_count() return the counts checked above")

if(_failures GREATER 0)
    message(FATAL_ERROR "lldb.formatters: ${_failures} check(s) failed; lldb's output is above")
endif()
message(STATUS "lldb.formatters: every check passed")
