#include "analyzer/driver/linter.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>

#include "analyzer/diagnostics/suppression.hpp"
#include "analyzer/driver/lint_cache.hpp"
#include "analyzer/model/model.hpp"
#include "analyzer/support/crash_guard.hpp"
#include "analyzer/syntax/parser.hpp"
#include "analyzer/syntax/recovery.hpp"

namespace oomlint {

namespace {

const RuleOptionValues& options_for(const LintSettings& settings, std::string_view code) {
  static const RuleOptionValues kEmpty;
  if (settings.config == nullptr) {
    return kEmpty;
  }
  auto it = settings.config->rule_options.find(std::string(code));
  return it == settings.config->rule_options.end() ? kEmpty : it->second;
}

} // namespace

namespace {

std::optional<Error> encoding_error(const SourceFile& source) {
  if (!source.unsupported_encoding().empty()) {
    return Error{fmt::format("declares the encoding `{}` (PEP 263), which oomlint cannot read yet (it reads UTF-8 "
                             "and Latin-1); skipped: re-save the file as UTF-8 to check it",
                             source.unsupported_encoding()),
                 source.path()};
  }
  if (const auto& bad = source.utf8_problem()) {
    const RowCol pos = source.position(bad->byte, ColumnUnit::Byte);
    return Error{fmt::format("not valid UTF-8 (byte 0x{:02X}); Python 3 reads source as UTF-8: "
                             "re-save the file as UTF-8",
                             bad->value),
                 source.path(), static_cast<int>(pos.row + 1), static_cast<int>(pos.column + 1)};
  }
  return std::nullopt;
}

const model::ModelOptions& model_options(const LintSettings& settings) {
  static const model::ModelOptions kDefault;
  return settings.config != nullptr ? settings.config->model : kDefault;
}

std::optional<model::SyntaxProblem> syntax_problem(const syntax::RecoveredParse& parsed) {
  if (parsed.problem) {
    return model::SyntaxProblem{parsed.problem->node, parsed.problem->missing};
  }
  return std::nullopt;
}

// `# noqa: OOM999` silences nothing: most likely a typo of a real code. Other tools' codes
// (`E501`) are theirs to judge.
void note_unknown_noqa_codes(const ParsedComment& parsed, std::uint32_t row, const LintSettings& settings,
                             FileReport& report) {
  for (const auto* directive : {parsed.line ? &*parsed.line : nullptr, parsed.file ? &*parsed.file : nullptr}) {
    if (directive == nullptr) {
      continue;
    }
    for (const std::string& code : directive->codes) {
      const bool ours = code.size() > 3 && code.starts_with("OOM");
      const bool known = std::any_of(settings.rules.begin(), settings.rules.end(),
                                     [&](const Rule& r) { return r.meta->code == code; });
      if (ours && !known) {
        report.notices.push_back(fmt::format("{}:{}: `# noqa` names `{}`, which is not an oomlint rule, so it "
                                             "silences nothing; `oomlint rule --all` lists the codes",
                                             report.path, row + 1, code));
      }
    }
  }
}

// Runs the enabled rules on a built model and drops what `# noqa` suppresses.
void run_rules(const model::Model& model, const SourceFile& source, const LintSettings& settings, FileReport& report) {
  Reporter reporter(model);
  std::set<std::string> ignored;
  if (settings.config != nullptr) {
    std::vector<const RuleMeta*> catalog;
    for (const Rule& r : settings.rules) {
      catalog.push_back(r.meta);
    }
    ignored = ignored_for_file(*settings.config, source.path(), catalog);
  }
  for (const Rule& rule : settings.rules) {
    const std::string code(rule.meta->code);
    if (settings.enabled.count(code) == 0 || ignored.count(code) != 0) {
      continue;
    }
    RuleContext ctx{model, options_for(settings, code), reporter};
    rule.check(ctx);
  }
  Suppressions suppressions;
  report.notices.clear();
  for (TSNode comment : model.comments()) {
    const std::uint32_t row = ts_node_start_point(comment).row;
    suppressions.add_comment(row, model.text(comment));
    note_unknown_noqa_codes(parse_noqa_comment(model.text(comment)), row, settings, report);
  }
  report.findings.clear();
  for (Finding& f : reporter.findings()) {
    if (!suppressions.suppresses(f)) {
      report.findings.push_back(std::move(f));
    }
  }
  std::stable_sort(report.findings.begin(), report.findings.end(), [](const Finding& a, const Finding& b) {
    return a.start != b.start ? a.start < b.start : a.code < b.code;
  });
}

// Whether the rules left out of this run (`--select`, `--ignore`) find anything the file does not
// suppress. Which modules take a second look with the run's facts goes by the findings of every
// rule, so that selecting one rule never changes what another reports.
bool unselected_rules_find_something(const model::Model& model, const LintSettings& settings) {
  Reporter reporter(model);
  bool ran = false;
  for (const Rule& rule : settings.rules) {
    const std::string code(rule.meta->code);
    if (settings.enabled.count(code) != 0) {
      continue;
    }
    RuleContext ctx{model, options_for(settings, code), reporter};
    rule.check(ctx);
    ran = true;
  }
  if (!ran || reporter.findings().empty()) {
    return false;
  }
  Suppressions suppressions;
  for (TSNode comment : model.comments()) {
    suppressions.add_comment(ts_node_start_point(comment).row, model.text(comment));
  }
  const auto& found = reporter.findings();
  return std::any_of(found.begin(), found.end(), [&](const Finding& f) { return !suppressions.suppresses(f); });
}

} // namespace

namespace {

// Parses a source for linting; nullopt (with `report.error` set) when it cannot be read or parsed.
std::optional<syntax::RecoveredParse> parse_for_lint(const SourceFile& source, syntax::Parser& parser,
                                                     const syntax::EarlierTree* previous, FileReport& report) {
  if (auto bad = encoding_error(source)) {
    report.error = std::move(bad);
    return std::nullopt;
  }
  syntax::RecoveredParse parsed = syntax::parse_with_recovery(parser, source.text(), 8, previous);
  if (!parsed.original) {
    report.error = Error{"the parser gave up on this file; please report it with the file attached", source.path()};
    return std::nullopt;
  }
  return parsed;
}

void lint_whole(const SourceFile& source, const syntax::RecoveredParse& parsed, const LintSettings& settings,
                const model::ProjectContext* project, FileReport& report) {
  const model::Model model(source, parsed.best().root(), model_options(settings), syntax_problem(parsed), project);
  run_rules(model, source, settings, report);
}

} // namespace

FileReport lint_source(std::shared_ptr<const SourceFile> source, syntax::Parser& parser, const LintSettings& settings,
                       const model::ProjectContext* project) {
  FileReport report;
  report.path = source->path();
  report.source = source;
  if (auto parsed = parse_for_lint(*source, parser, nullptr, report)) {
    lint_whole(*source, *parsed, settings, project, report);
  }
  return report;
}

namespace {

bool affected(std::optional<std::size_t> unit, const std::vector<TopLevelUnit>& units, const RelintScope& scope) {
  return unit && std::binary_search(scope.affected.begin(), scope.affected.end(), units[*unit].start);
}

// A finding of the text before `edits`, where the same finding lies in the text after them.
Finding moved_through(Finding f, const std::vector<TSInputEdit>& edits) {
  f.start = shift_through(f.start, edits);
  f.end = shift_through(f.end, edits);
  f.noqa_row = shift_row_through(f.noqa_row, edits);
  for (Related& r : f.related) {
    r.start = shift_through(r.start, edits);
    r.end = shift_through(r.end, edits);
  }
  if (f.fix) {
    for (Edit& e : f.fix->edits) {
      e.start = shift_through(e.start, edits);
      e.end = shift_through(e.end, edits);
    }
  }
  return f;
}

// The affected statements analysed again from a model of what they depend on; the findings of
// every other statement moved from the previous lint.
void relint_affected(const SourceFile& source, const syntax::RecoveredParse& parsed, const RelintScope& scope,
                     const PreviousLint& previous, const LintSettings& settings, const model::ProjectContext* project,
                     BufferResult& result) {
  FileReport& report = result.report;
  if (!scope.affected.empty()) {
    model::ModelOptions options = model_options(settings);
    options.focus = scope.built;
    const model::Model model(source, parsed.best().root(), options, syntax_problem(parsed), project);
    run_rules(model, source, settings, report);
    // The syntax error reported is the first of the whole tree, wherever it lies.
    std::erase_if(report.findings, [&](const Finding& f) {
      return f.code != "OOM000" && !affected(unit_at(f.start, result.units), result.units, scope);
    });
    result.provisional = true;
  }
  // The edits kept the units in place and in number (relint_scope): a unit of the previous text
  // is the unit of the same index now.
  for (const Finding& f : previous.report->findings) {
    // A syntax error of the previous text is gone, or is the one found again above.
    const bool found_again = f.code == "OOM000" && !scope.affected.empty();
    if (!found_again && !affected(unit_at(f.start, previous.units), result.units, scope)) {
      report.findings.push_back(moved_through(f, previous.edits));
    }
  }
  std::stable_sort(report.findings.begin(), report.findings.end(), [](const Finding& a, const Finding& b) {
    return a.start != b.start ? a.start < b.start : a.code < b.code;
  });
}

} // namespace

BufferResult lint_buffer_incrementally(std::shared_ptr<const SourceFile> source, syntax::Parser& parser,
                                       const LintSettings& settings, const model::ProjectContext* project,
                                       const PreviousLint* previous) {
  BufferResult result;
  FileReport& report = result.report;
  report.path = source->path();
  report.source = source;
  std::optional<syntax::EarlierTree> earlier;
  if (previous != nullptr) {
    earlier.emplace(syntax::EarlierTree{previous->tree, previous->exact_edits, previous->edits});
  }
  auto parsed = parse_for_lint(*source, parser, earlier ? &*earlier : nullptr, report);
  if (!parsed) {
    return result;
  }
  // Units of the tree the model reads: after a syntax error, the text with the broken lines blanked.
  const std::string_view analysed = parsed->recovered ? std::string_view(parsed->patched_text) : source->text();
  result.units = top_level_units(parsed->best().root(), analysed, previous != nullptr ? &previous->units : nullptr);
  std::optional<RelintScope> scope;
  if (previous != nullptr && previous->report != nullptr && !previous->report->error) {
    scope = relint_scope(previous->units, result.units, previous->edits, analysed);
  }
  if (scope) {
    relint_affected(*source, *parsed, *scope, *previous, settings, project, result);
  } else {
    lint_whole(*source, *parsed, settings, project, report);
  }
  result.tree = std::move(parsed->original);
  return result;
}

void for_each_parallel(size_t count, int jobs, const std::function<void(size_t, syntax::Parser&)>& work) {
  std::atomic<size_t> next{0};
  auto worker = [&] {
    std::optional<syntax::Parser> parser;
    while (true) {
      const size_t i = next.fetch_add(1);
      if (i >= count) {
        return;
      }
      if (!parser) {
        parser.emplace();
      }
      work(i, *parser);
    }
  };
  const int threads = std::max(1, std::min<int>(jobs, static_cast<int>(count)));
  if (threads == 1) {
    worker();
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back(worker);
  }
  for (std::thread& t : pool) {
    t.join();
  }
}

std::vector<FileReport> lint_files(const std::vector<std::string>& paths, const LintSettings& settings, int jobs) {
  std::vector<LintInput> inputs;
  inputs.reserve(paths.size());
  for (const std::string& p : paths) {
    inputs.push_back(LintInput{p, nullptr});
  }
  return std::move(lint_project(inputs, settings, jobs).reports);
}

namespace {

// One run over a project, in two phases. Phase 1 parses each module, builds its model, lints it
// alone and summarises its functions (or takes all that from the cache), and frees its tree.
// Phase 2 gathers the run's facts and takes a second look at the modules they change.
class ProjectLinter {
public:
  ProjectLinter(const std::vector<LintInput>& inputs, const LintSettings& settings)
      : m_inputs(inputs), m_settings(settings), m_units(inputs.size()) {
    m_run.facts = std::make_unique<model::ProjectFacts>();
    m_run.reports.resize(inputs.size());
    auto roots = std::make_shared<std::unordered_set<std::string>>();
    for (size_t i = 0; i < inputs.size(); ++i) {
      bool is_package = false;
      m_units[i].context.module = model::module_name_for(inputs[i].path, is_package);
      m_units[i].context.is_package = is_package;
      roots->insert(m_units[i].context.module.substr(0, m_units[i].context.module.find('.')));
    }
    add_namespace_aliases(*roots);
    for (Unit& unit : m_units) {
      unit.context.local_roots = roots;
    }
  }

