#include "analyzer/driver/discovery.hpp"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "analyzer/driver/gitignore.hpp"

namespace oomlint {

namespace {

namespace fs = std::filesystem;

// Patterns match the entry's name, its path below the folder being searched, and its path
// below the configuration's folder; never the folders above what the user asked for.
bool excluded(const fs::path& path, const fs::path& walk_root, const Config& config) {
  std::error_code ec;
  const std::string name = path.filename().string();
  const std::string below_walk = path.lexically_relative(walk_root).generic_string();
  std::string below_config;
  if (!config.root.empty()) {
    const std::string rel = fs::absolute(path, ec).lexically_relative(config.root).generic_string();
    if (!rel.starts_with("..")) {
      below_config = rel;
    }
  }
  auto matches = [&](const std::vector<std::string>& patterns) {
    return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
      return glob_matches(p, name) || glob_matches(p, below_walk) ||
             (!below_config.empty() && glob_matches(p, below_config));
    });
  };
  return matches(default_excludes()) || matches(config.exclude) || matches(config.extend_exclude);
}

std::string describe_status_error(const std::error_code& ec) {
  if (ec == std::errc::too_many_symbolic_link_levels) {
    return "is a symbolic link loop; fix or remove the link";
  }
  if (ec == std::errc::no_such_file_or_directory) {
    return "no such file or directory; check the path";
  }
  if (ec == std::errc::permission_denied) {
    return "permission denied; check the folder's permissions";
  }
  return fmt::format("cannot be read: {}", ec.message());
}

bool is_python_file(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".py" || ext == ".pyi";
}

// Found under `.`: printed as `train.py`, not `./train.py`, as the user would write it.
std::string as_written(const fs::path& found) {
  std::string text = found.string();
  if (text.starts_with("./") && text.size() > 2) {
    text.erase(0, 2);
  }
  return text;
}

} // namespace

Discovery discover(const std::vector<std::string>& paths, const Config& config, bool force_exclude) {
  Discovery out;
  GitIgnore gitignore;
  const auto skipped = [&](const fs::path& path, const fs::path& walk_root, bool is_dir) {
    return excluded(path, walk_root, config) || (config.respect_gitignore && gitignore.ignored(path, is_dir));
  };
  const bool forced = force_exclude || config.force_exclude;
  for (const std::string& given : paths) {
    std::error_code ec;
    const fs::path path(given);
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) {
      out.errors.push_back(
          Error{describe_status_error(ec ? ec : std::make_error_code(std::errc::no_such_file_or_directory)), given});
      continue;
    }
    const fs::path named = path.has_parent_path() ? path.parent_path() : fs::path(".");
    if (forced && skipped(path, named, fs::is_directory(st))) {
      continue;
    }
    if (!fs::is_directory(st)) {
      if (path.extension() == ".ipynb") {
        out.notebooks.push_back(given);
      } else {
        out.files.push_back(given);
      }
      continue;
    }
    fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec);
    if (ec) {
      out.errors.push_back(Error{describe_status_error(ec), given});
      continue;
    }
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) {
        out.errors.push_back(Error{describe_status_error(ec), it->path().string()});
        ec.clear();
        continue;
      }
      const fs::directory_entry& entry = *it;
      std::error_code entry_ec;
      if (entry.is_directory(entry_ec)) {
        if (entry.is_symlink(entry_ec) || skipped(entry.path(), path, true)) {
          it.disable_recursion_pending();
        }
        continue;
      }
      if (!is_python_file(entry.path())) {
        if (entry.path().extension() == ".ipynb" && !skipped(entry.path(), path, false)) {
          out.notebooks.push_back(as_written(entry.path()));
        }
        continue;
      }
      if (!entry.is_regular_file(entry_ec)) {
        if (entry.is_symlink(entry_ec)) {
          const fs::file_status target = fs::status(entry.path(), entry_ec);
          if (entry_ec) {
            out.errors.push_back(Error{describe_status_error(entry_ec), entry.path().string()});
          }
          (void)target;
        }
        continue;
      }
      if (skipped(entry.path(), path, false)) {
        continue;
      }
      out.files.push_back(as_written(entry.path()));
    }
  }
  for (std::vector<std::string>* list : {&out.files, &out.notebooks}) {
    std::sort(list->begin(), list->end());
    list->erase(std::unique(list->begin(), list->end()), list->end());
  }
  return out;
}

} // namespace oomlint
