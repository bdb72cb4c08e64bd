# The postgres engine: its client library and the sources that need it.
plexus_engine(postgres PKG libpq AS LIBPQ SOURCES errors.cpp session.cpp values.cpp transactions.cpp async.cpp)
