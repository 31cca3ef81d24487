#include "analyzer/service/lint_service.hpp"

#include <algorithm>
#include <exception>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "analyzer/fix/noqa.hpp"
#include "analyzer/output/rule_docs.hpp"

namespace oomlint::service {

namespace {

std::vector<const RuleMeta*> metas_of(const std::vector<Rule>& rules) {
  std::vector<const RuleMeta*> out;
  out.reserve(rules.size());
  for (const Rule& r : rules) {
    out.push_back(r.meta);
  }
  return out;
}

} // namespace

Settings::Settings(Config config, const std::vector<Rule>& rules, const Overrides& overrides)
    : m_config(std::move(config)) {
  if (overrides.exclude) {
    m_config.exclude = *overrides.exclude;
  }
  m_config.extend_exclude.insert(m_config.extend_exclude.end(), overrides.extend_exclude.begin(),
                                 overrides.extend_exclude.end());
  m_config.force_exclude = overrides.force_exclude.value_or(m_config.force_exclude);
  m_config.respect_gitignore = overrides.respect_gitignore.value_or(m_config.respect_gitignore);
  const std::vector<const RuleMeta*> catalog = metas_of(rules);
  SelectionFlags flags;
  if (!overrides.select.empty()) {
    flags.select = overrides.select;
  }
  flags.extend_select = overrides.extend_select;
  flags.ignore = overrides.ignore;
  m_lint.rules = rules;
  m_lint.enabled = enabled_codes(m_config, flags, catalog);
  m_lint.config = &m_config;
  m_fix.unsafe = overrides.unsafe_fixes;
  m_fix.fixable = fixable_codes(m_config, catalog);
}

LintService::LintService(std::vector<Rule> rules, std::string docs_url_base)
    : m_rules(std::move(rules)), m_catalog(metas_of(m_rules)), m_docs_url_base(std::move(docs_url_base)) {}

std::optional<std::string> LintService::unknown_selector(const std::vector<std::string>& codes,
                                                         std::string_view flag) const {
  for (const std::string& c : codes) {
    if (!is_known_selector(c, m_catalog)) {
      return fmt::format("unknown rule code `{}` in {}; `oomlint rule --all` lists the codes", c, flag);
    }
  }
  return std::nullopt;
}

Expected<std::shared_ptr<const Settings>> LintService::settings_for(const std::filesystem::path& start,
                                                                    const Overrides& overrides) {
  std::optional<std::filesystem::path> file;
  if (!overrides.isolated && !overrides.config_file.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(overrides.config_file, ec)) {
      return Error{"configuration file not found; check the --config path", overrides.config_file};
    }
    file = overrides.config_file;
  } else if (!overrides.isolated) {
    file = find_config_file(start.empty() ? std::filesystem::current_path() : start);
  }
  if (!file) {
    return std::make_shared<const Settings>(Config{}, m_rules, overrides);
  }
  const std::string key = file->lexically_normal().string();
  {
    const std::lock_guard<std::mutex> lock(m_mutex);
    if (auto it = m_loaded.find(key); it != m_loaded.end()) {
      return std::make_shared<const Settings>(*it->second, m_rules, overrides);
    }
  }
  auto loaded = load_config(*file, m_catalog);
  if (!loaded) {
    return loaded.error();
  }
  auto config = std::make_shared<const Config>(std::move(*loaded));
  {
    const std::lock_guard<std::mutex> lock(m_mutex);
    m_loaded[key] = config;
  }
  return std::make_shared<const Settings>(*config, m_rules, overrides);
}

void LintService::forget_configuration() {
  const std::lock_guard<std::mutex> lock(m_mutex);
  m_loaded.clear();
}

ProjectRun LintService::lint(const std::vector<LintInput>& inputs, const Settings& settings, int jobs,
                             const LintCache* cache) const {
  if (cache == nullptr) {
    return lint_project(inputs, settings.lint(), jobs);
  }
  LintSettings with_cache = settings.lint();
  with_cache.cache = cache;
  return lint_project(inputs, with_cache, jobs);
}

