// Identifier validation and quoting: whatever is accepted comes out as quoted
// names only — nothing that could end a quote, start a comment or a statement.
#include <cstdint>
#include <cstdlib>
#include <cctype>
#include <string>

#include "plexus/core/error.hpp"
#include "plexus/driver/grammar.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string name(reinterpret_cast<const char*>(data), size);
  for (const char* dialect : {"sqlite", "postgres", "mysql"}) {
    const auto& g = plexus::grammar_for(dialect);
    std::string out;
    try {
      g.identifier(out, name);
    } catch (const plexus::UsageError&) {
      continue;
    }
    const char quote = std::string_view(dialect) == "mysql" ? '`' : '"';
    // Outside quotes only '.', '*', ' AS ' may appear; inside, only [A-Za-z0-9_].
    bool inside = false;
    for (std::size_t i = 0; i < out.size(); ++i) {
      char c = out[i];
      if (c == quote) {
        inside = !inside;
      } else if (inside) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') std::abort();
      } else if (out.compare(i, 4, " AS ") == 0) {
        i += 3;
      } else if (c != '.' && c != '*') {
        std::abort();
      }
    }
    if (inside) std::abort();  // an unbalanced quote
    for (const char* bad : {";", "--", "/*", "'"})
      if (out.find(bad) != std::string::npos) std::abort();
  }
  return 0;
}
