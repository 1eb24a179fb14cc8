# `cmake --install`: the ringtrain executable, libringtrain, its headers and a CMake package, so
# that another project does find_package(ringtrain) and links ringtrain::ringtrain (examples/).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(RINGTRAIN_PACKAGE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/ringtrain)
# Installed binaries find libringtrain next to them and LibTorch and MPI where the build found them.
set_target_properties(ringtrain ringtrain_core PROPERTIES
  INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}" INSTALL_RPATH_USE_LINK_PATH ON)

install(TARGETS ringtrain_core EXPORT ringtrainTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS ringtrain RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The public headers only: include/ringtrain holds nothing else (tests/integration/
# test_installed_package.py checks the list).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ringtrain DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT ringtrainTargets NAMESPACE ringtrain:: DESTINATION ${RINGTRAIN_PACKAGE_DIR})

# The package looks for the same LibTorch this build used, unless the user points elsewhere.
set(RINGTRAIN_TORCH_DIR ${Torch_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ringtrainConfig.cmake.in
  ${PROJECT_BINARY_DIR}/ringtrainConfig.cmake INSTALL_DESTINATION ${RINGTRAIN_PACKAGE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ringtrainConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ringtrainConfig.cmake
  ${PROJECT_BINARY_DIR}/ringtrainConfigVersion.cmake DESTINATION ${RINGTRAIN_PACKAGE_DIR})
