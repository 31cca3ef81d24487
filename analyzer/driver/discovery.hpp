#pragma once
#include <string>
#include <vector>

#include "analyzer/config/config.hpp"
#include "analyzer/support/expected.hpp"

namespace oomlint {

struct Discovery {
  std::vector<std::string> files; // sorted, as the user would write them
  std::vector<Error> errors;      // paths that do not exist, link loops, unreadable folders
  // Jupyter notebooks found in folders (or named): oomlint does not read them yet, and says so.
  std::vector<std::string> notebooks;
};

// Expands the command line's paths into Python files. Folders are searched for `*.py` and
// `*.pyi`, skipping default_excludes() and the config's exclude/extend-exclude; a file named
// explicitly is linted unless excludes are forced.
// What a .gitignore ignores is skipped too (`respect-gitignore`). With `force_exclude` (or the
// configuration's `force-exclude`), the excludes apply to paths named explicitly as well, so
// that a pre-commit hook handed an excluded file lints nothing.
Discovery discover(const std::vector<std::string>& paths, const Config& config, bool force_exclude = false);

} // namespace oomlint
