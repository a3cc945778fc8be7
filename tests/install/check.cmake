# ctest entry "install": installs the build into a scratch prefix inside
# the build directory, then configures, builds and runs tests/install
# against that prefix, and checks that the shared library exports the
# public API only (every dynamic symbol it defines starts with ck_).
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DLIBDIR=... -DC_COMPILER=...
#         [-DC_FLAGS=...] -P check.cmake
set(work ${BUILD_DIR}/install-check)
set(prefix ${work}/prefix)
file(REMOVE_RECURSE ${work})

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install check: ${what} failed (${rc})\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
run("configure" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/install -B ${work}/build
    -DCKERAS_PREFIX=${prefix} -DCKERAS_LIBDIR=${prefix}/${LIBDIR}
    -DCMAKE_C_COMPILER=${C_COMPILER} "-DCMAKE_C_FLAGS=${C_FLAGS}")
run("build" ${CMAKE_COMMAND} --build ${work}/build)
run("run" ${work}/build/install_check)
message(STATUS "${last_output}")

find_program(NM nm)
if(NM)
  run("nm" ${NM} -D --defined-only ${prefix}/${LIBDIR}/libckeras.so)
  string(REGEX MATCHALL "[^\n]+" lines "${last_output}")
  foreach(line ${lines})
    if(NOT line MATCHES " ck_[a-z0-9_]+$")
      message(FATAL_ERROR "install check: libckeras.so exports a non-API symbol: ${line}")
    endif()
  endforeach()
endif()
