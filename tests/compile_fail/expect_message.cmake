# Compiles SRC with CXX and checks that the compiler rejected it with the guard's message.
execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -I${INCLUDE} ${SRC} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "the cross-connection join compiled")
endif()
if(NOT err MATCHES "a SQL join cannot cross databases")
  message(FATAL_ERROR "compile failed for another reason:\n${err}")
endif()
