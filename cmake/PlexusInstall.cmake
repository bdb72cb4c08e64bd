include(CMakePackageConfigHelpers)

install(TARGETS plexus EXPORT plexusTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/plexus DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT plexusTargets NAMESPACE plexus::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/plexus)

configure_package_config_file(cmake/plexusConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/plexusConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/plexus)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/plexusConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/plexusConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/plexusConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/plexus)

set(PLEXUS_PC_REQUIRES "")
if(PLEXUS_HAS_SQLITE)
  string(APPEND PLEXUS_PC_REQUIRES " sqlite3")
endif()
if(PLEXUS_HAS_POSTGRES)
  string(APPEND PLEXUS_PC_REQUIRES " libpq")
endif()
if(PLEXUS_HAS_MYSQL)
  string(APPEND PLEXUS_PC_REQUIRES " libmariadb")
endif()
configure_file(cmake/plexus.pc.in ${CMAKE_CURRENT_BINARY_DIR}/plexus.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/plexus.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
