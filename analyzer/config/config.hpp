#pragma once
// Configuration from `[tool.oomlint]` in pyproject.toml, or oomlint.toml / .oomlint.toml, and
// the rule selection it and the command line make (Ruff's select / extend-select / ignore).
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/model/model.hpp"
#include "analyzer/rule_api.hpp"
#include "analyzer/source/source_file.hpp"
#include "analyzer/support/expected.hpp"

namespace oomlint {

struct PerFileIgnore {
  std::string pattern;
  std::vector<std::string> codes;
};

struct Config {
  std::string source_path;    // the file it came from; empty for defaults
  std::filesystem::path root; // globs are relative to this folder
  std::optional<std::vector<std::string>> select;
  std::vector<std::string> extend_select;
  std::vector<std::string> ignore;
  std::vector<std::string> fixable;
  std::vector<std::string> unfixable;
  std::vector<std::string> exclude;
  std::vector<std::string> extend_exclude;
  bool respect_gitignore = true; // skip what .gitignore files ignore while searching folders
  bool force_exclude = false;    // apply the excludes to files named explicitly too
  std::vector<PerFileIgnore> per_file_ignores;
  std::uint64_t max_file_bytes = kDefaultMaxFileBytes; // larger files are skipped with a message
  model::ModelOptions model;
  std::map<std::string, RuleOptionValues> rule_options; // code -> option -> values
};

// Directories never searched unless named on the command line.
const std::vector<std::string>& default_excludes();

// Looks from `start` upwards for .oomlint.toml, oomlint.toml, or a pyproject.toml with a
// [tool.oomlint] table; empty when none.
std::optional<std::filesystem::path> find_config_file(const std::filesystem::path& start);

// Whether a file name is one that find_config_file() reads (`pyproject.toml`, `oomlint.toml`,
// `.oomlint.toml`): editing such a file may change the configuration.
bool is_configuration_file_name(std::string_view filename);

// Parses and validates a configuration file against the rule catalog.
Expected<Config> load_config(const std::filesystem::path& path, const std::vector<const RuleMeta*>& catalog);

// Applies a `key=value` override (fixture directives, tests) in TOML syntax.
Expected<Config> apply_override(Config config, std::string_view key, std::string_view toml_value,
                                const std::vector<const RuleMeta*>& catalog);

// A selector is `ALL`, a rule code, or a prefix of codes (`OOM1`).
bool is_known_selector(std::string_view selector, const std::vector<const RuleMeta*>& catalog);

// The codes enabled by the config and the command line's select/extend-select/ignore.
struct SelectionFlags {
  std::optional<std::vector<std::string>> select;
  std::vector<std::string> extend_select;
  std::vector<std::string> ignore;
};
std::set<std::string> enabled_codes(const Config& config, const SelectionFlags& flags,
                                    const std::vector<const RuleMeta*>& catalog);

// Codes ignored for this file by per-file-ignores.
std::set<std::string> ignored_for_file(const Config& config, const std::filesystem::path& file,
                                       const std::vector<const RuleMeta*>& catalog);

bool glob_matches(std::string_view pattern, std::string_view path);

// Why a glob cannot match what its author meant (an unclosed `[`, a trailing backslash), if so.
std::optional<std::string> glob_problem(std::string_view pattern);

} // namespace oomlint
