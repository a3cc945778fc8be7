# ctest entry "cxx": builds tests/cxx/main.cpp as C++17 with g++ and with
# clang++ (-Wall -Wextra -Werror) against the build's headers and shared
# library, and runs it. In a sanitizer build (C_FLAGS set) only the C++
# compiler of the library's compiler family can link its runtime. A missing
# compiler prints "SKIP:" (the test's SKIP_REGULAR_EXPRESSION).
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DC_COMPILER_ID=GNU|Clang [-DC_FLAGS=...] -P check.cmake
set(work ${BUILD_DIR}/cxx-check)
file(REMOVE_RECURSE ${work})
file(MAKE_DIRECTORY ${work})

set(compilers g++ clang++)
if(C_FLAGS)
  if(C_COMPILER_ID STREQUAL "GNU")
    set(compilers g++)
  else()
    set(compilers clang++)
  endif()
endif()
separate_arguments(c_flags UNIX_COMMAND "${C_FLAGS}")

foreach(cxx ${compilers})
  find_program(path_${cxx} ${cxx})
  if(NOT path_${cxx})
    message("SKIP: ${cxx} not found (scripts/setup.sh installs it)")
    return()
  endif()
  set(exe ${work}/cxx_check_${cxx})
  execute_process(COMMAND ${path_${cxx}} -std=c++17 -Wall -Wextra -Werror ${c_flags}
    -I${SOURCE_DIR}/include ${SOURCE_DIR}/tests/cxx/main.cpp -L${BUILD_DIR} -lckeras
    -Wl,-rpath,${BUILD_DIR} -o ${exe} RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cxx check: ${cxx} failed to build main.cpp\n${out}\n${err}")
  endif()
  file(MAKE_DIRECTORY ${work}/${cxx})
  execute_process(COMMAND ${exe} ${work}/${cxx} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT out STREQUAL "cxx check: ok\n")
    message(FATAL_ERROR "cxx check: the ${cxx} build failed (${rc})\n${out}\n${err}")
  endif()
  message(STATUS "${cxx}: ${out}")
endforeach()
