# `cmake --install`: the headers, the library as attnd::attnd, the attnd binary and a package
# config, so another project does find_package(attnd) and target_link_libraries(app attnd::attnd).
# examples/consumer is such a project; tests/install_consumer.sh installs, builds and runs it.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set_target_properties(attnd_core PROPERTIES EXPORT_NAME attnd)
add_library(attnd::attnd ALIAS attnd_core)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/attnd DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS attnd_core EXPORT attndTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS attnd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(ATTND_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/attnd)
install(EXPORT attndTargets NAMESPACE attnd:: DESTINATION ${ATTND_CMAKE_DIR})
# How the consumer finds toml++: the way this build found it (pkg-config or its CMake package).
if(ATTND_TOMLPP STREQUAL "PkgConfig::TOMLPP")
  set(ATTND_TOMLPP_BY_PKG_CONFIG ON)
else()
  set(ATTND_TOMLPP_BY_PKG_CONFIG OFF)
endif()
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/attndConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/attndConfig.cmake
                              INSTALL_DESTINATION ${ATTND_CMAKE_DIR})
# 0.x: a minor version may change the API, so a consumer asking for 0.1 takes 0.1.* only.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/attndConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/attndConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/attndConfigVersion.cmake
        DESTINATION ${ATTND_CMAKE_DIR})
