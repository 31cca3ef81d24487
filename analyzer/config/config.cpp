#include "analyzer/config/config.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <array>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace oomlint {

namespace {

namespace fs = std::filesystem;

Error node_error(const Config& config, const toml::node& node, std::string message) {
  const auto& src = node.source();
  return Error{std::move(message), config.source_path, static_cast<int>(src.begin.line),
               static_cast<int>(src.begin.column)};
}

Expected<std::vector<std::string>> string_list(const Config& config, const toml::node& node, std::string_view key) {
  const toml::array* arr = node.as_array();
  if (arr == nullptr) {
    return node_error(config, node, fmt::format("`{}` must be a list of strings, e.g. {} = [\"...\"]", key, key));
  }
  std::vector<std::string> out;
  for (const toml::node& item : *arr) {
    const auto* s = item.as_string();
    if (s == nullptr) {
      return node_error(config, item, fmt::format("`{}` must hold only strings", key));
    }
    out.push_back(s->get());
  }
  return out;
}

std::string toml_value_text(const toml::node& node) {
  if (const auto* s = node.as_string()) {
    return s->get();
  }
  std::ostringstream out;
  if (const auto* b = node.as_boolean()) {
    out << (b->get() ? "true" : "false");
  } else if (const auto* i = node.as_integer()) {
    out << i->get();
  } else if (const auto* f = node.as_floating_point()) {
    out << f->get();
  }
  return out.str();
}

} // namespace

// fnmatch() treats these as literal text (or nothing) without a word, so the exclude would
// silently do nothing.
std::optional<std::string> glob_problem(std::string_view pattern) {
  if (pattern.empty()) {
    return "an empty glob matches nothing";
  }
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      if (i + 1 == pattern.size()) {
        return "the glob ends in a lone backslash";
      }
      ++i;
    } else if (pattern[i] == '[') {
      size_t k = i + 1;
      if (k < pattern.size() && (pattern[k] == '!' || pattern[k] == '^')) {
        ++k;
      }
      if (k < pattern.size() && pattern[k] == ']') {
        ++k; // a `]` first in the set is a member
      }
      while (k < pattern.size() && pattern[k] != ']') {
        ++k;
      }
      if (k >= pattern.size()) {
        return "the glob opens a `[` character set that never closes (write `[[]` for a literal `[`)";
      }
      i = k;
    }
  }
  return std::nullopt;
}

