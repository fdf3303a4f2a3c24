# Install rules and the CMake package, so that another project can
#   find_package(funnel REQUIRED)
#   target_link_libraries(app PRIVATE funnel::funnel)
# Only include/funnel/ is installed: callers must not rely on other headers.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(FUNNEL_INSTALL_TARGETS funnel_core)
if(FUNNEL_TORCH)
  list(APPEND FUNNEL_INSTALL_TARGETS funnel funnel_serve)
endif()
install(TARGETS ${FUNNEL_INSTALL_TARGETS} EXPORT funnelTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/funnel DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(FUNNEL_TORCH)
  # The tokenizer's sentencepiece shim is looked up next to libfunnel.so.
  install(TARGETS funnel_spm LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(TARGETS funnel_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

install(EXPORT funnelTargets NAMESPACE funnel:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/funnel)
export(EXPORT funnelTargets NAMESPACE funnel:: FILE ${PROJECT_BINARY_DIR}/funnelTargets.cmake)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/funnelConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/funnelConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/funnel)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/funnelConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/funnelConfig.cmake ${PROJECT_BINARY_DIR}/funnelConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/funnel)
