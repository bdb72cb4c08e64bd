# Build options. Engine options take AUTO (use it when its client library is
# installed), ON (required) or OFF, as SOCI does.
set(PLEXUS_WITH_SQLITE AUTO CACHE STRING "SQLite driver: AUTO, ON or OFF")
set(PLEXUS_WITH_POSTGRES AUTO CACHE STRING "PostgreSQL driver: AUTO, ON or OFF")
set(PLEXUS_WITH_MYSQL AUTO CACHE STRING "MySQL/MariaDB driver: AUTO, ON or OFF")
option(PLEXUS_BUILD_CLI "Build the plexus command (off by default as a subproject)" ${PROJECT_IS_TOP_LEVEL})
option(PLEXUS_BUILD_TESTS "Build the tests" ${PROJECT_IS_TOP_LEVEL})
option(PLEXUS_BUILD_EXAMPLES "Build the examples" ${PROJECT_IS_TOP_LEVEL})
option(PLEXUS_BUILD_BENCH "Build the benchmarks" OFF)
option(PLEXUS_BUILD_FUZZ "Build the libFuzzer targets (needs clang)" OFF)
set(PLEXUS_SANITIZE "" CACHE STRING "Sanitizers to build with: '', 'address,undefined' or 'thread'")

add_library(plexus_warnings INTERFACE)
target_compile_options(plexus_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
if(PLEXUS_SANITIZE)
  # Any report fails the run: no recovering past undefined behaviour.
  add_compile_options(-fsanitize=${PLEXUS_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${PLEXUS_SANITIZE} -fno-sanitize-recover=all)
endif()

if(PLEXUS_BUILD_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "PLEXUS_BUILD_FUZZ needs clang (-DCMAKE_CXX_COMPILER=clang++)")
  endif()
  # Coverage for the fuzzer in every Plexus object, plus ASan/UBSan.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

find_package(PkgConfig REQUIRED)

function(plexus_engine option var)
  # plexus_engine(<option> <found-var>): fails when ON and not found.
  if(${option} STREQUAL "OFF")
    set(${var} FALSE PARENT_SCOPE)
  elseif(${ARGV2})
    set(${var} TRUE PARENT_SCOPE)
  elseif(${option} STREQUAL "ON")
    message(FATAL_ERROR "${option}=ON but its client library was not found")
  else()
    set(${var} FALSE PARENT_SCOPE)
  endif()
endfunction()

# Every engine's client library through pkg-config: one imported target each,
# and the flags the installed plexus.pc passes on.
pkg_check_modules(SQLITE3 QUIET IMPORTED_TARGET sqlite3)
plexus_engine(${PLEXUS_WITH_SQLITE} PLEXUS_HAS_SQLITE ${SQLITE3_FOUND})
pkg_check_modules(LIBPQ QUIET IMPORTED_TARGET libpq)
plexus_engine(${PLEXUS_WITH_POSTGRES} PLEXUS_HAS_POSTGRES ${LIBPQ_FOUND})
pkg_check_modules(MARIADB QUIET IMPORTED_TARGET libmariadb)
plexus_engine(${PLEXUS_WITH_MYSQL} PLEXUS_HAS_MYSQL ${MARIADB_FOUND})

message(STATUS "plexus engines: sqlite=${PLEXUS_HAS_SQLITE} postgres=${PLEXUS_HAS_POSTGRES} mysql=${PLEXUS_HAS_MYSQL}")
