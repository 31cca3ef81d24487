#include "analyzer/driver/gitignore.hpp"

#include <fnmatch.h>

#include <fstream>
#include <system_error>

namespace oomlint {

namespace fs = std::filesystem;

namespace {

bool glob(const std::string& pattern, const std::string& text, bool path_aware) {
  return ::fnmatch(pattern.c_str(), text.c_str(), path_aware ? FNM_PATHNAME : 0) == 0;
}

// An anchored pattern against a path below its folder. `**` spans folders: such patterns are
// matched without FNM_PATHNAME, and `dir/**` also matches everything below `dir`.
bool anchored_match(const std::string& pattern, const std::string& rel) {
  if (pattern.find("**") == std::string::npos) {
    return glob(pattern, rel, true);
  }
  if (pattern.starts_with("**/") && glob(pattern.substr(3), rel, false)) {
    return true;
  }
  return glob(pattern, rel, false);
}

} // namespace

std::optional<fs::path> GitIgnore::repository_of(const fs::path& dir) {
  const std::string key = dir.string();
  if (auto it = m_repo.find(key); it != m_repo.end()) {
    return it->second;
  }
  std::optional<fs::path> top;
  std::error_code ec;
  if (fs::exists(dir / ".git", ec)) {
    top = dir;
  } else if (dir.has_parent_path() && dir.parent_path() != dir) {
    top = repository_of(dir.parent_path());
  }
  m_repo[key] = top;
  return top;
}

const std::vector<GitIgnore::Pattern>& GitIgnore::patterns_of(const fs::path& dir) {
  const std::string key = dir.string();
  if (auto it = m_patterns.find(key); it != m_patterns.end()) {
    return it->second;
  }
  std::vector<Pattern>& out = m_patterns[key];
  std::ifstream in(dir / ".gitignore");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    while (!line.empty() && line.back() == ' ' && !(line.size() >= 2 && line[line.size() - 2] == '\\')) {
      line.pop_back();
    }
    if (line.empty() || line.front() == '#') {
      continue;
    }
    Pattern p;
    if (line.front() == '!') {
      p.negated = true;
      line.erase(0, 1);
    } else if (line.starts_with("\\#") || line.starts_with("\\!")) {
      line.erase(0, 1);
    }
    if (!line.empty() && line.back() == '/') {
      p.dir_only = true;
      line.pop_back();
    }
    if (line.empty()) {
      continue;
    }
    p.anchored = line.find('/') != std::string::npos;
    if (line.front() == '/') {
      line.erase(0, 1);
    }
    p.glob = line;
    out.push_back(std::move(p));
  }
  return out;
}

bool GitIgnore::ignored(const fs::path& path, bool is_dir) {
  std::error_code ec;
  const fs::path abs = fs::absolute(path, ec).lexically_normal();
  if (is_dir) {
    if (auto it = m_folders.find(abs.string()); it != m_folders.end()) {
      return it->second;
    }
  }
  const fs::path folder = abs.parent_path();
  const auto top = repository_of(folder);
  if (!top) {
    return false;
  }
  // Folders from the repository's top down to the path's own folder; an ignored folder
  // ignores everything in it.
  std::vector<fs::path> chain;
  for (fs::path d = folder; d.string().size() >= top->string().size(); d = d.parent_path()) {
    chain.insert(chain.begin(), d);
    if (d == *top || d == d.parent_path()) {
      break;
    }
  }
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (ignored(chain[i], true)) {
      return true;
    }
  }
  bool result = false;
  const std::string name = abs.filename().string();
  for (const fs::path& dir : chain) {
    const std::string rel = abs.lexically_relative(dir).generic_string();
    for (const Pattern& p : patterns_of(dir)) {
      if (p.dir_only && !is_dir) {
        continue;
      }
      const bool hit = p.anchored ? anchored_match(p.glob, rel) : glob(p.glob, name, false);
      if (hit) {
        result = !p.negated;
      }
    }
  }
  if (is_dir) {
    m_folders[abs.string()] = result;
  }
  return result;
}

} // namespace oomlint
