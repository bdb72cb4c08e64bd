include(CMakePackageConfigHelpers)

install(TARGETS plexus EXPORT plexusTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/plexus DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT plexusTargets NAMESPACE plexus::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/plexus)

# plexus.pc: relocatable (prefix found from the file's own place), and
# complete for a plain `pkg-config --cflags --libs plexus`: a static library
# lists its engines' client libraries in Libs, a shared one in Libs.private.
get_property(PLEXUS_PC_MODULES GLOBAL PROPERTY PLEXUS_ENGINE_PC_MODULES)
get_property(PLEXUS_CONFIG_MODULES GLOBAL PROPERTY PLEXUS_ENGINE_CONFIG_MODULES)
get_property(engine_libs GLOBAL PROPERTY PLEXUS_ENGINE_PC_LIBS)
string(REPLACE ";" " " engine_libs "${engine_libs}")
if(BUILD_SHARED_LIBS)
  set(PLEXUS_SHARED ON)
else()
  set(PLEXUS_SHARED OFF)
endif()
list(JOIN PLEXUS_PC_MODULES " " PLEXUS_PC_MODULES)
list(JOIN PLEXUS_CONFIG_MODULES " " PLEXUS_CONFIG_MODULES)
if(BUILD_SHARED_LIBS)
  set(PLEXUS_PC_LIBS "-pthread")
  set(PLEXUS_PC_LIBS_PRIVATE "${engine_libs}")
else()
  set(PLEXUS_PC_LIBS "${engine_libs} -pthread")
  set(PLEXUS_PC_LIBS_PRIVATE "")
endif()
file(RELATIVE_PATH PLEXUS_PC_RELPREFIX "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
string(REGEX REPLACE "/$" "" PLEXUS_PC_RELPREFIX "${PLEXUS_PC_RELPREFIX}")
configure_file(cmake/plexus.pc.in ${CMAKE_CURRENT_BINARY_DIR}/plexus.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/plexus.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

configure_package_config_file(cmake/plexusConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/plexusConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/plexus)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/plexusConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/plexusConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/plexusConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/plexus)

