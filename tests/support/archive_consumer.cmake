# cmake -DSETTINGS=<settings.cmake> -P archive_consumer.cmake
#
# Packs weakref's source tree as a release archive would hold it (weakref-<version>/ with the
# files a build of the library reads), computes its SHA256, and runs the fetch_content_url
# consumer with `ctest --build-and-test`, passing the archive's path and hash as a user would
# write them in FetchContent_Declare(... URL ... URL_HASH SHA256=...). SETTINGS defines
# SOURCE_DIR, BINARY_DIR, VERSION and BUILD_AND_TEST (the ctest command, before its
# --build-options' -D values).
cmake_minimum_required(VERSION 3.21)
include("${SETTINGS}")

set(stage "${BINARY_DIR}/stage")
set(top "weakref-${VERSION}")
set(archive "${BINARY_DIR}/${top}.tar.gz")
file(REMOVE_RECURSE "${stage}" "${BINARY_DIR}/build")
file(MAKE_DIRECTORY "${stage}/${top}")
foreach(item IN ITEMS CMakeLists.txt LICENSE README.md cmake include docs)
    if(EXISTS "${SOURCE_DIR}/${item}")
        file(COPY "${SOURCE_DIR}/${item}" DESTINATION "${stage}/${top}")
    endif()
endforeach()
execute_process(COMMAND "${CMAKE_COMMAND}" -E tar czf "${archive}" "${top}"
                WORKING_DIRECTORY "${stage}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "archive_consumer: packing ${archive} failed (${rc})")
endif()
file(SHA256 "${archive}" hash)
message("archive_consumer: ${archive}, SHA256=${hash}")

execute_process(COMMAND ${BUILD_AND_TEST} "-DWEAKREF_URL=${archive}"
                        "-DWEAKREF_URL_HASH=SHA256=${hash}" --test-command consumer
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "archive_consumer: the consumer failed (${rc})")
endif()
