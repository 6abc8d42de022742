# SPDX-License-Identifier: MIT
# Runs PROGRAM with CASE and passes only if it ends abnormally (a signal or a nonzero exit), its
# stderr matches EXPECT and, if REJECT is given, neither its stdout nor its stderr matches REJECT
# (CMake regular expressions).
#
#   cmake -DPROGRAM=<exe> -DCASE=<name> -DEXPECT=<regex> [-DREJECT=<regex>] -P expect_death.cmake
execute_process(COMMAND "${PROGRAM}" "${CASE}" RESULT_VARIABLE result OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
if(result EQUAL 0)
    message(FATAL_ERROR "${CASE}: the program did not stop.\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(NOT err MATCHES "${EXPECT}")
    message(FATAL_ERROR "${CASE}: stopped (${result}) without the expected message\n"
                        "  ${EXPECT}\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(DEFINED REJECT AND NOT REJECT STREQUAL "" AND ("${out}${err}" MATCHES "${REJECT}"))
    message(FATAL_ERROR "${CASE}: stopped (${result}) but printed what it must not\n"
                        "  ${REJECT}\nstdout:\n${out}\nstderr:\n${err}")
endif()
message(STATUS "${CASE}: stopped (${result}) with: ${EXPECT}")
