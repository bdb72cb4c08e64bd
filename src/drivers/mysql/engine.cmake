# The mysql engine: its client library and the sources that need it.
plexus_engine(mysql PKG libmariadb AS MARIADB SOURCES errors.cpp session.cpp statement.cpp async.cpp)
