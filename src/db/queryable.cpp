#include "plexus/db/queryable.hpp"

namespace plexus {

Value Queryable::scalar(std::string_view sql, Params params, Intent intent) {
  Result r = run_query(sql, params.span(), intent);
  if (r.empty() || r.columns().size() == 0) return {};
  return r[0][0];
}

}  // namespace plexus
