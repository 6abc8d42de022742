# Compiles one tests/compile_fail/ file and checks the outcome; run by ctest as
#   cmake -DSETTINGS=<settings.cmake> -DSOURCE=<file.cpp> -DEXPECT=fail|pass -P <this file>
# SETTINGS (written by tests/CMakeLists.txt) sets WEAKREF_CXX and WEAKREF_CXX_FLAGS.
# EXPECT=fail: passes only if compilation fails and the compiler's output contains the text of
#              the file's first line, `// expect: <text>` (normally our static_assert message).
# EXPECT=pass: passes only if the file compiles (the control beside the misuses).

foreach(_var IN ITEMS SETTINGS SOURCE EXPECT)
    if(NOT DEFINED ${_var})
        message(FATAL_ERROR "expect_compile_failure.cmake: -D${_var}=... is missing")
    endif()
endforeach()
include("${SETTINGS}")

file(READ "${SOURCE}" _content)
string(REGEX MATCH "^[^\n]*" _first_line "${_content}")
set(_expected "")
if(_first_line MATCHES "^// *expect: *(.*[^ \t\r])[ \t\r]*$")
    set(_expected "${CMAKE_MATCH_1}")
endif()
if(EXPECT STREQUAL "fail" AND _expected STREQUAL "")
    message(FATAL_ERROR "${SOURCE}: the first line must be `// expect: <text of the error>`")
endif()

# LC_ALL=C: plain ASCII quotes in the diagnostics. -fsyntax-only still instantiates templates,
# so every static_assert fires.
execute_process(
    COMMAND "${CMAKE_COMMAND}" -E env LC_ALL=C "${WEAKREF_CXX}" ${WEAKREF_CXX_FLAGS} -fsyntax-only
            "${SOURCE}"
    RESULT_VARIABLE _result
    OUTPUT_VARIABLE _output
    ERROR_VARIABLE _output)
string(JOIN " " _command "${WEAKREF_CXX}" ${WEAKREF_CXX_FLAGS} -fsyntax-only "${SOURCE}")

if(EXPECT STREQUAL "pass")
    if(NOT _result EQUAL 0)
        message(FATAL_ERROR "${SOURCE} must compile, but did not:\n${_command}\n${_output}")
    endif()
    message(STATUS "${SOURCE} compiles, as it must")
elseif(_result EQUAL 0)
    message(FATAL_ERROR "${SOURCE} compiled, but must not:\n${_command}\n${_output}")
else()
    string(FIND "${_output}" "${_expected}" _at)
    if(_at EQUAL -1)
        message(FATAL_ERROR "${SOURCE} failed to compile, but without the expected text\n"
                            "  \"${_expected}\"\n${_command}\n${_output}")
    endif()
    message(STATUS "${SOURCE} fails to compile with \"${_expected}\", as it must")
endif()
