# plexus tx pending / tx recover / copy as a user runs them: the real binary,
# real servers when they are up, stdout, stderr and exit codes.
file(REMOVE_RECURSE ${WORKDIR})
file(MAKE_DIRECTORY ${WORKDIR}/config)
set(pg "")
if(DEFINED ENV{PLEXUS_TEST_PG_SHARD1_URL})
  set(pg "[connections.pg]\nurl = \"$ENV{PLEXUS_TEST_PG_SHARD1_URL}\"\n")
endif()
set(my "")
if(DEFINED ENV{PLEXUS_TEST_MYSQL_URL})
  set(my "[connections.my]\nurl = \"$ENV{PLEXUS_TEST_MYSQL_URL}\"\n")
endif()
file(WRITE ${WORKDIR}/config/database.toml "
default = \"a\"
[transactions]
coordinator = \"cli-test\"
log_file = \"${WORKDIR}/tx.log\"
[connections.a]
driver = \"sqlite\"
database = \"${WORKDIR}/a.sqlite\"
[connections.b]
driver = \"sqlite\"
database = \"${WORKDIR}/b.sqlite\"
${pg}${my}")
set(PLEXUS_SECRETS "plexus-test-pw")
include(${CMAKE_CURRENT_LIST_DIR}/helpers.cmake)

# ---- copy between two SQLite files ----
run(0 query a "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, note TEXT)")
run(0 query b "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, note TEXT)")
foreach(i RANGE 1 25)
  run(0 query a "INSERT INTO items (id, name, price, note) VALUES (?, ?, ?, ?)" -p ${i} -p "item ${i}" -p ${i}.5 -p null)
endforeach()
run(0 copy --from a --to b --table items --key id --batch 10 --verify)
expect("${out}" "25 rows read, 25 written, 0 skipped in 3 batches")
expect("${out}" "verify: 25 rows at the target, checksums equal")
run(0 query b "SELECT count(*) AS n, sum(price) AS s FROM items" --json)
string(REGEX REPLACE "[ \n]" "" flat "${out}")
expect("${flat}" "\"rows\":\\[\\[25,337.5\\]\\]")
# Again: the keys are there. fail stops (exit 1), skip keeps them, update overwrites.
run(1 copy --from a --to b --table items)
expect("${err}" "connection 'b'")
run(0 copy --from a --to b --query "SELECT * FROM items WHERE id <= ?" -p 5 --into items --key id --on-conflict skip --json)
string(REGEX REPLACE "[ \n]" "" flat "${out}")
expect("${flat}" "\"rows_read\":5,")
expect("${flat}" "\"rows_skipped\":5,")
run(0 query a "UPDATE items SET name = 'renamed' WHERE id = 3")
run(0 copy --from a --to b --table items --key id --on-conflict update)
run(0 query b "SELECT name FROM items WHERE id = 3" --json)
expect("${out}" "\"renamed\"")
# A copy that cannot work is a usage error (exit 2) before anything is read.
run(2 copy --from a --to b --table items --verify)
expect("${err}" "key columns")
run(2 copy --from a --to b --table items --on-conflict maybe)
run(2 copy --from a --to nowhere --table items)
expect("${err}" "unknown connection 'nowhere'")
# A move between two engines that cannot prepare: only one may be the last resource.
run(2 copy --from a --to b --table items --key id --move)
expect("${err}" "cannot prepare")
run(0 query a "SELECT count(*) FROM items" --json)
string(REGEX REPLACE "[ \n]" "" flat "${out}")
expect("${flat}" "\"rows\":\\[\\[25\\]\\]")

# ---- tx pending / recover ----
if(NOT pg AND NOT my)
  run(0 tx pending)
  expect("${out}" "no prepared branch is waiting")
  return()
endif()
run(0 tx pending --json)
string(REGEX REPLACE "[ \n]" "" flat "${out}")
expect("${flat}" "\"unreachable\":\\[\\]")
if(pg)
  # A move from SQLite (the last resource) to PostgreSQL, every batch one two-phase commit.
  run(0 query pg "DROP TABLE IF EXISTS cli_items")
  run(0 query pg "CREATE TABLE cli_items (id BIGINT PRIMARY KEY, name TEXT, price DOUBLE PRECISION, note TEXT)")
  run(0 copy --from a --to pg --table items --into cli_items --key id --batch 7 --move --verify)
  expect("${out}" "25 rows read, 25 written, 0 skipped, 25 deleted at the source in 4 batches")
  expect("${out}" "checksums equal")
  run(0 query a "SELECT count(*) FROM items" --json)
  string(REGEX REPLACE "[ \n]" "" flat "${out}")
  expect("${flat}" "\"rows\":\\[\\[0\\]\\]")
  run(0 query pg "DROP TABLE cli_items")
  # A branch left prepared by a coordinator that is gone (made with psql, as a crash would leave it).
  find_program(PSQL psql)
  if(PSQL)
    string(REGEX REPLACE "^postgresql://([^:]+):([^@]+)@([^:/]+):([0-9]+)/([^?]+).*$" "\\2" pgpass "$ENV{PLEXUS_TEST_PG_SHARD1_URL}")
    string(REGEX REPLACE "^postgresql://([^:]+):[^@]+@(.*)$" "postgresql://\\1@\\2" pgurl "$ENV{PLEXUS_TEST_PG_SHARD1_URL}")
    execute_process(COMMAND ${CMAKE_COMMAND} -E env PGPASSWORD=${pgpass} ${PSQL} -v ON_ERROR_STOP=1 -q "${pgurl}"
      -c "CREATE TABLE IF NOT EXISTS cli_gone (id INT)"
      -c "BEGIN" -c "INSERT INTO cli_gone VALUES (1)" -c "PREPARE TRANSACTION 'plx.gone.1000_1.0'"
      RESULT_VARIABLE rc ERROR_VARIABLE perr)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "psql could not prepare a branch: ${perr}")
    endif()
    run(0 tx pending)
    expect("${out}" "pg +\\| plx.gone.1000_1 +\\| gone +\\| none \\(rolls back\\)")
    run(0 tx pending --json)
    expect("${out}" "\"coordinator\": \"gone\"")
    # Recovery as this coordinator leaves another's branch; --all resolves it.
    run(0 tx recover)
    expect("${out}" "recovery as coordinator 'cli-test': 0 committed, 0 rolled back, 1 left")
    expect("${out}" "coordinator 'gone' owns it")
    run(0 tx recover --all --min-age 0 --json)
    string(REGEX REPLACE "[ \n]" "" flat "${out}")
    expect("${flat}" "\"rolled_back\":1")
    expect("${flat}" "\"action\":\"rolled_back\"")
    run(0 tx pending)
    expect("${out}" "no prepared branch is waiting")
    run(0 query pg "SELECT count(*) FROM cli_gone" --json)
    string(REGEX REPLACE "[ \n]" "" flat "${out}")
    expect("${flat}" "\"rows\":\\[\\[0\\]\\]")
    run(0 query pg "DROP TABLE cli_gone")
  endif()
endif()
if(my)
  run(0 tx recover --coordinator other-instance)
  expect("${out}" "recovery as coordinator 'other-instance'")
endif()
run(2 tx)
run(2 tx recover --min-age -1)
string(REPEAT "9" 300 huge)
run(2 tx recover --min-age ${huge})
expect("${err}" "--min-age must be a whole number of seconds")
string(FIND "${err}" "99999999999999999999" echoed)
if(NOT echoed EQUAL -1)
  message(FATAL_ERROR "the 300-digit value was echoed back:\n${err}")
endif()
