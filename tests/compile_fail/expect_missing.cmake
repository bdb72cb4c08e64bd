# Compiles SRC in layer view VIEW: it must compile as it is, and fail with
# DEFINE because the header it then includes (MISSING) is not in that view.
set(cmd ${CXX} -std=c++20 -fsyntax-only -I${VIEWS}/${VIEW} ${SRC})
execute_process(COMMAND ${cmd} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "without ${DEFINE}, the file did not compile in the view of '${VIEW}':\n${err}")
endif()
execute_process(COMMAND ${cmd} -D${DEFINE} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "with ${DEFINE}, the view of '${VIEW}' let ${MISSING} be included")
endif()
if(NOT err MATCHES "${MISSING}: No such file or directory")
  message(FATAL_ERROR "compile failed for another reason:\n${err}")
endif()
