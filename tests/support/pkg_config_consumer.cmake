# Builds and runs one source file with nothing but the flags of the installed weakref.pc; run by
# ctest as
#   cmake -DPKG_CONFIG=<pkg-config> -DPKG_CONFIG_PATH=<dir> -DCXX=<compiler> -DSTANDARD=<flag>
#         -DSOURCE=<main.cpp> -DBINARY=<program to write> -P <this file>

foreach(_var IN ITEMS PKG_CONFIG PKG_CONFIG_PATH CXX STANDARD SOURCE BINARY)
    if(NOT DEFINED ${_var})
        message(FATAL_ERROR "pkg_config_consumer.cmake: -D${_var}=... is missing")
    endif()
endforeach()

set(ENV{PKG_CONFIG_PATH} "${PKG_CONFIG_PATH}")
execute_process(COMMAND "${PKG_CONFIG}" --cflags --libs weakref
                RESULT_VARIABLE _result OUTPUT_VARIABLE _flags ERROR_VARIABLE _error
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _result EQUAL 0)
    message(FATAL_ERROR "pkg-config --cflags --libs weakref failed (PKG_CONFIG_PATH="
                        "${PKG_CONFIG_PATH}):\n${_error}")
endif()
message(STATUS "pkg-config --cflags --libs weakref: ${_flags}")
if(NOT _flags MATCHES "-I")
    message(FATAL_ERROR "weakref.pc gives no include directory")
endif()
separate_arguments(_flags UNIX_COMMAND "${_flags}")

get_filename_component(_dir "${BINARY}" DIRECTORY)
file(MAKE_DIRECTORY "${_dir}")
execute_process(COMMAND "${CXX}" ${STANDARD} "${SOURCE}" ${_flags} -o "${BINARY}"
                RESULT_VARIABLE _result OUTPUT_VARIABLE _output ERROR_VARIABLE _output)
if(NOT _result EQUAL 0)
    message(FATAL_ERROR "building ${SOURCE} with weakref.pc's flags failed:\n${_output}")
endif()
execute_process(COMMAND "${BINARY}" RESULT_VARIABLE _result)
if(NOT _result EQUAL 0)
    message(FATAL_ERROR "${BINARY} returned ${_result}")
endif()
