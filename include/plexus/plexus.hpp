// Plexus: one include for the whole public API.
#pragma once

#include "plexus/config/config.hpp"
#include "plexus/config/env.hpp"
#include "plexus/core/error.hpp"
#include "plexus/core/result.hpp"
#include "plexus/core/value.hpp"
#include "plexus/db/connection.hpp"
#include "plexus/db/database.hpp"
#include "plexus/db/events.hpp"
#include "plexus/db/transaction.hpp"
#include "plexus/db/unit_of_work.hpp"
#include "plexus/orm/model.hpp"
#include "plexus/orm/relations.hpp"
#include "plexus/orm/schema.hpp"
#include "plexus/query/builder.hpp"
#include "plexus/driver/grammar.hpp"
#include "plexus/query/query.hpp"
