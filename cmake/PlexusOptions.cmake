# Build options. Each engine adds its own PLEXUS_WITH_<ENGINE> (cmake/PlexusEngines.cmake).
option(PLEXUS_BUILD_CLI "Build the plexus command (off by default as a subproject)" ${PROJECT_IS_TOP_LEVEL})
option(PLEXUS_BUILD_TESTS "Build the tests" ${PROJECT_IS_TOP_LEVEL})
option(PLEXUS_BUILD_EXAMPLES "Build the examples" ${PROJECT_IS_TOP_LEVEL})
option(PLEXUS_BUILD_BENCH "Build the benchmarks" OFF)
option(PLEXUS_BUILD_FUZZ "Build the libFuzzer targets (needs clang)" OFF)
option(PLEXUS_ASYNC "Build the asynchronous API (<plexus/async.hpp>, needs Boost.Asio 1.81 headers)" ON)
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