namespace {

std::optional<Error> check_globs(const Config& config, const toml::node& node, const std::vector<std::string>& globs,
                                 std::string_view key) {
  const toml::array* arr = node.as_array();
  for (size_t i = 0; i < globs.size(); ++i) {
    if (auto problem = glob_problem(globs[i])) {
      const toml::node& where = (arr != nullptr && i < arr->size()) ? *arr->get(i) : node;
      return node_error(config, where, fmt::format("invalid glob `{}` in `{}`: {}", globs[i], key, *problem));
    }
  }
  return std::nullopt;
}

// A rule option's value must have the type the rule declares (`bool`, `int`, `str`, `list[str]`).
std::optional<Error> check_option_type(const Config& config, const toml::node& value, const RuleOption& option,
                                       std::string_view code) {
  bool ok = true;
  if (option.type == "bool") {
    ok = value.is_boolean();
  } else if (option.type == "int") {
    ok = value.is_integer();
  } else if (option.type == "str") {
    ok = value.is_string();
  } else if (option.type == "list[str]") {
    const toml::array* arr = value.as_array();
    ok = arr != nullptr && std::all_of(arr->begin(), arr->end(), [](const toml::node& n) { return n.is_string(); });
  }
  if (ok) {
    return std::nullopt;
  }
  return node_error(config, value,
                    fmt::format("`options.{}.{}` must be a {} (default: {}); `oomlint rule {}` describes it", code,
                                option.name, option.type, option.default_value, code));
}

Expected<Config> read_table(Config config, const toml::table& table, const std::vector<const RuleMeta*>& catalog) {
  auto check_codes = [&](const toml::node& node, const std::vector<std::string>& codes,
                         std::string_view key) -> std::optional<Error> {
    const toml::array* arr = node.as_array();
    for (size_t i = 0; i < codes.size(); ++i) {
      if (!is_known_selector(codes[i], catalog)) {
        const toml::node& where = (arr != nullptr && i < arr->size()) ? *arr->get(i) : node;
        return node_error(
            config, where,
            fmt::format("unknown rule code `{}` in `{}`; `oomlint rule --all` lists the codes", codes[i], key));
      }
    }
    return std::nullopt;
  };
  for (const auto& [key_node, value] : table) {
    const std::string key(key_node.str());
    if (key == "select" || key == "extend-select" || key == "ignore" || key == "fixable" || key == "unfixable") {
      auto list = string_list(config, value, key);
      if (!list) {
        return list.error();
      }
      if (auto err = check_codes(value, *list, key)) {
        return *err;
      }
      if (key == "select") {
        config.select = *list;
      } else if (key == "extend-select") {
        config.extend_select = *list;
      } else if (key == "ignore") {
        config.ignore = *list;
      } else if (key == "fixable") {
        config.fixable = *list;
      } else {
        config.unfixable = *list;
      }
    } else if (key == "exclude" || key == "extend-exclude" || key == "extra-loss-functions" ||
               key == "extra-model-names" || key == "extra-grad-disabled-decorators") {
      auto list = string_list(config, value, key);
      if (!list) {
        return list.error();
      }
      if (key == "exclude" || key == "extend-exclude") {
        if (auto err = check_globs(config, value, *list, key)) {
          return *err;
        }
      }
      if (key == "exclude") {
        config.exclude = *list;
      } else if (key == "extend-exclude") {
        config.extend_exclude = *list;
      } else if (key == "extra-loss-functions") {
        config.model.extra_loss_functions = *list;
      } else if (key == "extra-model-names") {
        config.model.extra_model_names = *list;
      } else {
        config.model.extra_grad_disabled_decorators = *list;
      }
    } else if (key == "respect-gitignore" || key == "force-exclude") {
      const auto* flag = value.as_boolean();
      if (flag == nullptr) {
        return node_error(config, value, fmt::format("`{}` must be true or false", key));
      }
      (key == "respect-gitignore" ? config.respect_gitignore : config.force_exclude) = flag->get();
    } else if (key == "max-file-size-mb") {
      const auto* size = value.as_integer();
      if (size == nullptr || size->get() < 1) {
        return node_error(config, value, "`max-file-size-mb` must be a whole number of megabytes, at least 1");
      }
      config.max_file_bytes = static_cast<std::uint64_t>(size->get()) * 1024 * 1024;
    } else if (key == "per-file-ignores") {
      const toml::table* t = value.as_table();
      if (t == nullptr) {
        return node_error(config, value, "`per-file-ignores` must be a table of glob = [codes]");
      }
      for (const auto& [glob, codes_node] : *t) {
        auto codes = string_list(config, codes_node, "per-file-ignores");
        if (!codes) {
          return codes.error();
        }
        if (auto err = check_codes(codes_node, *codes, "per-file-ignores")) {
          return *err;
        }
        if (auto problem = glob_problem(glob.str())) {
          return node_error(config, codes_node,
                            fmt::format("invalid glob `{}` in `per-file-ignores`: {}", glob.str(), *problem));
        }
        config.per_file_ignores.push_back(PerFileIgnore{std::string(glob.str()), *codes});
      }
    } else if (key == "options") {
      const toml::table* t = value.as_table();
      if (t == nullptr) {
        return node_error(config, value, "`options` must be a table of rule code = { option = value }");
      }
      for (const auto& [code_key, opts_node] : *t) {
        const std::string code(code_key.str());
        auto meta = std::find_if(catalog.begin(), catalog.end(), [&](const RuleMeta* m) { return m->code == code; });
        if (meta == catalog.end()) {
          return node_error(
              config, opts_node,
              fmt::format("unknown rule code `{}` in `options`; `oomlint rule --all` lists the codes", code));
        }
        const toml::table* opts = opts_node.as_table();
        if (opts == nullptr) {
          return node_error(config, opts_node, fmt::format("`options.{}` must be a table", code));
        }
        for (const auto& [opt_key, opt_value] : *opts) {
          const std::string opt(opt_key.str());
          const auto& declared = (*meta)->options;
          const auto option =
              std::find_if(declared.begin(), declared.end(), [&](const RuleOption& o) { return o.name == opt; });
          if (option == declared.end()) {
            return node_error(
                config, opt_value,
                fmt::format("{} has no option `{}`; `oomlint rule {}` lists its options", code, opt, code));
          }
          if (auto err = check_option_type(config, opt_value, *option, code)) {
            return *err;
          }
          std::vector<std::string> values;
          if (const toml::array* arr = opt_value.as_array()) {
            for (const toml::node& item : *arr) {
              values.push_back(toml_value_text(item));
            }
          } else {
            values.push_back(toml_value_text(opt_value));
          }
          config.rule_options[code][opt] = values;
        }
      }
    } else {
      return node_error(
          config, value,
          fmt::format("unknown key `{}` in oomlint configuration; see README.md#configuration for the keys", key));
    }
  }
  return config;
}

} // namespace

