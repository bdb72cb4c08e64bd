# The sqlite engine: its client library and the sources that need it.
plexus_engine(sqlite PKG sqlite3 AS SQLITE3 SOURCES errors.cpp session.cpp)
