# The tool and the shared library start without libzip and libcrypto, which
# the library opens when a .keras, .npz or export first needs them
# (src/core/ck_lazy_lib.h): neither may be a DT_NEEDED entry of FILES.
#   cmake -DOBJDUMP=objdump -DFILES="a;b" -P check.cmake
foreach(file ${FILES})
  execute_process(COMMAND ${OBJDUMP} -p ${file} OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cannot read the dynamic section of ${file}")
  endif()
  string(REGEX MATCHALL "NEEDED +[^ \n]+" needed "${dynamic}")
  if(NOT needed)
    message(FATAL_ERROR "${file}: no NEEDED entries read; the check would pass on anything")
  endif()
  foreach(entry ${needed})
    if(entry MATCHES "libzip|libcrypto")
      message(FATAL_ERROR "${file} needs ${entry} at start")
    endif()
  endforeach()
  message(STATUS "${file}: ${needed}")
endforeach()
