# cmake -DCXX=<compiler> -DFLAGS=<list> -DHEADER=weakref/ref.hpp -DFORBIDDEN=<list> -DWORK=<dir>
#       -P check_includes.cmake
#
# Preprocesses a translation unit that includes only <HEADER> (or each of several, separated by
# commas) and fails if any standard header named in FORBIDDEN (e.g. thread;functional) is among
# the files it reads, printing the chain of includes that brought each one in. The compiler's -H output lists every file read, one line
# each, with one dot per level of nesting.

cmake_minimum_required(VERSION 3.21)

foreach(var CXX HEADER FORBIDDEN WORK)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "check_includes.cmake: -D${var}=... is required")
    endif()
endforeach()

file(MAKE_DIRECTORY "${WORK}")
string(MAKE_C_IDENTIFIER "${HEADER}" name)
set(source "${WORK}/${name}.cpp")
string(REPLACE "," ";" HEADER "${HEADER}")
list(TRANSFORM HEADER PREPEND "#include <" OUTPUT_VARIABLE includes)
list(TRANSFORM includes APPEND ">\n")
string(JOIN "" includes ${includes})
file(WRITE "${source}" "${includes}")
string(REPLACE ";" "> + <" HEADER "${HEADER}")
execute_process(COMMAND "${CXX}" ${FLAGS} -E -H -o /dev/null "${source}"
                RESULT_VARIABLE rc ERROR_VARIABLE tree)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "check_includes: preprocessing <${HEADER}> failed:\n${tree}")
endif()

string(REPLACE ";" "\\;" tree "${tree}")
string(REPLACE "\n" ";" lines "${tree}")
set(chain "") # chain[k] is the file open at depth k + 1
set(found "")
foreach(line IN LISTS lines)
    if(NOT line MATCHES "^(\\.+) (.+)$")
        continue()
    endif()
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
            set(shown "")
            foreach(step IN LISTS chain)
                string(REGEX REPLACE ".*/include/" "" step "${step}")
                string(REGEX REPLACE ".*/c\\+\\+/[0-9]+/" "" step "${step}")
                list(APPEND shown "${step}")
            endforeach()
            string(REPLACE ";" " -> " shown "${shown}")
            message("<${HEADER}> pulls in <${bad}>: ${shown}")
        endif()
    endforeach()
endforeach()

if(found)
    string(REPLACE ";" ">, <" found "${found}")
    message(FATAL_ERROR "<${HEADER}> alone must not pull in <${found}>")
endif()
string(REPLACE ";" ">, <" FORBIDDEN "${FORBIDDEN}")
message("<${HEADER}> alone pulls in none of <${FORBIDDEN}>")
