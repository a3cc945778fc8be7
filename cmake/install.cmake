# What `cmake --install` adds to the binaries and headers: the ckeras(1) man
# page written from the tool's --help texts, ckeras.pc for pkg-config and
# the CMake package (find_package(ckeras) -> ckeras::ckeras).
include(CMakePackageConfigHelpers)

add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/ckeras.1
  COMMAND ${CMAKE_COMMAND} -DCKERAS=$<TARGET_FILE:ckeras> -DVERSION=${PROJECT_VERSION}
          -DOUT=${CMAKE_BINARY_DIR}/ckeras.1 -P ${CMAKE_SOURCE_DIR}/cmake/ckeras-man.cmake
  DEPENDS ckeras ${CMAKE_SOURCE_DIR}/cmake/ckeras-man.cmake
  COMMENT "Writing the ckeras(1) man page from ckeras --help")
add_custom_target(ckeras_man ALL DEPENDS ${CMAKE_BINARY_DIR}/ckeras.1)
install(FILES ${CMAKE_BINARY_DIR}/ckeras.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

file(RELATIVE_PATH CK_PC_PREFIX_FROM_PCDIR /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
# -ldl: the library loads its MPI transport (src/train/dist_load.c).
set(CK_PC_LIBS_PRIVATE "-ldl ")
if(CK_BACKEND STREQUAL "xsmm")
  set(CK_PC_LIBS_PRIVATE "${XSMM_LIBRARY} -lpthread -lrt -ldl ")
endif()
configure_file(${CMAKE_SOURCE_DIR}/cmake/ckeras.pc.in ${CMAKE_BINARY_DIR}/ckeras.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/ckeras.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

set(CK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/ckeras)
install(EXPORT ckerasTargets NAMESPACE ckeras:: DESTINATION ${CK_CMAKE_DIR})
configure_file(${CMAKE_SOURCE_DIR}/cmake/ckerasConfig.cmake.in ${CMAKE_BINARY_DIR}/ckerasConfig.cmake @ONLY)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/ckerasConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/ckerasConfig.cmake ${CMAKE_BINARY_DIR}/ckerasConfigVersion.cmake
  DESTINATION ${CK_CMAKE_DIR})
