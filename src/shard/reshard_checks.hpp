// What the offline and the online reshard both check before they copy a row
// (private to src/).
#pragma once

#include <string_view>

namespace plexus {
class ConnectionRegistry;
class ShardGroup;
}  // namespace plexus

namespace plexus::detail {

/// A reshard copies rows between members, so every member of both layouts
/// must have the same schema. When any of them has a migrations folder
/// configured (the schema is managed by migrations), every member must have
/// the same migrations applied. @throws UsageError naming a member that differs.
void refuse_differing_migrations(ConnectionRegistry& db, ShardGroup& from, ShardGroup& to, std::string_view table);

}  // namespace plexus::detail
