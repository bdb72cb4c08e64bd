# plexus demo: products come from db_one's file, categories from db_two's.
execute_process(COMMAND ${PLEXUS} demo --dir ${WORKDIR} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "plexus demo failed (${rc}): ${err}\n${out}")
endif()
foreach(pattern
    "\\[db_one → [^]]*/db_one\\.sqlite\\] [0-9.]+ ms  SELECT [^\n]* FROM \"products\""
    "\\[db_two → [^]]*/db_two\\.sqlite\\] [0-9.]+ ms  SELECT [^\n]* FROM \"categories\""
    "\\| 1  \\| Keyboard \\|"
    "\\| 2  \\| Displays    \\|"
    "db_one  1 session\\(s\\) open to [^\n]*/db_one\\.sqlite"
    "db_two  1 session\\(s\\) open to [^\n]*/db_two\\.sqlite")
  if(NOT out MATCHES "${pattern}")
    message(FATAL_ERROR "demo output lacks /${pattern}/:\n${out}")
  endif()
endforeach()
if(out MATCHES "db_two → [^]]*\\] [0-9.]+ ms  [^\n]*products")
  message(FATAL_ERROR "products were read from db_two:\n${out}")
endif()
message(STATUS "demo ok")
# A folder it cannot create is a usage error (exit 2) that says so.
execute_process(COMMAND ${PLEXUS} demo --dir /proc/nope/demo OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 2 OR NOT err MATCHES "cannot create the folder '/proc/nope/demo'")
  message(FATAL_ERROR "plexus demo --dir /proc/nope/demo: exit ${rc}, expected 2 naming the folder\n${err}")
endif()
