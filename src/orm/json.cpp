// JSON in and out of models (nlohmann stays inside this file).
#include <limits>

#include <nlohmann/json.hpp>

#include "plexus/core/error.hpp"
#include "plexus/orm/model.hpp"

namespace plexus {

Fields fields_from_json(std::string_view json) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json);
  } catch (const nlohmann::json::parse_error& e) {
    throw UsageError(std::string("invalid JSON for mass assignment: ") + e.what());
  }
  if (!j.is_object()) throw UsageError("mass assignment from JSON needs an object, e.g. {\"name\": \"John\"}");
  Fields out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& v = it.value();
    Value value;
    if (v.is_null()) value = Value();
    else if (v.is_boolean()) value = Value(v.get<bool>());
    else if (v.is_number_unsigned()) {
      // nlohmann reads every non-negative integer as unsigned: past the
      // largest int64 it is refused, never wrapped to a negative number.
      const auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw ConversionError("mass assignment from JSON: '" + it.key() + "' is " + std::to_string(u) +
                              ", past the largest 64-bit integer column value (9223372036854775807)");
      value = Value(static_cast<std::int64_t>(u));
    } else if (v.is_number_integer()) value = Value(v.get<std::int64_t>());
    else if (v.is_number_float()) value = Value(v.get<double>());
    else if (v.is_string()) value = Value(v.get<std::string>());
    else throw UsageError("mass assignment from JSON: '" + it.key() + "' holds an object or array; only scalars map to columns");
    out.emplace_back(it.key(), std::move(value));
  }
  return out;
}

std::string fields_to_json(const Fields& fields) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [name, v] : fields) {
    switch (v.type()) {
      case Value::Type::null: j[name] = nullptr; break;
      case Value::Type::boolean: j[name] = v.raw_bool(); break;
      case Value::Type::integer: j[name] = v.raw_int(); break;
      case Value::Type::real: j[name] = v.raw_real(); break;
      default: j[name] = v.to_string(); break;
    }
  }
  try {
    return j.dump();
  } catch (const nlohmann::json::type_error&) {
    // JSON holds Unicode text only: name the field whose text is not UTF-8.
    for (const auto& [name, v] : fields) {
      try {
        (void)nlohmann::json(name).dump();
        if (v.type() == Value::Type::text) (void)nlohmann::json(v.raw_text()).dump();
      } catch (const nlohmann::json::type_error&) {
        throw ConversionError("to_json: field '" + std::string(name) +
                              "' holds text that is not UTF-8, which JSON cannot carry; store it as bytes");
      }
    }
    throw ConversionError("to_json: a field holds text that is not UTF-8, which JSON cannot carry");
  }
}

namespace detail {

void throw_unknown_column(std::string_view table, std::string_view column) {
  throw UsageError("'" + std::string(column) + "' is not a column of the '" + std::string(table) + "' model");
}

void throw_column_error(std::string_view table, std::string_view column, const ConversionError& err) {
  throw ConversionError("column '" + std::string(column) + "' of '" + std::string(table) + "': " + err.message());
}

void throw_guarded(std::string_view table, std::string_view column) {
  throw UsageError("column '" + std::string(column) + "' of '" + std::string(table) +
                   "' is guarded against mass assignment; set it on the struct directly");
}

}  // namespace detail
}  // namespace plexus