  // Modules outside any package, as scripts in the folders above import them: an alias that two
  // modules share (`utils.py` in two folders) names neither.
  void add_namespace_aliases(std::unordered_set<std::string>& roots) {
    std::unordered_map<std::string, std::string> aliases;
    std::unordered_set<std::string> shared;
    for (size_t i = 0; i < m_inputs.size(); ++i) {
      if (m_units[i].context.module.find('.') != std::string::npos || m_units[i].context.is_package) {
        continue;
      }
      for (std::string& alias : model::namespace_aliases(m_inputs[i].path)) {
        auto [it, fresh] = aliases.emplace(alias, m_units[i].context.module);
        if (!fresh && it->second != m_units[i].context.module) {
          shared.insert(alias);
        }
      }
    }
    for (const std::string& alias : shared) {
      aliases.erase(alias);
    }
    for (const auto& entry : aliases) {
      roots.insert(entry.first.substr(0, entry.first.find('.')));
    }
    m_run.facts->set_namespace_aliases(std::move(aliases));
  }

  ProjectRun run(int jobs) {
    for_each_parallel(m_inputs.size(), jobs, [&](size_t i, syntax::Parser& parser) {
      if (!run_guarded([&] { guarded(i, [&] { first_look(i, parser); }); })) {
        crashed(i);
      }
    });
    // In the units' order, so that a module name two files share resolves the same way every
    // run; a module that cannot need a second look gives its summary away.
    model::ProjectFacts& facts = *m_run.facts;
    std::vector<std::uint64_t> summary_hashes;
    for (Unit& unit : m_units) {
      summary_hashes.push_back(unit.summary_hash);
      if (unit.reparse) {
        facts.add(unit.summary);
      } else {
        facts.add(std::move(unit.summary));
      }
    }
    facts.finish();
    if (m_settings.cache != nullptr) {
      m_facts_hash = LintCache::hash_facts(std::move(summary_hashes));
    }
    // Phase 2 runs over every module that still holds a tree (or may need one), so that trees
    // are also freed in parallel (freeing a large run's trees on one thread costs as much as
    // analysing them), and cache entries are written in parallel.
    std::vector<size_t> kept;
    for (size_t i = 0; i < m_units.size(); ++i) {
      const Unit& u = m_units[i];
      if ((u.reparse || u.dirty) && !u.crashed) {
        kept.push_back(i);
      }
    }
    for_each_parallel(kept.size(), jobs, [&](size_t k, syntax::Parser& parser) {
      if (!run_guarded([&] { guarded(kept[k], [&] { second_look(kept[k], parser); }); })) {
        crashed(kept[k]);
      }
    });
    m_run.contexts.reserve(m_units.size());
    for (Unit& unit : m_units) {
      unit.context.facts = &facts;
      m_run.contexts.push_back(std::move(unit.context));
    }
    return std::move(m_run);
  }

private:
  struct Unit {
    std::shared_ptr<const SourceFile> source;
    model::ProjectContext context;
    model::ModuleSummary summary;
    std::optional<CachedLint> cached; // what the cache holds (or will) for this text
    bool reparse = false;             // may need a second look, on a tree parsed again
    bool crashed = false;             // its analysis died of a fatal signal: its state is abandoned
    bool dirty = false;               // its cache entry is to be written
    std::uint64_t summary_hash = 0;   // of the facts it gives other modules (with a cache)
    std::uint64_t content_hash = 0;   // of its text, while the text is not held
  };
  template <typename Work> void guarded(size_t i, Work work) {
    try {
      work();
    } catch (const std::exception& e) {
      m_run.reports[i].error = Error{
          fmt::format("internal error while linting ({}); please report it with the file", e.what()), m_inputs[i].path};
    }
  }

