# Writes the ckeras(1) man page from the tool's own --help texts, so the
# page and the help cannot drift apart. Run at build time:
#   cmake -DCKERAS=path/to/ckeras -DVERSION=x.y.z -DOUT=ckeras.1 -P ckeras-man.cmake

function(help_of out)
  execute_process(COMMAND ${CKERAS} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE text ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "ckeras ${ARGN} failed (${rc}): ${err}")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# Help text as a no-fill roff block: backslashes doubled, and lines that
# start with a dot or quote escaped so roff does not read them as requests.
function(roff_block out text)
  string(REPLACE "\\" "\\\\" text "${text}")
  string(REPLACE "-" "\\-" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
  set(${out} ".nf\n${text}.fi\n" PARENT_SCOPE)
endfunction()

help_of(main --help)
roff_block(main_roff "${main}")
string(REGEX REPLACE ".*\ncommands:\n" "" listing "${main}")
string(REGEX MATCHALL "(^|\n)  [a-z]+" names "${listing}")

string(CONCAT page ".TH CKERAS 1 \"\" \"ckeras ${VERSION}\" \"User Commands\"\n"
         ".SH NAME\nckeras \\- inspect, run, train, convert and export Keras models\n"
         ".SH DESCRIPTION\n${main_roff}.SH COMMANDS\n")
foreach(name ${names})
  string(STRIP "${name}" name)
  help_of(text ${name} --help)
  roff_block(text_roff "${text}")
  string(APPEND page ".SS ${name}\n${text_roff}")
endforeach()
string(APPEND page ".SH SEE ALSO\ndocs/cli.md in the ckeras sources\n")
file(WRITE ${OUT} "${page}")
