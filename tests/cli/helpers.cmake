# Shared by the CLI tests: run the real binary as a user does and check what
# it printed.
#   run(RC args…)   runs plexus in ${WORKDIR} (standard input from
#                   ${PLEXUS_STDIN} when set), leaves its output in `out` and
#                   `err`, and fails unless it exits with RC, or when any text
#                   of the list ${PLEXUS_SECRETS} shows in what it printed.
#   expect(TEXT REGEX)  fails unless TEXT matches REGEX.
function(run expect_rc)
  set(input)
  if(DEFINED PLEXUS_STDIN)
    set(input INPUT_FILE ${PLEXUS_STDIN})
  endif()
  execute_process(COMMAND ${PLEXUS} ${ARGN} WORKING_DIRECTORY ${WORKDIR}
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc ${input})
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
  if(NOT rc EQUAL ${expect_rc})
    message(FATAL_ERROR "plexus ${ARGN}: exit ${rc}, expected ${expect_rc}\n${out}\n${err}")
  endif()
  foreach(leak_text IN LISTS PLEXUS_SECRETS)
    string(FIND "${out}${err}" "${leak_text}" leaked)
    if(NOT leaked EQUAL -1)
      message(FATAL_ERROR "a password leaked into the output of plexus ${ARGN}:\n${out}\n${err}")
    endif()
  endforeach()
endfunction()

function(expect text pattern)
  if(NOT text MATCHES "${pattern}")
    message(FATAL_ERROR "expected /${pattern}/ in:\n${text}")
  endif()
endfunction()
