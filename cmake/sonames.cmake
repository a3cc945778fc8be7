# ck_soname(VAR PREFIX NAME): the file name (DT_SONAME) the dynamic loader
# knows the shared library libNAME by, found in pkg-config module PREFIX's
# library directories, for the library's dlopen (src/core/ck_lazy_lib.h).
function(ck_soname var prefix name)
  # A cache entry per library: find_library keeps what it found.
  find_library(CK_SONAME_FILE_${name} NAMES ${name} HINTS ${${prefix}_LIBRARY_DIRS})
  set(file ${CK_SONAME_FILE_${name}})
  if(file)
    execute_process(COMMAND ${CMAKE_OBJDUMP} -p ${file} OUTPUT_VARIABLE dynamic ERROR_QUIET)
    string(REGEX MATCH "SONAME +([^ \n]+)" match "${dynamic}")
  endif()
  if(NOT match)
    message(FATAL_ERROR "cannot read the SONAME of lib${name} ('${file}') with objdump")
  endif()
  set(${var} ${CMAKE_MATCH_1} PARENT_SCOPE)
endfunction()
