# plexus query / health as a user runs them: the real binary, its stdout,
# stderr and exit codes (0 ok, 1 a database said no or is down, 2 usage or
# configuration), and never a password in any of it.
file(REMOVE_RECURSE ${WORKDIR})
file(MAKE_DIRECTORY ${WORKDIR})
# A generated password with characters a URL treats specially (percent-encoded in the URL).
string(RANDOM LENGTH 12 ALPHABET "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789" core)
set(secret "${core}?/@:x")
set(encoded "${core}%3F%2F%40%3Ax")
set(replica_section "")
if(DEFINED ENV{PLEXUS_TEST_PG_URL})
  # A real primary whose replica is down: health says degraded.
  set(replica_section "[connections.split]\nurl = \"$ENV{PLEXUS_TEST_PG_URL}\"\nread_hosts = [\"127.0.0.1:1\"]\n")
endif()
file(WRITE ${WORKDIR}/database.toml "
default = \"app\"
[connections.app]
driver = \"sqlite\"
database = \"${WORKDIR}/app.sqlite\"
[connections.offline]
url = \"postgresql://svc:${encoded}@127.0.0.1:1/nothing?connect_timeout=2\"
")
file(WRITE ${WORKDIR}/fresh.toml "
[connections.fresh]
driver = \"sqlite\"
database = \"${WORKDIR}/not-yet/fresh.sqlite\"
${replica_section}")
set(PLEXUS_SECRETS "${secret}" "${core}")
set(PLEXUS_STDIN ${WORKDIR}/stdin.sql)
include(${CMAKE_CURRENT_LIST_DIR}/helpers.cmake)
file(WRITE ${WORKDIR}/stdin.sql "SELECT name FROM t WHERE id = ?")

run(0 --version)
expect("${out}" "^plexus [0-9]+\\.[0-9]+\\.[0-9]+")
run(2 bogus)
expect("${err}" "unknown command 'bogus'")
run(0 query -c database.toml app "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
run(0 query -c database.toml app "INSERT INTO t (name) VALUES ('widget')")
expect("${out}" "1 row\\(s\\) affected, last insert id 1")
run(0 query -c database.toml app "INSERT INTO t (name) VALUES (?)" -p "NULL")
run(0 query -c database.toml app "INSERT INTO t (name) VALUES (?)" -p "text:NULL")
run(0 query -c database.toml app "INSERT INTO t (name) VALUES (?)" -p "text:two\nlines")
run(0 query -c database.toml app "INSERT INTO t (name) VALUES (?)" -p "Grüße 世界")
run(0 query -c database.toml app "SELECT id, name FROM t" --json --read)
expect("${out}" "\"columns\": \\[\n +\"id\",\n +\"name\"\n +\\]")
expect("${out}" "\"widget\"")
# Duplicate column names and their order survive in JSON.
run(0 query -c database.toml app "SELECT 2 AS b, 1 AS a, 3 AS b" --json)
string(REGEX REPLACE "[ \n]" "" flat "${out}")
expect("${flat}" "\"columns\":\\[\"b\",\"a\",\"b\"\\],\"rows\":\\[\\[2,1,3\\]\\]")
# A table: NULL and the text 'NULL' differ, a newline is escaped, wide characters keep the columns straight.
run(0 query -c database.toml app "SELECT id, name FROM t ORDER BY id")
expect("${out}" "\\| 1  \\| widget       \\|")
expect("${out}" "\\| 2  \\| NULL         \\|")
expect("${out}" "\\| 3  \\| \"NULL\"       \\|")
expect("${out}" "\\| 4  \\| \"two\\\\nlines\" \\|")
expect("${out}" "\\| 5  \\| Grüße 世界   \\|")
# Parameters, SQL from standard input and from a file.
run(0 query -c database.toml app -f - -p 1 --json)
expect("${out}" "\"widget\"")
file(WRITE ${WORKDIR}/q.sql "SELECT count(*) AS n FROM t WHERE name = ?")
run(0 query -c database.toml app --file q.sql --param widget)
expect("${out}" "\\| 1 +\\|")
run(2 query -c database.toml app "SELECT ?" -p 1 -p 2)
expect("${err}" "placeholder")
# -p reads a value as a number only when it is plainly decimal; anything else is text, and a prefix forces a type.
foreach(case "0x1A=text" "Infinity=text" " 42=text" "Nan=text" "+5=text" "1e=text" "42=integer" "-7=integer"
        "2.50=real" "-1e3=real" "18446744073709551615=text" "int:-3=integer" "real:inf=real" "text:42=text" "bool:true=integer")
  string(FIND "${case}" "=" eq REVERSE)
  string(SUBSTRING "${case}" 0 ${eq} value)
  math(EXPR after "${eq} + 1")
  string(SUBSTRING "${case}" ${after} -1 type)
  run(0 query -c database.toml app "SELECT typeof(?) AS t" -p "${value}" --json)
  string(REGEX REPLACE "[ \n]" "" flat "${out}")
  expect("${flat}" "\\[\"${type}\"\\]")
endforeach()
run(2 query -c database.toml app "SELECT ?" -p "int:0x1A")
expect("${err}" "is not a 64-bit integer")
run(2 query -c database.toml app "SELECT ?" -p "real:1,5")
# Errors: a usage or configuration error exits 2, a database error 1; --json errors are JSON.
run(2 query -c database.toml nope "SELECT 1")
expect("${err}" "unknown connection 'nope' \\(configured: app, offline\\)")
run(1 query -c database.toml app "SELEC 1")
expect("${err}" "SQL error on connection 'app'")
run(1 query -c database.toml app "SELEC 1" --json)
expect("${err}" "\"kind\": \"SQL error\"")
expect("${err}" "\"connection\": \"app\"")
run(1 query -c database.toml offline "SELECT 1" --json)
expect("${err}" "\"failure\": \"refused\"")
# Health: a server down is exit 1, with the connection named and no password.
run(1 health -c database.toml)
expect("${out}" "app +sqlite +healthy")
expect("${out}" "offline +postgres +down")
run(1 health -c database.toml --json)
expect("${out}" "\"status\": \"down\"")
# A SQLite file that does not exist yet is reported, not created.
run(1 health -c fresh.toml)
expect("${out}" "does not exist yet")
if(EXISTS ${WORKDIR}/not-yet)
  message(FATAL_ERROR "plexus health created a database folder")
endif()
if(replica_section)
  expect("${out}" "split +postgres +degraded")
  expect("${out}" "replica +127.0.0.1:1 +DOWN")
endif()
run(2 health -c missing.toml)
expect("${err}" "missing.toml: cannot open")
file(WRITE ${WORKDIR}/bad.toml "[connections.app]\ndriver = \"sqlite\"\ndatabase = \"x\"\nhots = \"typo\"\n")
run(2 health -c bad.toml)
expect("${err}" "bad.toml: key 'connections.app.hots': unknown key")
# Metrics: every host pinged, then the Prometheus text (a host down is exit 1, no password).
run(1 metrics -c database.toml)
expect("${out}" "# TYPE plexus_queries_total counter")
expect("${out}" "plexus_queries_total\\{connection=\"app\",host=\"[^\"]*app.sqlite\",role=\"primary\",intent=\"read\"\\} 0")
expect("${out}" "plexus_host_up\\{connection=\"offline\",host=\"127.0.0.1:1\",role=\"primary\"\\} 0")
expect("${out}" "plexus_host_up\\{connection=\"app\",host=\"[^\"]*app.sqlite\",role=\"primary\"\\} 1")
run(1 metrics -c database.toml --json)
expect("${out}" "\"name\": \"plexus_pool_sessions\"")
# The resolved configuration, secrets masked (the helper fails on any password text).
run(0 config -c database.toml)
expect("${out}" "default: app")
expect("${out}" "offline +\\| postgres +\\| 127.0.0.1:1/nothing +\\| svc:\\*\\*\\*")
run(0 config -c database.toml --json)
expect("${out}" "\"password\": \"\\*\\*\\*\"")
expect("${out}" "\"engine\": \"sqlite\"")
# The engine's own client, the password in the environment only.
run(0 console app --print -c database.toml)
expect("${out}" "^sqlite3 [^ ]*app.sqlite")
run(0 console offline --print -c database.toml)
expect("${out}" "^PGPASSWORD=\\*\\*\\* psql -h 127.0.0.1 -p 1 -U svc -d nothing")
run(2 console nope -c database.toml)
expect("${err}" "unknown connection 'nope'")
if(replica_section)
  file(WRITE ${WORKDIR}/console.sql "SELECT 40 + 2 AS answer;\n")
  set(PLEXUS_STDIN ${WORKDIR}/console.sql)
  run(0 console split -c fresh.toml)
  expect("${out}" "42")
  set(PLEXUS_STDIN ${WORKDIR}/stdin.sql)
endif()
run(0 completion bash)
expect("${out}" "complete -F _plexus plexus")
expect("${out}" "migrate")
message(STATUS "health/query/metrics/config ok")
