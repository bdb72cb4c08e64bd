// Entry points of the drivers compiled into this build (private to src/).
#pragma once

#include "plexus/driver/driver.hpp"

namespace plexus::driver {
const Driver& sqlite_driver();
const Driver& postgres_driver();
const Driver& mysql_driver();
}  // namespace plexus::driver
