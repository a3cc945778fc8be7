# ck_soname(VAR PREFIX NAME): the file name (DT_SONAME) the dynamic loader
# knows the shared library libNAME by, found in pkg-config module PREFIX's
# library directories, for the library's dlopen (src/core/ck_lazy_lib.h).
function(ck_soname var prefix name)
  find_library(ck_soname_file NAMES ${name} HINTS ${${prefix}_LIBRARY_DIRS} NO_CACHE)
  if(ck_soname_file)
    execute_process(COMMAND ${CMAKE_OBJDUMP} -p ${ck_soname_file} OUTPUT_VARIABLE ck_dynamic
                    ERROR_QUIET)
    string(REGEX MATCH "SONAME +([^ \n]+)" ck_match "${ck_dynamic}")
  endif()
  if(NOT ck_match)
    message(FATAL_ERROR "cannot read the SONAME of lib${name} ('${ck_soname_file}') with objdump")
  endif()
  set(${var} ${CMAKE_MATCH_1} PARENT_SCOPE)
endfunction()
