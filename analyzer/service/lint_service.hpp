#pragma once
// The lint service: what the command line, the language server and the verifier ask of the
// analyzer, with no decision about I/O or output. It resolves the configuration that applies
// to a path, lints files or buffers (saved or not) as one project, computes and applies fixes,
// and gives a rule's documentation. Callers decide what to read, write and print.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/config/config.hpp"
#include "analyzer/driver/linter.hpp"
#include "analyzer/fix/fixer.hpp"
#include "analyzer/rule_api.hpp"
#include "analyzer/support/expected.hpp"
#include "analyzer/syntax/parser.hpp"

namespace oomlint::service {

// What the caller adds to the configuration files (Ruff's command-line selection).
struct Overrides {
  std::vector<std::string> select; // empty: the configuration's own selection
  std::vector<std::string> extend_select;
  std::vector<std::string> ignore;
  std::optional<std::vector<std::string>> exclude; // replaces the configuration's `exclude`
  std::vector<std::string> extend_exclude;
  std::optional<bool> force_exclude;
  std::optional<bool> respect_gitignore;
  std::string config_file; // use this file instead of looking for one
  bool isolated = false;   // ignore every configuration file
  bool unsafe_fixes = false;
};

// The effective settings for the files under one configuration: which rules run, which fixes
// may be applied. Shared and immutable once made; `lint.config` points at `config`.
class Settings {
public:
  Settings(Config config, const std::vector<Rule>& rules, const Overrides& overrides);
  Settings(const Settings&) = delete;
  Settings& operator=(const Settings&) = delete;

  [[nodiscard]] const Config& config() const { return m_config; }
  [[nodiscard]] const LintSettings& lint() const { return m_lint; }
  [[nodiscard]] const FixPolicy& fix_policy() const { return m_fix; }
  // The configuration file these settings came from; empty for the defaults.
  [[nodiscard]] const std::string& source() const { return m_config.source_path; }

private:
  Config m_config;
  LintSettings m_lint;
  FixPolicy m_fix;
};

// One buffer's lint, with its tree and top-level statements: give them back (PreviousLint) with
// the edits made since (ts_tree_edit) and the next lint parses and analyses only what changed.
using BufferLint = BufferResult;

class LintService {
public:
  LintService(std::vector<Rule> rules, std::string docs_url_base);

  [[nodiscard]] const std::vector<const RuleMeta*>& catalog() const { return m_catalog; }
  [[nodiscard]] const std::vector<Rule>& rules() const { return m_rules; }

  // A selector the catalog does not know, as a sentence naming `flag`.
  [[nodiscard]] std::optional<std::string> unknown_selector(const std::vector<std::string>& codes,
                                                            std::string_view flag) const;

  // The settings for files at and below `start` (a file or a folder): the configuration file
  // found from there upwards, or the one the overrides name. Loaded files are remembered by path
  // until forget_configuration().
  [[nodiscard]] Expected<std::shared_ptr<const Settings>> settings_for(const std::filesystem::path& start,
                                                                       const Overrides& overrides);
  // Drops what settings_for() remembered (a configuration file changed).
  void forget_configuration();

  // Lints inputs (files to read, or texts under their paths) as one project.
  // `cache`: results of earlier runs to read and keep up to date (the CLI's `check`); none by default.
  [[nodiscard]] ProjectRun lint(const std::vector<LintInput>& inputs, const Settings& settings, int jobs,
                                const LintCache* cache = nullptr) const;

  // Fixes each input of a run that has something to fix, re-linted with the run's facts; nothing
  // is written.
  [[nodiscard]] std::vector<FixOutcome> fix(const std::vector<LintInput>& inputs, const ProjectRun& run,
                                            const Settings& settings, int jobs) const;

  // Lints one buffer; `previous` (its last lint and the edits since) makes the lint incremental,
  // `project` adds the facts of the rest of the project.
  [[nodiscard]] BufferLint lint_buffer(std::shared_ptr<const SourceFile> source, syntax::Parser& parser,
                                       const Settings& settings, const PreviousLint* previous,
                                       const model::ProjectContext* project) const;

  // Fixes one buffer in memory with the given policy.
  [[nodiscard]] FixOutcome fix_buffer(std::shared_ptr<const SourceFile> source, syntax::Parser& parser,
                                      const Settings& settings, const FixPolicy& policy,
                                      const model::ProjectContext* project) const;

  // The buffer with exactly these fixes applied, as `--fix` applies them (the verifier's fixed
  // runs); an error when they overlap or the result would not parse.
  [[nodiscard]] Expected<std::string> fixed_text(const SourceFile& source, const std::vector<const Fix*>& fixes,
                                                 syntax::Parser& parser) const;

  // `--add-noqa`: the buffer with a `# noqa: CODES` directive on the line of each finding. The
  // result is linted again; it is refused (`refused` says why) unless exactly those findings are
  // gone and it still parses.
  struct NoqaOutcome {
    std::shared_ptr<const SourceFile> text; // null when nothing was added
    std::size_t added = 0;                  // directives written or extended
    std::optional<std::string> refused;
  };
  [[nodiscard]] NoqaOutcome add_noqa(const FileReport& report, syntax::Parser& parser, const Settings& settings,
                                     const model::ProjectContext* project) const;

  // A rule by code or name, its documentation (Markdown) and the address of its page.
  [[nodiscard]] const RuleMeta* rule(std::string_view code_or_name) const;
  [[nodiscard]] std::string rule_docs(const RuleMeta& meta) const;
  [[nodiscard]] std::string rule_url(std::string_view code) const;
  [[nodiscard]] const std::string& docs_url_base() const { return m_docs_url_base; }

private:
  std::vector<Rule> m_rules;
  std::vector<const RuleMeta*> m_catalog;
  std::string m_docs_url_base;
  std::mutex m_mutex;
  std::map<std::string, std::shared_ptr<const Config>> m_loaded; // by configuration file
};

} // namespace oomlint::service
