# cmake -DCXX=<compiler> -DFLAGS=<list> -DHEADER=weakref/ref.hpp -DFORBIDDEN=<list>
#       [-DBASELINE=memory,unordered_map] -DWORK=<dir> -P check_includes.cmake
#
# Preprocesses a translation unit that includes only <HEADER> (or each of several, separated by
# commas) and fails if any standard header named in FORBIDDEN (e.g. thread;functional) is among
# the files it reads, printing the chain of includes that brought each one in. A forbidden header
# that the BASELINE headers read too, with the same compiler and flags, is not counted: it is the
# standard library's cost, not ours (libstdc++'s <memory> reads <ostream> in C++20). The
# compiler's -H output lists every file read, one line each, with one dot per level of nesting.

cmake_minimum_required(VERSION 3.21)

foreach(var CXX HEADER FORBIDDEN WORK)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "check_includes.cmake: -D${var}=... is required")
    endif()
endforeach()
file(MAKE_DIRECTORY "${WORK}")

# include_tree(<headers, comma-separated> <out>): the -H lines of a TU including only them.
function(include_tree headers out)
    string(MAKE_C_IDENTIFIER "${headers}" name)
    set(source "${WORK}/${name}.cpp")
    string(REPLACE "," ";" headers "${headers}")
    list(TRANSFORM headers PREPEND "#include <" OUTPUT_VARIABLE includes)
    list(TRANSFORM includes APPEND ">\n")
    string(JOIN "" includes ${includes})
    file(WRITE "${source}" "${includes}")
    execute_process(COMMAND "${CXX}" ${FLAGS} -E -H -o /dev/null "${source}"
                    RESULT_VARIABLE rc ERROR_VARIABLE tree)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "check_includes: preprocessing ${source} failed:\n${tree}")
    endif()
    string(REPLACE ";" "\\;" tree "${tree}")
    string(REPLACE "\n" ";" lines "${tree}")
    list(FILTER lines INCLUDE REGEX "^\\.+ ")
    set(${out} "${lines}" PARENT_SCOPE)
endfunction()

# The forbidden headers the baseline reads itself.
set(exempt "")
if(BASELINE)
    include_tree("${BASELINE}" lines)
    foreach(line IN LISTS lines)
        foreach(bad IN LISTS FORBIDDEN)
            if(line MATCHES "/${bad}$" AND NOT bad IN_LIST exempt)
                list(APPEND exempt "${bad}")
            endif()
        endforeach()
    endforeach()
endif()

include_tree("${HEADER}" lines)
string(REPLACE "," "> + <" shown_header "${HEADER}")
set(chain "") # chain[k] is the file open at depth k + 1
set(found "")
foreach(line IN LISTS lines)
    string(REGEX MATCH "^(\\.+) (.+)$" _ "${line}")
    string(LENGTH "${CMAKE_MATCH_1}" depth)
    set(path "${CMAKE_MATCH_2}")
    list(LENGTH chain n)
    while(n GREATER_EQUAL depth)
        math(EXPR last "${n} - 1")
        list(REMOVE_AT chain ${last})
        list(LENGTH chain n)
    endwhile()
    list(APPEND chain "${path}")
    foreach(bad IN LISTS FORBIDDEN)
        if(path MATCHES "/${bad}$" AND NOT bad IN_LIST found)
            list(APPEND found "${bad}")
            set(steps "")
            foreach(step IN LISTS chain)
                string(REGEX REPLACE ".*/include/" "" step "${step}")
                string(REGEX REPLACE ".*/c\\+\\+/[0-9]+/" "" step "${step}")
                list(APPEND steps "${step}")
            endforeach()
            string(REPLACE ";" " -> " steps "${steps}")
            if(bad IN_LIST exempt)
                message("<${shown_header}> reads <${bad}>, as the baseline does (not counted): "
                        "${steps}")
            else()
                message("<${shown_header}> pulls in <${bad}>: ${steps}")
            endif()
        endif()
    endforeach()
endforeach()

list(REMOVE_ITEM found ${exempt})
if(found)
    string(REPLACE ";" ">, <" found "${found}")
    message(FATAL_ERROR "<${shown_header}> alone must not pull in <${found}>")
endif()
string(REPLACE ";" ">, <" FORBIDDEN "${FORBIDDEN}")
message("<${shown_header}> alone pulls in none of <${FORBIDDEN}> beyond what the baseline reads")