const std::vector<std::string>& default_excludes() {
  static const std::vector<std::string> kExcludes = {
      ".git",           ".hg",         ".svn",          ".venv",         "venv",           ".tox",
      ".nox",           ".mypy_cache", ".pytest_cache", ".ruff_cache",   ".oomlint_cache", "__pycache__",
      "node_modules",   "build",       "dist",          "site-packages", ".eggs",          "*.egg-info",
      "__pypackages__", ".direnv",     "_build",        "buck-out"};
  return kExcludes;
}

namespace {
constexpr std::array<const char*, 2> kOwnConfigNames = {".oomlint.toml", "oomlint.toml"};
} // namespace

bool is_configuration_file_name(std::string_view filename) {
  return filename == "pyproject.toml" ||
         std::any_of(kOwnConfigNames.begin(), kOwnConfigNames.end(), [&](const char* n) { return filename == n; });
}

std::optional<fs::path> find_config_file(const fs::path& start) {
  std::error_code ec;
  fs::path dir = fs::absolute(start, ec);
  if (ec) {
    return std::nullopt;
  }
  if (!fs::is_directory(dir, ec)) {
    dir = dir.parent_path();
  }
  while (true) {
    for (const char* name : kOwnConfigNames) {
      if (fs::is_regular_file(dir / name, ec)) {
        return dir / name;
      }
    }
    const fs::path pyproject = dir / "pyproject.toml";
    if (fs::is_regular_file(pyproject, ec)) {
      try {
        const toml::table t = toml::parse_file(pyproject.string());
        if (t["tool"]["oomlint"].as_table() != nullptr) {
          return pyproject;
        }
      } catch (const toml::parse_error&) {
        return pyproject; // report the parse error when it is loaded
      }
    }
    if (!dir.has_parent_path() || dir.parent_path() == dir) {
      return std::nullopt;
    }
    dir = dir.parent_path();
  }
}

Expected<Config> load_config(const fs::path& path, const std::vector<const RuleMeta*>& catalog) {
  Config config;
  config.source_path = path.string();
  std::error_code ec;
  config.root = fs::absolute(path, ec).parent_path();
  toml::table table;
  try {
    table = toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    return Error{fmt::format("invalid TOML: {}", e.description()), config.source_path,
                 static_cast<int>(e.source().begin.line), static_cast<int>(e.source().begin.column)};
  } catch (const std::exception& e) {
    return Error{fmt::format("cannot read configuration: {}", e.what()), config.source_path};
  }
  if (path.filename() == "pyproject.toml") {
    const toml::table* ours = table["tool"]["oomlint"].as_table();
    if (ours == nullptr) {
      return config;
    }
    return read_table(std::move(config), *ours, catalog);
  }
  return read_table(std::move(config), table, catalog);
}

