# ctest entry "install": installs the build into a scratch prefix inside
# the build directory, then builds and runs tests/install/main.c against
# that prefix through the CMake package and through pkg-config, checks the
# man page, and that the shared library exports the public API only (every
# dynamic symbol it defines starts with ck_).
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DLIBDIR=... -DMANDIR=... -DC_COMPILER=...
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

# With CMake: find_package(ckeras), the shared and the static library.
run("configure" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/install -B ${work}/build
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_C_COMPILER=${C_COMPILER} "-DCMAKE_C_FLAGS=${C_FLAGS}")
run("build" ${CMAKE_COMMAND} --build ${work}/build)
foreach(exe install_check install_check_static)
  run("run ${exe}" ${work}/build/${exe})
  message(STATUS "${exe}: ${last_output}")
endforeach()

# With pkg-config, as a Makefile would: cc main.c $(pkg-config --cflags --libs ckeras).
set(ENV{PKG_CONFIG_PATH} ${prefix}/${LIBDIR}/pkgconfig)
run("pkg-config" pkg-config --cflags --libs ckeras)
separate_arguments(pc_flags UNIX_COMMAND "${last_output}")
separate_arguments(c_flags UNIX_COMMAND "${C_FLAGS}")
run("pkg-config build" ${C_COMPILER} ${c_flags} -std=c11 -Wall -Wextra -Werror
    ${SOURCE_DIR}/tests/install/main.c ${pc_flags} -Wl,-rpath,${prefix}/${LIBDIR} -o ${work}/pc_check)
run("run pc_check" ${work}/pc_check)
message(STATUS "pkg-config: ${last_output}")

# The man page is the tool's help: every command has its section.
file(READ ${prefix}/${MANDIR}/man1/ckeras.1 page)
foreach(cmd summary predict fit evaluate inspect convert export)
  if(NOT page MATCHES "\n[.]SS ${cmd}\n[.]nf\nusage: ckeras ${cmd} ")
    message(FATAL_ERROR "install check: ckeras.1 has no section for '${cmd}' with its usage")
  endif()
endforeach()

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

# The dynamic loader reads an empty or relative RUNPATH entry against the
# current directory, where anyone may have left a libm.so.6.
find_program(READELF readelf)
if(READELF)
  foreach(bin ${BUILD_DIR}/ckeras ${BUILD_DIR}/libckeras.so ${prefix}/bin/ckeras ${prefix}/${LIBDIR}/libckeras.so)
    run("readelf ${bin}" ${READELF} -d ${bin})
    if(NOT last_output MATCHES "R(UN)?PATH\\)[^\n]*\\[([^]\n]*)\\]")
      continue()
    endif()
    set(runpath "${CMAKE_MATCH_2}")
    if("${runpath}:" MATCHES "(^|:)([^/$:][^:]*)?:")
      message(FATAL_ERROR "install check: ${bin}'s RUNPATH '${runpath}' has an empty or relative "
                          "entry, which the loader reads against the current directory")
    endif()
  endforeach()
endif()
