# How users consume Plexus, each built and run:
#  1. the static library installed, found with find_package(plexus);
#  2. the same, moved elsewhere, compiled from `pkg-config --cflags --libs plexus` alone;
#  3. Plexus as an add_subdirectory subproject built as a shared library
#     (nothing but the library by default), then installed and consumed with
#     find_package and pkg-config again.
file(REMOVE_RECURSE ${WORKDIR})
set(consumer_src ${SOURCE_DIR}/tests/package/consumer/main.cpp)

function(must what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

function(run_consumer what exe libdir)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${libdir} ${exe} RESULT_VARIABLE rc OUTPUT_VARIABLE out)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "consumer: 42 from memory")
    message(FATAL_ERROR "${what}: the consumer failed (${rc}): ${out}")
  endif()
endfunction()

function(find_package_consumer what prefix build)
  must("${what}: configuring a find_package consumer" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/consumer
       -B ${build} -G Ninja -DCMAKE_PREFIX_PATH=${prefix})
  must("${what}: building it" ${CMAKE_COMMAND} --build ${build} -j 2)
  file(GLOB libdir ${prefix}/lib*)
  run_consumer("${what} (find_package)" ${build}/consumer "${libdir}")
endfunction()

function(pkg_config_consumer what prefix)
  file(GLOB_RECURSE pc ${prefix}/*/plexus.pc)
  if(NOT pc)
    message(FATAL_ERROR "${what}: plexus.pc was not installed")
  endif()
  get_filename_component(pcdir ${pc} DIRECTORY)
  set(env ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${pcdir})
  must("${what}: pkg-config --cflags --libs plexus" ${env} pkg-config --cflags --libs plexus)
  string(STRIP "${out}" flags)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  must("${what}: pkg-config --static --libs plexus" ${env} pkg-config --static --libs plexus)
  must("${what}: compiling with pkg-config's flags alone" c++ ${consumer_src} ${flags} -o ${WORKDIR}/${what}-pc)
  file(GLOB libdir ${prefix}/lib*)
  run_consumer("${what} (pkg-config)" ${WORKDIR}/${what}-pc "${libdir}")
endfunction()

# 1 and 2: the static library of this build.
must("installing" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORKDIR}/static)
find_package_consumer(static ${WORKDIR}/static ${WORKDIR}/static-consumer)
file(RENAME ${WORKDIR}/static ${WORKDIR}/moved)  # the .pc finds its prefix from where it lies
pkg_config_consumer(static ${WORKDIR}/moved)

# 3: a subproject, shared.
must("configuring the subproject" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/subproject -B ${WORKDIR}/sub -G Ninja
     -DPLEXUS_SOURCE=${SOURCE_DIR} -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0)  # checks packaging: built fast
must("building the subproject" ${CMAKE_COMMAND} --build ${WORKDIR}/sub -j 2)
file(GLOB sublib ${WORKDIR}/sub/plexus/src/libplexus.so*)
if(NOT sublib)
  message(FATAL_ERROR "the subproject built no libplexus.so")
endif()
run_consumer("subproject" ${WORKDIR}/sub/consumer ${WORKDIR}/sub/plexus/src)
must("installing the shared library" ${CMAKE_COMMAND} --install ${WORKDIR}/sub --prefix ${WORKDIR}/shared)
find_package_consumer(shared ${WORKDIR}/shared ${WORKDIR}/shared-consumer)
pkg_config_consumer(shared ${WORKDIR}/shared)
message(STATUS "package ok: find_package and pkg-config, static and shared, and as a subproject")
