// Which database a connection reaches, whatever it is called (private to
// src/): how a copy, a move and an online reshard tell that two connection
// names are one database.
#pragma once

#include <string>

namespace plexus {
class Connection;
}

namespace plexus::detail {

/// What names the database `conn` reaches, the same through every
/// connection to it (Grammar::database_identity_sql); empty when the engine
/// cannot tell or the session may not ask. @throws Error when it does not answer.
[[nodiscard]] std::string database_identity(Connection& conn);

}  // namespace plexus::detail