  void crashed(size_t i) {
    m_run.reports[i].findings.clear();
    m_run.reports[i].error = Error{"internal error: oomlint crashed on this file, so its findings are missing; the "
                                   "rest of the run is complete; please report it with the file",
                                   m_inputs[i].path};
    m_units[i].crashed = true;
    m_units[i].dirty = false;
  }

  bool read(size_t i) {
    FileReport& out = m_run.reports[i];
    Unit& unit = m_units[i];
    out.path = m_inputs[i].path;
    if (m_inputs[i].source) {
      unit.source = m_inputs[i].source;
    } else {
      auto source = read_source_file(m_inputs[i].path, m_settings.config != nullptr ? m_settings.config->max_file_bytes
                                                                                    : kDefaultMaxFileBytes);
      if (!source) {
        out.error = source.error();
        return false;
      }
      unit.source = std::make_shared<const SourceFile>(std::move(*source));
    }
    out.source = unit.source;
    if (auto bad = encoding_error(*unit.source)) {
      out.error = std::move(bad);
      return false;
    }
    return true;
  }

  // Files on disk only: a buffer or stdin has no stable place in the cache.
  [[nodiscard]] bool cacheable(size_t i) const { return m_settings.cache != nullptr && !m_inputs[i].source; }

  void first_look(size_t i, syntax::Parser& parser) {
    FileReport& out = m_run.reports[i];
    Unit& unit = m_units[i];
    if (!read(i)) {
      return;
    }
    std::uint64_t content = 0;
    if (cacheable(i)) {
      content = LintCache::hash_text(unit.source->text());
      unit.cached = m_settings.cache->load(out.path, content);
      if (unit.cached) {
        out.findings = unit.cached->findings;
        out.notices = unit.cached->notices;
        unit.summary = unit.cached->summary;
        unit.summary_hash = LintCache::hash_summary(unit.summary);
        unit.reparse = unit.summary.may_need_second_look(); // parsed in phase 2 only if the facts matter
        if (!unit.reparse) {
          finish(i);
        } else {
          release_text(i);
        }
        return;
      }
    }
    // The tree lives only as long as this look: keeping the trees of the modules that might
    // need a second look cost more memory (15 times their text) than parsing the few that do again.
    const syntax::RecoveredParse parsed = syntax::parse_with_recovery(parser, unit.source->text());
    if (!parsed.original) {
      out.error = Error{"the parser gave up on this file; please report it with the file attached", out.path};
      return;
    }
    const model::Model model(*unit.source, parsed.best().root(), model_options(m_settings), syntax_problem(parsed),
                             &unit.context);
    run_rules(model, *unit.source, m_settings, out);
    unit.summary = model.summarize(unit.context);
    unit.summary.had_findings = !out.findings.empty() || unselected_rules_find_something(model, m_settings);
    if (m_settings.cache != nullptr) { // stdin's facts count too: other files' second looks read them
      unit.summary_hash = LintCache::hash_summary(unit.summary);
    }
    if (cacheable(i)) {
      unit.cached = CachedLint{content, unit.summary, out.findings, out.notices, std::nullopt, {}};
      unit.dirty = true;
    }
    unit.reparse = unit.summary.may_need_second_look();
    if (!unit.reparse) {
      finish(i); // no fact from another module can change this file
    } else {
      release_text(i);
    }
  }

