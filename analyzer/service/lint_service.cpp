#include "analyzer/service/lint_service.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include <fmt/format.h>

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

ProjectRun LintService::lint(const std::vector<LintInput>& inputs, const Settings& settings, int jobs) const {
  return lint_project(inputs, settings.lint(), jobs);
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
                                    const Settings& settings, const syntax::Tree* previous,
                                    const model::ProjectContext* project) const {
  BufferLint out;
  out.report = lint_source(std::move(source), parser, settings.lint(), project, previous, &out.tree);
  return out;
}

FixOutcome LintService::fix_buffer(std::shared_ptr<const SourceFile> source, syntax::Parser& parser,
                                   const Settings& settings, const FixPolicy& policy,
                                   const model::ProjectContext* project) const {
  return fix_source(std::move(source), parser, settings.lint(), policy, project);
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
