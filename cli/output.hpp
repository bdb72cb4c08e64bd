// Table and JSON rendering for the plexus command.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "plexus/plexus.hpp"

namespace plexus::cli {

void print_table(std::ostream& out, const Result& r);
nlohmann::json to_json(const Value& v);
nlohmann::json to_json(const Result& r);
nlohmann::json to_json(const ConnectionHealth& h);
void print_health(std::ostream& out, const std::vector<ConnectionHealth>& all);

}  // namespace plexus::cli