  // A file from disk without findings so far lets its text go until a second look needs it.
  void release_text(size_t i) {
    Unit& unit = m_units[i];
    if (m_inputs[i].source || !m_run.reports[i].findings.empty()) {
      return;
    }
    unit.content_hash = LintCache::hash_text(unit.source->text());
    unit.source.reset();
    m_run.reports[i].source.reset();
  }

  // The text of a module whose second look turns out to be needed, read again: the few that
  // are cost less than holding the text of every module that might be until phase 2.
  bool read_again(size_t i) {
    if (!read(i)) {
      return false;
    }
    if (LintCache::hash_text(m_units[i].source->text()) != m_units[i].content_hash) {
      m_run.reports[i].findings.clear();
      m_run.reports[i].error = Error{"changed while oomlint ran; run it again", m_inputs[i].path};
      return false;
    }
    return true;
  }

  // The file's findings are final: write its cache entry, and keep its text only if the report
  // needs it (positions and code frames of findings), so that memory does not grow with the run.
  void finish(size_t i) {
    Unit& unit = m_units[i];
    FileReport& report = m_run.reports[i];
    if (unit.dirty && !report.error) {
      m_settings.cache->store(report.path, *unit.cached);
    }
    unit.dirty = false;
    unit.cached.reset();
    if (report.findings.empty() && !report.error) {
      report.source.reset();
      unit.source.reset();
    }
  }

