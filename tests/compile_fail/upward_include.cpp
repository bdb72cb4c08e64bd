// A file of one layer including a header of a layer above it: compiled in the
// layer's view of the tree (cmake/PlexusLayers.cmake), the include finds no file.
// Without a PLEXUS_* define the file includes only what its layer may, and compiles.
#include "plexus/core/value.hpp"
#include "plexus/driver/driver.hpp"

#ifdef PLEXUS_DB_INCLUDES_SHARD  // compiled in db/'s view
#include "plexus/db/pool.hpp"
#include "plexus/shard/shard_group.hpp"
#endif
#ifdef PLEXUS_ENGINE_INCLUDES_DB  // compiled in an engine folder's view
#include "plexus/db/connection.hpp"
#endif
#ifdef PLEXUS_QUERY_INCLUDES_ORM  // compiled in query/'s view
#include "plexus/orm/model.hpp"
#endif

int main() { return 0; }