Expected<Config> apply_override(Config config, std::string_view key, std::string_view toml_value,
                                const std::vector<const RuleMeta*>& catalog) {
  // `options.OOM301.allow-periodic=false` becomes a nested table.
  std::string doc;
  std::string leaf(key);
  const size_t dot = key.rfind('.');
  if (dot != std::string_view::npos) {
    doc = fmt::format("[{}]\n", key.substr(0, dot));
    leaf = std::string(key.substr(dot + 1));
  }
  doc += fmt::format("\"{}\" = {}\n", leaf, toml_value);
  toml::table table;
  try {
    table = toml::parse(doc);
  } catch (const toml::parse_error& e) {
    return Error{fmt::format("invalid override `{}={}`: {}", key, toml_value, e.description()), config.source_path};
  }
  const std::string saved_path = config.source_path;
  config.source_path = "<override>";
  auto result = read_table(std::move(config), table, catalog);
  if (result) {
    result->source_path = saved_path;
  }
  return result;
}

bool is_known_selector(std::string_view selector, const std::vector<const RuleMeta*>& catalog) {
  if (selector == "ALL") {
    return true;
  }
  return std::any_of(catalog.begin(), catalog.end(), [&](const RuleMeta* m) { return m->code.starts_with(selector); });
}

namespace {

bool selects(std::string_view selector, std::string_view code) {
  return selector == "ALL" || code.starts_with(selector);
}

} // namespace

std::set<std::string> enabled_codes(const Config& config, const SelectionFlags& flags,
                                    const std::vector<const RuleMeta*>& catalog) {
  std::set<std::string> out;
  const std::optional<std::vector<std::string>>& select = flags.select ? flags.select : config.select;
  for (const RuleMeta* m : catalog) {
    bool on = m->default_enabled;
    if (select) {
      // Explicit selection: a rule is on when a selector names it; an exact code also turns
      // on a rule that is off by default, a prefix does not (Ruff's preview-like behaviour).
      on = std::any_of(select->begin(), select->end(), [&](const std::string& s) {
        return s == m->code || (selects(s, m->code) && m->default_enabled);
      });
    }
    for (const auto* list : {&config.extend_select, &flags.extend_select}) {
      for (const std::string& s : *list) {
        if (s == m->code || (selects(s, m->code) && m->default_enabled)) {
          on = true;
        }
      }
    }
    for (const auto* list : {&config.ignore, &flags.ignore}) {
      for (const std::string& s : *list) {
        if (selects(s, m->code)) {
          on = false;
        }
      }
    }
    if (on) {
      out.emplace(m->code);
    }
  }
  return out;
}

bool glob_matches(std::string_view pattern, std::string_view path) {
  const std::string p(pattern);
  const std::string s(path);
  if (::fnmatch(p.c_str(), s.c_str(), 0) == 0) {
    return true;
  }
  // A pattern without a slash also matches any single component (`build`, `*.egg-info`).
  if (p.find('/') == std::string::npos) {
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find('/', start);
      if (end == std::string::npos) {
        end = s.size();
      }
      const std::string part = s.substr(start, end - start);
      if (!part.empty() && ::fnmatch(p.c_str(), part.c_str(), 0) == 0) {
        return true;
      }
      start = end + 1;
    }
  }
  // `dir/**` style patterns: a prefix match on the folder.
  if (p.ends_with("/**") && (s == p.substr(0, p.size() - 3) || s.starts_with(p.substr(0, p.size() - 2)))) {
    return true;
  }
  return false;
}

std::set<std::string> ignored_for_file(const Config& config, const fs::path& file,
                                       const std::vector<const RuleMeta*>& catalog) {
  std::set<std::string> out;
  if (config.per_file_ignores.empty()) {
    return out;
  }
  std::error_code ec;
  const fs::path abs = fs::absolute(file, ec);
  std::string rel = config.root.empty() ? file.generic_string() : abs.lexically_relative(config.root).generic_string();
  for (const PerFileIgnore& pfi : config.per_file_ignores) {
    if (glob_matches(pfi.pattern, rel) || glob_matches(pfi.pattern, file.generic_string())) {
      for (const RuleMeta* m : catalog) {
        for (const std::string& c : pfi.codes) {
          if (selects(c, m->code)) {
            out.emplace(m->code);
          }
        }
      }
    }
  }
  return out;
}

} // namespace oomlint
