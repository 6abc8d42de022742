# SPDX-License-Identifier: MIT
# Runs PROGRAM with CASE and passes only if it ends abnormally (a signal or a nonzero exit) and
# its stderr matches EXPECT (a CMake regular expression).
#
#   cmake -DPROGRAM=<exe> -DCASE=<name> -DEXPECT=<regex> -P expect_death.cmake
execute_process(COMMAND "${PROGRAM}" "${CASE}" RESULT_VARIABLE result OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
if(result EQUAL 0)
    message(FATAL_ERROR "${CASE}: the program did not stop.\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(NOT err MATCHES "${EXPECT}")
    message(FATAL_ERROR "${CASE}: stopped (${result}) without the expected message\n"
                        "  ${EXPECT}\nstdout:\n${out}\nstderr:\n${err}")
endif()
message(STATUS "${CASE}: stopped (${result}) with: ${EXPECT}")
