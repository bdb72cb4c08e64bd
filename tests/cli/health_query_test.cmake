# plexus query / health against a config file, and their errors.
file(REMOVE_RECURSE ${WORKDIR})
file(MAKE_DIRECTORY ${WORKDIR})
file(WRITE ${WORKDIR}/database.toml "
default = \"app\"
[connections.app]
driver = \"sqlite\"
database = \"${WORKDIR}/app.sqlite\"
[connections.offline]
url = \"postgresql://svc:hunter2-secret@127.0.0.1:1/nothing?connect_timeout=2\"
")
function(run expect_rc)
  execute_process(COMMAND ${PLEXUS} ${ARGN} WORKING_DIRECTORY ${WORKDIR}
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
  if(NOT rc EQUAL ${expect_rc})
    message(FATAL_ERROR "plexus ${ARGN}: exit ${rc}, expected ${expect_rc}\n${out}\n${err}")
  endif()
  if("${out}${err}" MATCHES "hunter2-secret")
    message(FATAL_ERROR "a password leaked into the output of plexus ${ARGN}:\n${out}\n${err}")
  endif()
endfunction()
function(expect text pattern)
  if(NOT text MATCHES "${pattern}")
    message(FATAL_ERROR "expected /${pattern}/ in:\n${text}")
  endif()
endfunction()

run(0 query -c database.toml app "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
run(0 query -c database.toml app "INSERT INTO t (name) VALUES ('widget')")
expect("${out}" "1 row\\(s\\) affected, last insert id 1")
run(0 query -c database.toml app "SELECT id, name FROM t" --json --read)
expect("${out}" "\"name\": \"widget\"")
expect("${out}" "\"id\": 1")
run(0 query -c database.toml app "SELECT id, name FROM t")
expect("${out}" "\\| 1  \\| widget \\|")
run(2 query -c database.toml nope "SELECT 1")
expect("${err}" "unknown connection 'nope' \\(configured: app, offline\\)")
run(2 query -c database.toml app "SELEC 1")
expect("${err}" "SQL error on connection 'app'")
run(3 health -c database.toml)
expect("${out}" "app +sqlite +healthy")
expect("${out}" "offline +postgres +DOWN")
run(3 health -c database.toml --json)
expect("${out}" "\"status\": \"degraded\"")
run(2 health -c missing.toml)
expect("${err}" "missing.toml: cannot open")
file(WRITE ${WORKDIR}/bad.toml "[connections.app]\ndriver = \"sqlite\"\ndatabase = \"x\"\nhots = \"typo\"\n")
run(2 health -c bad.toml)
expect("${err}" "bad.toml: key 'connections.app.hots': unknown key")
message(STATUS "health/query ok")