std::vector<FixOutcome> LintService::fix(const std::vector<LintInput>& inputs, const ProjectRun& run,
                                         const Settings& settings, int jobs) const {
  const FixPolicy& policy = settings.fix_policy();
  std::vector<FixOutcome> outcomes(inputs.size());
  for_each_parallel(inputs.size(), jobs, [&](size_t i, syntax::Parser& parser) {
    FixOutcome& out = outcomes[i];
    out.report = run.reports[i];
    out.original = out.report.source;
    out.fixed = out.report.source;
    const bool fixable = std::any_of(out.report.findings.begin(), out.report.findings.end(),
                                     [&](const Finding& f) { return fix_allowed(f, policy); });
    if (out.report.error || !out.report.source || !fixable) {
      return;
    }
    try {
      out = fix_source(out.report.source, parser, settings.lint(), policy, &run.contexts[i]);
    } catch (const std::exception& e) {
      out.report.error =
          Error{fmt::format("internal error while fixing ({}); the file was not changed; please report it", e.what()),
                inputs[i].path};
    }
  });
  return outcomes;
}

BufferLint LintService::lint_buffer(std::shared_ptr<const SourceFile> source, syntax::Parser& parser,
                                    const Settings& settings, const PreviousLint* previous,
                                    const model::ProjectContext* project) const {
  return lint_buffer_incrementally(std::move(source), parser, settings.lint(), project, previous);
}

FixOutcome LintService::fix_buffer(std::shared_ptr<const SourceFile> source, syntax::Parser& parser,
                                   const Settings& settings, const FixPolicy& policy,
                                   const model::ProjectContext* project) const {
  return fix_source(std::move(source), parser, settings.lint(), policy, project);
}

Expected<std::string> LintService::fixed_text(const SourceFile& source, const std::vector<const Fix*>& fixes,
                                              syntax::Parser& parser) const {
  return apply_exactly(source, fixes, parser);
}

LintService::NoqaOutcome LintService::add_noqa(const FileReport& report, syntax::Parser& parser,
                                               const Settings& settings, const model::ProjectContext* project) const {
  NoqaOutcome out;
  if (!report.source || report.error || report.findings.empty()) {
    return out;
  }
  const auto is_syntax_error = [](const Finding& f) { return f.code == "OOM000"; };
  if (std::any_of(report.findings.begin(), report.findings.end(), is_syntax_error)) {
    out.refused = "the file does not parse; fix the syntax error first";
    return out;
  }
  std::map<std::uint32_t, std::set<std::string>> by_row;
  for (const Finding& f : report.findings) {
    by_row[f.noqa_row].insert(f.code);
  }
  std::vector<Edit> edits;
  for (const auto& [row, codes] : by_row) {
    edits.push_back(noqa_edit(*report.source, row, codes));
  }
  std::string text(report.source->text());
  for (auto it = edits.rbegin(); it != edits.rend(); ++it) { // from the end: offsets stay valid
    text.insert(it->start, it->content);
  }
  auto edited = std::make_shared<const SourceFile>(report.source->with_text(std::move(text)));
  const FileReport again = lint_source(edited, parser, settings.lint(), project);
  if (again.error || !again.findings.empty()) {
    out.refused = "a `# noqa` comment at the end of a finding's line would not silence it here (the line "
                  "ends inside a string?); add it by hand";
    return out;
  }
  out.text = std::move(edited);
  out.added = by_row.size();
  return out;
}

const RuleMeta* LintService::rule(std::string_view code_or_name) const {
  for (const RuleMeta* m : m_catalog) {
    if (m->code == code_or_name || m->name == code_or_name) {
      return m;
    }
  }
  return nullptr;
}

std::string LintService::rule_docs(const RuleMeta& meta) const {
  return rule_markdown(meta);
}

std::string LintService::rule_url(std::string_view code) const {
  if (m_docs_url_base.empty()) {
    return {};
  }
  return fmt::format("{}{}.md", m_docs_url_base, code);
}

} // namespace oomlint::service
