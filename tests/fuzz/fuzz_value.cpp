// Value conversions and date/time parsing: any text converts or throws
// ConversionError; parsed date/time values survive a format/parse round trip.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "plexus/core/error.hpp"
#include "plexus/core/value.hpp"

namespace {
template <class T>
void try_as(const plexus::Value& v) {
  try {
    (void)v.as<T>();
  } catch (const plexus::ConversionError&) {
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  plexus::Value v(text);
  try_as<std::int64_t>(v);
  try_as<std::int32_t>(v);
  try_as<std::uint8_t>(v);
  try_as<std::uint64_t>(v);
  try_as<double>(v);
  try_as<bool>(v);
  try_as<plexus::Date>(v);
  try_as<plexus::Time>(v);
  try_as<plexus::Bytes>(v);
  try {
    auto ts = plexus::parse_timestamp(text);
    if (plexus::parse_timestamp(plexus::format_timestamp(ts)) != ts) std::abort();
  } catch (const plexus::ConversionError&) {
  }
  try {
    auto d = plexus::parse_date(text);
    if (plexus::parse_date(plexus::format_date(d)) != d) std::abort();
  } catch (const plexus::ConversionError&) {
  }
  try {
    auto t = plexus::parse_time(text);
    if (plexus::parse_time(plexus::format_time(t)) != t) std::abort();
  } catch (const plexus::ConversionError&) {
  }
  // Integers round-trip through to_string().
  try {
    auto i = v.as<std::int64_t>();
    if (plexus::Value(plexus::Value(i).to_string()).as<std::int64_t>() != i) std::abort();
  } catch (const plexus::ConversionError&) {
  }
  return 0;
}
