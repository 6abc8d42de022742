# Finds or gets Catch2 for weakref's tests, without waiting on a network that is not there.
#
# WEAKREF_CATCH2 picks the way:
#   auto    (default) the first that works of: system, apt, fetch; else stop with the fix
#   system  find_package(Catch2) only: an installed v3, or v2.13 or later
#   apt     install Debian's catch2 package (as root, or through sudo without a password), then
#           find_package
#   fetch   FetchContent of Catch2 ${WEAKREF_CATCH2_FETCH_TAG}: from
#           FETCHCONTENT_SOURCE_DIR_CATCH2 (a source tree on disk, no network) if set, else from
#           WEAKREF_CATCH2_GIT_REPOSITORY after a probe of at most WEAKREF_CATCH2_PROBE_TIMEOUT s
# Sets WEAKREF_CATCH2_V3 to 1 or 0 and defines Catch2::Catch2 (v2) or Catch2::Catch2WithMain (v3).

set(WEAKREF_CATCH2 "auto" CACHE STRING "How the tests get Catch2: auto, system, apt or fetch")
set_property(CACHE WEAKREF_CATCH2 PROPERTY STRINGS auto system apt fetch)
set(WEAKREF_CATCH2_FETCH_TAG "v3.7.1" CACHE STRING "Catch2 tag that the fetch way builds")
set(WEAKREF_CATCH2_GIT_REPOSITORY "https://github.com/catchorg/Catch2.git"
    CACHE STRING "Where the fetch way clones Catch2 from (a mirror's URL or a local path)")
set(WEAKREF_CATCH2_PROBE_TIMEOUT 10 CACHE STRING
    "Seconds the fetch way waits for WEAKREF_CATCH2_GIT_REPOSITORY to answer before giving up")
mark_as_advanced(WEAKREF_CATCH2_FETCH_TAG WEAKREF_CATCH2_GIT_REPOSITORY
                 WEAKREF_CATCH2_PROBE_TIMEOUT)

if(NOT WEAKREF_CATCH2 MATCHES "^(auto|system|apt|fetch)$")
    message(FATAL_ERROR "weakref: WEAKREF_CATCH2='${WEAKREF_CATCH2}'; use auto, system, apt or "
                        "fetch")
endif()

# Why each way failed, for the final message.
set(_weakref_catch2_tried "")

# find_package(Catch2): sets WEAKREF_CATCH2_V3 and returns true in `found` if usable.
function(_weakref_catch2_find found)
    set(${found} FALSE PARENT_SCOPE)
    if(CMAKE_DISABLE_FIND_PACKAGE_Catch2)
        list(APPEND _weakref_catch2_tried
             "find_package(Catch2): disabled by CMAKE_DISABLE_FIND_PACKAGE_Catch2")
        set(_weakref_catch2_tried "${_weakref_catch2_tried}" PARENT_SCOPE)
        return()
    endif()
    find_package(Catch2 CONFIG QUIET)
    if(Catch2_FOUND AND Catch2_VERSION VERSION_GREATER_EQUAL 3)
        set(WEAKREF_CATCH2_V3 1 PARENT_SCOPE)
    elseif(Catch2_FOUND AND Catch2_VERSION VERSION_GREATER_EQUAL 2.13)
        set(WEAKREF_CATCH2_V3 0 PARENT_SCOPE)
    elseif(Catch2_FOUND)
        message(FATAL_ERROR
                "weakref: found Catch2 ${Catch2_VERSION} in ${Catch2_DIR}; the tests need 2.13 "
                "or 3.x. Point at another with -DCatch2_DIR=<dir holding Catch2Config.cmake>, "
                "or build v3 from its sources with -DWEAKREF_CATCH2=fetch.")
    else()
        list(APPEND _weakref_catch2_tried "find_package(Catch2): no Catch2Config.cmake found")
        set(_weakref_catch2_tried "${_weakref_catch2_tried}" PARENT_SCOPE)
        return()
    endif()
    message(STATUS "weakref: Catch2 ${Catch2_VERSION} from ${Catch2_DIR}")
    set(${found} TRUE PARENT_SCOPE)
endfunction()

