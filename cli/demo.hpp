#pragma once

#include <filesystem>
#include <iosfwd>

namespace plexus::cli {

/// The objection.js `bindKnex` post on two SQLite files created in `dir`.
/// Returns the process exit code.
int run_demo(std::ostream& out, const std::filesystem::path& dir);

}  // namespace plexus::cli
