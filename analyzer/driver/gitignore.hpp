#pragma once
// What a git repository's .gitignore files ignore, as `git status` reads them: each file's
// patterns apply below its folder, later patterns override earlier ones, `!` re-includes, a
// trailing `/` matches folders only, and a pattern with a `/` is anchored to its folder.
// Outside a git repository nothing is ignored (as Ruff does).
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace oomlint {

class GitIgnore {
public:
  // Whether `path` (a file, or a folder when `is_dir`) is ignored by the .gitignore files of its
  // repository, from the repository's top down to its own folder.
  bool ignored(const std::filesystem::path& path, bool is_dir);

private:
  struct Pattern {
    std::string glob;
    bool negated = false;
    bool dir_only = false;
    bool anchored = false;
  };
  const std::vector<Pattern>& patterns_of(const std::filesystem::path& dir);
  std::optional<std::filesystem::path> repository_of(const std::filesystem::path& dir);

  std::map<std::string, std::vector<Pattern>> m_patterns;             // folder -> its .gitignore
  std::map<std::string, std::optional<std::filesystem::path>> m_repo; // folder -> repository top
  std::map<std::string, bool> m_folders;                              // folder -> ignored
};

} // namespace oomlint