# Installs Debian's catch2 with apt-get; returns true in `installed` if apt-get succeeded.
function(_weakref_catch2_apt installed)
    set(${installed} FALSE PARENT_SCOPE)
    find_program(WEAKREF_APT_GET apt-get)
    mark_as_advanced(WEAKREF_APT_GET)
    set(why "")
    if(NOT WEAKREF_APT_GET)
        set(why "no apt-get on this machine")
    elseif(CMAKE_DISABLE_FIND_PACKAGE_Catch2)
        set(why "skipped: CMAKE_DISABLE_FIND_PACKAGE_Catch2 would hide what it installs")
    else()
        execute_process(COMMAND id -u OUTPUT_VARIABLE uid OUTPUT_STRIP_TRAILING_WHITESPACE
                        RESULT_VARIABLE rc ERROR_QUIET)
        set(as "")
        if(NOT rc EQUAL 0 OR NOT uid STREQUAL "0")
            find_program(WEAKREF_SUDO sudo)
            mark_as_advanced(WEAKREF_SUDO)
            if(WEAKREF_SUDO)
                execute_process(COMMAND "${WEAKREF_SUDO}" -n true RESULT_VARIABLE rc
                                OUTPUT_QUIET ERROR_QUIET TIMEOUT 10)
            endif()
            if(NOT WEAKREF_SUDO OR NOT rc EQUAL 0)
                set(why "not root, and sudo needs a password")
            else()
                set(as "${WEAKREF_SUDO}" -n)
            endif()
        endif()
    endif()
    if(why)
        list(APPEND _weakref_catch2_tried "Debian's catch2 package: ${why}")
        set(_weakref_catch2_tried "${_weakref_catch2_tried}" PARENT_SCOPE)
        return()
    endif()

    set(env "${CMAKE_COMMAND}" -E env DEBIAN_FRONTEND=noninteractive)
    # DPkg::Lock::Timeout: wait for another apt run to finish rather than fail at once.
    set(install ${as} "${WEAKREF_APT_GET}" -o DPkg::Lock::Timeout=120 install -y -q
                --no-install-recommends catch2)
    # Without package lists (a fresh image) apt-get knows no catch2: update them first.
    execute_process(COMMAND apt-cache policy catch2 OUTPUT_VARIABLE policy ERROR_QUIET)
    if(NOT policy MATCHES "Candidate: [0-9]")
        message(STATUS "weakref: updating apt's package lists to install "
                       "Debian's catch2 (-DWEAKREF_CATCH2=system or fetch prevents this)")
        execute_process(COMMAND ${env} ${as} "${WEAKREF_APT_GET}" -o DPkg::Lock::Timeout=120
                                update -q
                        TIMEOUT 300)
    endif()
    string(REPLACE ";" " " shown "${install}")
    if(WEAKREF_CATCH2 STREQUAL "apt")
        set(reason "WEAKREF_CATCH2=apt")
    else()
        set(reason "Catch2 not found")
    endif()
    message(STATUS "weakref: ${reason}; installing Debian's catch2 package: ${shown} "
                   "(-DWEAKREF_CATCH2=system or fetch prevents this)")
    execute_process(COMMAND ${env} ${install} RESULT_VARIABLE rc TIMEOUT 600)
    if(NOT rc EQUAL 0)
        list(APPEND _weakref_catch2_tried "Debian's catch2 package: `${shown}` failed (${rc})")
        set(_weakref_catch2_tried "${_weakref_catch2_tried}" PARENT_SCOPE)
        return()
    endif()
    set(${installed} TRUE PARENT_SCOPE)
endfunction()