  void second_look(size_t i, syntax::Parser& parser) {
    Unit& unit = m_units[i];
    FileReport& report = m_run.reports[i];
    if (!report.error && m_run.facts->matters_for(unit.summary)) {
      if (unit.cached && unit.cached->facts == m_facts_hash && cacheable(i)) {
        report.findings = unit.cached->second_findings;
        if (!report.findings.empty() && !unit.source && !read_again(i)) { // the report shows its lines
          finish(i);
          return;
        }
      } else {
        if (!unit.source && !read_again(i)) {
          finish(i);
          return;
        }
        const syntax::RecoveredParse parsed = syntax::parse_with_recovery(parser, unit.source->text());
        unit.context.facts = m_run.facts.get();
        const model::Model model(*unit.source, parsed.best().root(), model_options(m_settings), syntax_problem(parsed),
                                 &unit.context);
        run_rules(model, *unit.source, m_settings, report);
        if (unit.cached) {
          unit.cached->facts = m_facts_hash;
          unit.cached->second_findings = report.findings;
          unit.dirty = true;
        }
      }
    }
    finish(i);
  }

  const std::vector<LintInput>& m_inputs;
  const LintSettings& m_settings;
  std::vector<Unit> m_units;
  ProjectRun m_run;
  std::uint64_t m_facts_hash = 0;
};

} // namespace

ProjectRun lint_project(const std::vector<LintInput>& inputs, const LintSettings& settings, int jobs) {
  return ProjectLinter(inputs, settings).run(jobs);
}

} // namespace oomlint
