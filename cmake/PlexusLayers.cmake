# The layers of the library, enforced by the compiler (docs/architecture.md).
#
# Every source file of the library is compiled with one include root: its
# layer's view, a directory under the build tree holding links to the public
# headers (include/plexus/<layer>/) and private headers (src/<layer>/) of that
# layer and of the layers below it, and nothing else. An #include that reaches
# up (db/ naming plexus/shard/…, an engine folder naming db/…) finds no file
# and does not compile. Consumers still see the whole of include/.
#
# Each list below is the layer itself and everything under it (the closure:
# a header's own includes must resolve in the same view).
set(PLEXUS_LAYER_core     core)
set(PLEXUS_LAYER_config   core config)
set(PLEXUS_LAYER_driver   core config driver)
set(PLEXUS_LAYER_drivers  core config driver drivers)
set(PLEXUS_LAYER_db       core config driver db)
set(PLEXUS_LAYER_query    core config driver db query)
set(PLEXUS_LAYER_tx       core config driver db query tx)
set(PLEXUS_LAYER_migrate  core config driver db query tx migrate)
set(PLEXUS_LAYER_shard    core config driver db query tx shard)
set(PLEXUS_LAYER_orm      core config driver db query tx shard orm)
set(PLEXUS_LAYER_database core config driver db query tx migrate shard orm database)
set(PLEXUS_LAYER_async    core config driver db query tx migrate shard orm database async)
set(PLEXUS_LAYERS core config driver drivers db query tx migrate shard orm database async)

set(PLEXUS_LAYER_VIEWS ${CMAKE_BINARY_DIR}/layers)

# Makes build/layers/<layer>/ for every layer (links, no copies: an edited
# header is seen at once).
function(plexus_make_layer_views)
  set(inc ${PROJECT_SOURCE_DIR}/include/plexus)
  set(src ${PROJECT_SOURCE_DIR}/src)
  foreach(layer IN LISTS PLEXUS_LAYERS)
    set(view ${PLEXUS_LAYER_VIEWS}/${layer})
    file(REMOVE_RECURSE ${view})
    file(MAKE_DIRECTORY ${view}/plexus)
    foreach(seen IN LISTS PLEXUS_LAYER_${layer})
      if(seen STREQUAL "database")  # the facade: two headers at the top, its source folder
        file(CREATE_LINK ${inc}/database.hpp ${view}/plexus/database.hpp SYMBOLIC)
        file(CREATE_LINK ${inc}/plexus.hpp ${view}/plexus/plexus.hpp SYMBOLIC)
      elseif(seen STREQUAL "async")  # the asynchronous API: one header at the top (Boost.Asio)
        file(CREATE_LINK ${inc}/async.hpp ${view}/plexus/async.hpp SYMBOLIC)
      elseif(IS_DIRECTORY ${inc}/${seen})
        file(CREATE_LINK ${inc}/${seen} ${view}/plexus/${seen} SYMBOLIC)
      endif()
      if(IS_DIRECTORY ${src}/${seen})
        file(CREATE_LINK ${src}/${seen} ${view}/${seen} SYMBOLIC)
      endif()
    endforeach()
  endforeach()
endfunction()

# The layer of a library source: its folder under src/ (a generated source
# says its layer itself).
function(plexus_layer_of file out)
  file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR}/src ${file})
  string(REGEX MATCH "^[^/]+" top "${rel}")
  if(NOT top IN_LIST PLEXUS_LAYERS)
    message(FATAL_ERROR "${file} is in no layer of cmake/PlexusLayers.cmake")
  endif()
  set(${out} ${top} PARENT_SCOPE)
endfunction()

# Gives every source of `target` its layer's view as its only include root
# (the target itself must not add include/ or src/ for its own sources).
function(plexus_compile_by_layer target)
  get_target_property(sources ${target} SOURCES)
  get_target_property(dir ${target} SOURCE_DIR)
  foreach(s IN LISTS sources)
    cmake_path(ABSOLUTE_PATH s BASE_DIRECTORY ${dir} OUTPUT_VARIABLE abs)
    get_source_file_property(layer ${abs} PLEXUS_LAYER)
    if(NOT layer)
      plexus_layer_of(${abs} layer)
    endif()
    set_property(SOURCE ${abs} TARGET_DIRECTORY ${target} APPEND PROPERTY INCLUDE_DIRECTORIES
                 ${PLEXUS_LAYER_VIEWS}/${layer})
  endforeach()
endfunction()

# Compiles every header of the library alone, in its own layer's view: a
# header that no source of its layer includes is checked too (and each one
# is shown to include what it uses).
function(plexus_check_headers target)
  set(out ${CMAKE_BINARY_DIR}/layers-check)
  set(units "")
  file(GLOB_RECURSE public RELATIVE ${PROJECT_SOURCE_DIR}/include/plexus ${PROJECT_SOURCE_DIR}/include/plexus/*.hpp)
  file(GLOB_RECURSE private RELATIVE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/src/*.hpp)
  foreach(h IN LISTS public private)
    if(h IN_LIST public)
      set(include "plexus/${h}")
      string(REGEX MATCH "^[^/]+" layer "${h}")
      if(h STREQUAL "async.hpp")
        if(NOT PLEXUS_ASYNC)
          continue()
        endif()
        set(layer async)
      elseif(layer MATCHES "\\.hpp$")
        set(layer database)
      endif()
    else()
      set(include "${h}")
      string(REGEX MATCH "^[^/]+" layer "${h}")
      if(layer STREQUAL "drivers")
        continue()  # engine headers name their client library; each engine's sources include them
      endif()
      if(h MATCHES "_impl\\.hpp$")
        continue()  # the inline part of the header of the same name, included at its end
      endif()
    endif()
    string(MAKE_C_IDENTIFIER "${include}" name)
    set(unit ${out}/${name}.cpp)
    file(CONFIGURE OUTPUT ${unit} CONTENT "#include \"${include}\"  // alone, in the view of layer '${layer}'\n")
    set_source_files_properties(${unit} PROPERTIES PLEXUS_LAYER ${layer})
    list(APPEND units ${unit})
  endforeach()
  add_library(${target} OBJECT ${units})
  target_link_libraries(${target} PRIVATE Threads::Threads)
  target_compile_features(${target} PRIVATE cxx_std_20)
  plexus_compile_by_layer(${target})
endfunction()