# FetchContent of Catch2 v3; returns true in `fetched` if it is available.
function(_weakref_catch2_fetch fetched)
    set(${fetched} FALSE PARENT_SCOPE)
    include(FetchContent)
    set(from "${WEAKREF_CATCH2_GIT_REPOSITORY}")
    if(FETCHCONTENT_SOURCE_DIR_CATCH2)
        set(from "${FETCHCONTENT_SOURCE_DIR_CATCH2}")
        if(NOT EXISTS "${FETCHCONTENT_SOURCE_DIR_CATCH2}/CMakeLists.txt")
            message(FATAL_ERROR "weakref: FETCHCONTENT_SOURCE_DIR_CATCH2="
                                "'${FETCHCONTENT_SOURCE_DIR_CATCH2}' holds no CMakeLists.txt; "
                                "point it at a Catch2 source tree")
        endif()
    elseif(NOT EXISTS "${FETCHCONTENT_BASE_DIR}/catch2-src/CMakeLists.txt")
        # Not fetched before: ask the server for the tag first, briefly, rather than let a clone
        # hang or fail deep inside FetchContent.
        find_package(Git QUIET)
        set(why "")
        if(NOT GIT_EXECUTABLE)
            set(why "no git on this machine")
        else()
            execute_process(
                COMMAND "${CMAKE_COMMAND}" -E env GIT_TERMINAL_PROMPT=0 "${GIT_EXECUTABLE}"
                        ls-remote --tags "${WEAKREF_CATCH2_GIT_REPOSITORY}"
                        "${WEAKREF_CATCH2_FETCH_TAG}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT ${WEAKREF_CATCH2_PROBE_TIMEOUT})
            string(STRIP "${err}" err)
            string(REGEX REPLACE "\n.*" "" err "${err}")
            if(NOT rc EQUAL 0)
                string(REPLACE ";" "," err "${err}")
                string(CONCAT why "${WEAKREF_CATCH2_GIT_REPOSITORY} unreachable (git ls-remote, "
                       "allowed ${WEAKREF_CATCH2_PROBE_TIMEOUT} s: ${rc}, ${err})")
            elseif(NOT out MATCHES "refs/tags/${WEAKREF_CATCH2_FETCH_TAG}")
                set(why "${WEAKREF_CATCH2_GIT_REPOSITORY} has no tag ${WEAKREF_CATCH2_FETCH_TAG}")
            endif()
        endif()
        if(why)
            list(APPEND _weakref_catch2_tried "FetchContent of Catch2: ${why}")
            set(_weakref_catch2_tried "${_weakref_catch2_tried}" PARENT_SCOPE)
            return()
        endif()
    endif()

    message(STATUS "weakref: building Catch2 ${WEAKREF_CATCH2_FETCH_TAG} from ${from}")
    set(system "")
    if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.25)
        set(system SYSTEM) # its headers must not trip our -Werror
    endif()
    if(WEAKREF_TEST_NO_EXCEPTIONS_RTTI)
        # Catch2's own switch: its library then never throws, as the tests cannot catch.
        set(CATCH_CONFIG_DISABLE_EXCEPTIONS ON CACHE BOOL "" FORCE)
    endif()
    FetchContent_Declare(Catch2 GIT_REPOSITORY "${WEAKREF_CATCH2_GIT_REPOSITORY}"
                                GIT_TAG "${WEAKREF_CATCH2_FETCH_TAG}" GIT_SHALLOW TRUE ${system})
    FetchContent_MakeAvailable(Catch2)
    set(WEAKREF_CATCH2_V3 1 PARENT_SCOPE)
    set(${fetched} TRUE PARENT_SCOPE)
endfunction()

set(_weakref_catch2_ok FALSE)
if(WEAKREF_CATCH2 MATCHES "^(auto|system)$")
    _weakref_catch2_find(_weakref_catch2_ok)
endif()
if(NOT _weakref_catch2_ok AND WEAKREF_CATCH2 MATCHES "^(auto|apt)$")
    _weakref_catch2_apt(_weakref_catch2_installed)
    if(_weakref_catch2_installed)
        _weakref_catch2_find(_weakref_catch2_ok)
    endif()
endif()
if(NOT _weakref_catch2_ok AND WEAKREF_CATCH2 MATCHES "^(auto|fetch)$")
    _weakref_catch2_fetch(_weakref_catch2_ok)
endif()

if(NOT _weakref_catch2_ok)
    list(TRANSFORM _weakref_catch2_tried PREPEND "\n  - ")
    string(JOIN "" _weakref_catch2_tried ${_weakref_catch2_tried})
    find_program(WEAKREF_APT_GET apt-get)
    set(_weakref_catch2_fix "")
    if(CMAKE_DISABLE_FIND_PACKAGE_Catch2)
        string(APPEND _weakref_catch2_fix "\n  -DCMAKE_DISABLE_FIND_PACKAGE_Catch2=OFF"
               "      (let find_package look for an installed Catch2)")
    endif()
    if(WEAKREF_APT_GET)
        string(APPEND _weakref_catch2_fix "\n  sudo apt-get install catch2"
               "                 (Debian's package; then run the same command again)")
    endif()
    string(APPEND _weakref_catch2_fix
           "\n  -DCatch2_DIR=<dir>                          (an installed Catch2 elsewhere: the "
           "directory holding Catch2Config.cmake)"
           "\n  -DFETCHCONTENT_SOURCE_DIR_CATCH2=<dir>      (a Catch2 source tree on disk, built "
           "with the tests)"
           "\n  -DWEAKREF_BUILD_TESTS=OFF                   (configure without the tests)")
    message(FATAL_ERROR "weakref: the tests need Catch2 (v3, or v2.13 or later), and "
                        "WEAKREF_CATCH2=${WEAKREF_CATCH2} found no way to it:"
                        "${_weakref_catch2_tried}\nFix it with one of:${_weakref_catch2_fix}\n")
endif()
