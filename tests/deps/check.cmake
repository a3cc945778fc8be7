# libzip and libcrypto are opened when a .keras, .npz or export first needs
# them (src/core/ck_lazy_lib.h), so neither may be a DT_NEEDED entry of the
# tool or the shared library. The tool linked with the static archives
# (HOLDS_LIBRARY) must not load them at all, through any library it needs;
# a program linked with libckeras.so still does, through Debian's shared
# libhdf5, which needs libcrypto.
#   cmake -DOBJDUMP=objdump -DTOOL=ckeras -DLIBRARY=libckeras.so
#         -DHOLDS_LIBRARY=ON -P check.cmake
function(check_needed file)
  execute_process(COMMAND ${OBJDUMP} -p ${file} OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
  string(REGEX MATCHALL "NEEDED +[^ \n]+" needed "${dynamic}")
  if(NOT rc EQUAL 0 OR NOT needed)
    message(FATAL_ERROR "${file}: no NEEDED entries read; the check would pass on anything")
  endif()
  if(needed MATCHES "libzip|libcrypto")
    message(FATAL_ERROR "${file} needs libzip or libcrypto at start: ${needed}")
  endif()
  message(STATUS "${file}: ${needed}")
endfunction()

check_needed(${TOOL})
check_needed(${LIBRARY})
if(HOLDS_LIBRARY)
  execute_process(COMMAND ldd ${TOOL} OUTPUT_VARIABLE loaded RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT loaded MATCHES "libc\\.so")
    message(FATAL_ERROR "ldd ${TOOL} failed: ${loaded}")
  endif()
  if(loaded MATCHES "libzip|libcrypto")
    message(FATAL_ERROR "${TOOL} loads libzip or libcrypto at start:\n${loaded}")
  endif()
endif()
