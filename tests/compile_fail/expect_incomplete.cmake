# Compiles SRC against INCLUDE: it must fail because TYPE is incomplete, and
# compile once DEFINE adds the header that defines it.
set(cmd ${CXX} -std=c++20 -fsyntax-only -I${INCLUDE} ${SRC})
execute_process(COMMAND ${cmd} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${TYPE} is defined for a user who includes only <plexus/plexus.hpp>")
endif()
if(NOT err MATCHES "incomplete type '${TYPE}'|incomplete type ‘${TYPE}’")
  message(FATAL_ERROR "compile failed for another reason:\n${err}")
endif()
execute_process(COMMAND ${cmd} -D${DEFINE} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "with ${DEFINE}, the file did not compile:\n${err}")
endif()
