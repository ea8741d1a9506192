# The C API (include/ipadapter.h, src/api/c_api.cpp) as libipadapter.so with the static layers
# inside; only the ipadapter_* functions are exported (ipadapter.map). Also its pkg-config file,
# the `cmake --install` rules and the C example (docs/c-api.md).
include(GNUInstallDirs)

add_library(ipadapter_shared SHARED ${CMAKE_SOURCE_DIR}/src/api/c_api.cpp)
target_include_directories(ipadapter_shared PUBLIC ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(ipadapter_shared PRIVATE ipadapter nlohmann_json::nlohmann_json ipa_warnings)
target_compile_definitions(ipadapter_shared PRIVATE IPA_VERSION="${PROJECT_VERSION}")
# Pre-1.0, a minor version may change the ABI: the SONAME carries MAJOR.MINOR.
set_target_properties(ipadapter_shared PROPERTIES
  OUTPUT_NAME ipadapter
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
  LINK_DEPENDS ${CMAKE_SOURCE_DIR}/cmake/ipadapter.map)
target_link_options(ipadapter_shared PRIVATE
  -Wl,--version-script=${CMAKE_SOURCE_DIR}/cmake/ipadapter.map)
if(NOT IPA_SANITIZE)  # clang links the sanitizer runtimes into executables only
  target_link_options(ipadapter_shared PRIVATE -Wl,--no-undefined)
endif()

# Relocatable: the prefix is found from the .pc file's own folder, so `cmake --install --prefix`
# works without reconfiguring.
file(RELATIVE_PATH IPA_PC_PREFIX "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig" "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/$" "" IPA_PC_PREFIX "${IPA_PC_PREFIX}")
configure_file(${CMAKE_SOURCE_DIR}/cmake/ipadapter.pc.in ${CMAKE_BINARY_DIR}/ipadapter.pc @ONLY)

install(TARGETS ipadapter_shared LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${CMAKE_SOURCE_DIR}/include/ipadapter.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_BINARY_DIR}/ipadapter.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(TARGETS ipadapter_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

add_subdirectory(${CMAKE_SOURCE_DIR}/examples/c ${CMAKE_BINARY_DIR}/examples/c)
