# Compiles SRC with CXX (and DEFINES, a ;-list of -D flags) and checks that the
# compiler rejected it with MESSAGE (a regular expression). With CONTROL set,
# the same file compiled with -D${CONTROL} must compile: the failure is then
# the guard's, not another mistake in the file.
set(cmd ${CXX} -std=c++20 -fsyntax-only -I${INCLUDE} ${DEFINES} ${SRC})
execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SRC} ${DEFINES} compiled; it must not")
endif()
if(NOT err MATCHES "${MESSAGE}")
  message(FATAL_ERROR "compile failed for another reason (expected: ${MESSAGE}):\n${err}")
endif()
if(CONTROL)
  execute_process(COMMAND ${cmd} -D${CONTROL} RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "with -D${CONTROL} the file did not compile:\n${err}")
  endif()
endif()
