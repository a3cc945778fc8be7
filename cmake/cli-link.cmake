# How the ckeras tool is linked (docs/getting-started.md, "How the tool is
# linked").
#
# A short command's time went mostly to the dynamic loader: Debian's
# libhdf5.so brings libcurl and its TLS, Kerberos and LDAP chain (about 30
# libraries, 12-14 ms at every start on the project machine) for an S3
# driver ckeras never opens. So the tool takes the library's objects and
# Debian's static archives of HDF5, OpenBLAS, libxsmm, libsz/libaec and zlib,
# and the linker keeps only the objects the tool reaches (--gc-sections),
# none of that driver. Debian ships no static cJSON: it stays shared. libzip
# and libcrypto are opened on first use (src/core/ck_lazy_lib.h). Without the
# archives the tool links libckeras.so as any program does.
#
# -DCK_STATIC_CLI=ON is the lean tool for small machines: the archives are
# required and it is stripped. Neither links Open MPI: the library loads
# its MPI transport when the tool runs under mpirun (src/train/dist_load.c).
include(CheckCSourceCompiles)
find_package(Threads REQUIRED)

set(CK_CLI_ARCHIVES "")
set(CK_CLI_MISSING "")
function(ck_cli_archive file hint debian_package)
  find_library(CK_CLI_ARCHIVE_${file} NAMES ${file} HINTS ${hint} NO_CACHE)
  if(CK_CLI_ARCHIVE_${file})
    set(CK_CLI_ARCHIVES ${CK_CLI_ARCHIVES} ${CK_CLI_ARCHIVE_${file}} PARENT_SCOPE)
  else()
    set(CK_CLI_MISSING "${CK_CLI_MISSING} ${file} (${debian_package})" PARENT_SCOPE)
  endif()
endfunction()
ck_cli_archive(libhdf5.a "${HDF5_LIBRARY_DIRS}" libhdf5-dev)
if(CK_BACKEND STREQUAL "xsmm")
  # Before OpenBLAS, whose kernels it calls.
  list(APPEND CK_CLI_ARCHIVES ${XSMM_LIBRARY})
endif()
ck_cli_archive(libopenblas.a "${OPENBLAS_LIBRARY_DIRS}" libopenblas-dev)
ck_cli_archive(libsz.a "" libaec-dev)
ck_cli_archive(libaec.a "" libaec-dev)
ck_cli_archive(libz.a "" zlib1g-dev)
set(CK_CLI_SYSTEM_LIBS Threads::Threads rt dl m)

if(NOT CK_CLI_MISSING)
  # A library that is found may still not link (a different build of it):
  # a program calling HDF5 and OpenBLAS says so before the tool depends on it.
  set(CMAKE_REQUIRED_LIBRARIES ${CK_CLI_ARCHIVES} ${CK_CLI_SYSTEM_LIBS})
  check_c_source_compiles("
    int H5open(void);
    void cblas_sgemm(int, int, int, int, int, int, float, const float *, int,
                     const float *, int, float, float *, int);
    int main(void) {
      float a = 1, b = 1, c = 0;
      cblas_sgemm(101, 111, 111, 1, 1, 1, 1.f, &a, 1, &b, 1, 0.f, &c, 1);
      return H5open() < 0 || c != 1.f;
    }" CK_CLI_ARCHIVES_LINK)
  unset(CMAKE_REQUIRED_LIBRARIES)
  if(NOT CK_CLI_ARCHIVES_LINK)
    set(CK_CLI_MISSING " a program linked with${CK_CLI_ARCHIVES} (see CMakeFiles/CMakeError.log)")
  endif()
endif()

if(CK_CLI_MISSING)
  if(CK_STATIC_CLI)
    message(FATAL_ERROR "CK_STATIC_CLI: missing:${CK_CLI_MISSING}")
  endif()
  message(STATUS "ckeras tool: links libckeras.so (missing:${CK_CLI_MISSING})")
  target_link_libraries(ckeras PRIVATE ckeras_shared Threads::Threads m)
  set(CK_CLI_HOLDS_LIBRARY OFF)
  return()
endif()

message(STATUS "ckeras tool: the library's objects with static HDF5 and OpenBLAS")
set(CK_CLI_HOLDS_LIBRARY ON)
target_sources(ckeras PRIVATE $<TARGET_OBJECTS:ckeras_obj>)
target_include_directories(ckeras PRIVATE ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(ckeras PRIVATE ${CK_CLI_ARCHIVES} PkgConfig::CJSON
  ${CK_CLI_SYSTEM_LIBS})
target_link_options(ckeras PRIVATE "LINKER:--gc-sections" "LINKER:--as-needed")
if(CK_STATIC_CLI)
  # Stripped: the lean tool is for small devices.
  target_link_options(ckeras PRIVATE "LINKER:--strip-all")
endif()
