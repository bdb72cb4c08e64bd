// A user of the library does not see the engine contract: <plexus/plexus.hpp>
// declares driver::Session but does not define it. Code that implements or
// inspects an engine includes <plexus/driver/engine.hpp> (PLEXUS_ENGINE_AUTHOR).
#include "plexus/plexus.hpp"
#ifdef PLEXUS_ENGINE_AUTHOR
#include "plexus/driver/engine.hpp"
#endif

static_assert(sizeof(plexus::driver::Session) > 0);

int main() { return 0; }
