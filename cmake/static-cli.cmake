# -DCK_STATIC_CLI=ON: the ckeras tool with the library and the heavy
# dependencies linked in from Debian's static archives: HDF5 (only the
# objects the tool reaches, so none of the S3/curl driver), OpenBLAS with
# its Fortran runtime, libsz/libaec, zlib and libxsmm. Debian ships no
# static cJSON or libzip, so those stay shared, and libcrypto with them
# (libzip.so needs it anyway). Sizes and ldd: docs/getting-started.md.
function(ck_static_archive var file hint debian_package)
  find_library(${var} NAMES ${file} HINTS ${hint} NO_CACHE)
  if(NOT ${var})
    message(FATAL_ERROR "CK_STATIC_CLI: ${file} not found: install the Debian package "
                        "'${debian_package}'")
  endif()
  set(${var} ${${var}} PARENT_SCOPE)
endfunction()

ck_static_archive(CK_HDF5_A libhdf5.a "${HDF5_LIBRARY_DIRS}" libhdf5-dev)
ck_static_archive(CK_OPENBLAS_A libopenblas.a "${OPENBLAS_LIBRARY_DIRS}" libopenblas-dev)
ck_static_archive(CK_SZ_A libsz.a "" libaec-dev)
ck_static_archive(CK_AEC_A libaec.a "" libaec-dev)
ck_static_archive(CK_Z_A libz.a "" zlib1g-dev)
set(CK_XSMM_A "")
if(CK_BACKEND STREQUAL "xsmm")
  set(CK_XSMM_A ${XSMM_LIBRARY})
endif()

target_sources(ckeras PRIVATE $<TARGET_OBJECTS:ckeras_obj>)
target_include_directories(ckeras PRIVATE ${CMAKE_SOURCE_DIR}/include)
find_package(Threads REQUIRED)
# libxsmm before OpenBLAS, whose kernels it calls; gfortran and quadmath
# are OpenBLAS's Fortran runtime, static from gcc's own directory.
target_link_libraries(ckeras PRIVATE ${CK_HDF5_A} ${CK_XSMM_A} ${CK_OPENBLAS_A}
  "-Wl,-Bstatic" gfortran quadmath "-Wl,-Bdynamic" ${CK_SZ_A} ${CK_AEC_A} ${CK_Z_A}
  PkgConfig::CJSON PkgConfig::LIBZIP PkgConfig::LIBCRYPTO Threads::Threads rt dl m)
# Stripped: the binary is for small devices; the shared build keeps -g.
target_link_options(ckeras PRIVATE "LINKER:--gc-sections" "LINKER:--as-needed" "LINKER:--strip-all")
