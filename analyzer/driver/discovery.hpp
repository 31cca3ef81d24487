#pragma once
#include <string>
#include <vector>

#include "analyzer/config/config.hpp"
#include "analyzer/support/expected.hpp"

namespace oomlint {

struct Discovery {
  std::vector<std::string> files; // sorted, as the user would write them
  std::vector<Error> errors;      // paths that do not exist, link loops, unreadable folders
};

// Expands the command line's paths into Python files. Folders are searched for `*.py` and
// `*.pyi`, skipping default_excludes() and the config's exclude/extend-exclude; a file named
// explicitly is always linted.
Discovery discover(const std::vector<std::string>& paths, const Config& config);

} // namespace oomlint
