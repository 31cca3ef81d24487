#include "analyzer/driver/linter.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

#include <fmt/format.h>

#include "analyzer/diagnostics/suppression.hpp"
#include "analyzer/model/model.hpp"
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

FileReport lint_source(std::shared_ptr<const SourceFile> source, syntax::Parser& parser, const LintSettings& settings) {
  FileReport report;
  report.path = source->path();
  report.source = source;
  if (const auto& bad = source->utf8_problem()) {
    const RowCol pos = source->position(bad->byte, ColumnUnit::Byte);
    report.error = Error{fmt::format("not valid UTF-8 (byte 0x{:02X}); Python 3 reads source as UTF-8: "
                                     "re-save the file as UTF-8",
                                     bad->value),
                         source->path(), static_cast<int>(pos.row + 1), static_cast<int>(pos.column + 1)};
    return report;
  }
  const syntax::RecoveredParse parsed = syntax::parse_with_recovery(parser, source->text());
  if (!parsed.original) {
    report.error = Error{"the parser gave up on this file; please report it with the file attached", source->path()};
    return report;
  }
  static const model::ModelOptions kDefaultModelOptions;
  const model::ModelOptions& model_options = settings.config != nullptr ? settings.config->model : kDefaultModelOptions;
  std::optional<model::SyntaxProblem> problem;
  if (parsed.problem) {
    problem = model::SyntaxProblem{parsed.problem->node, parsed.problem->missing};
  }
  const model::Model model(*source, parsed.best().root(), model_options, problem);
  Reporter reporter(model);
  std::set<std::string> ignored;
  if (settings.config != nullptr) {
    std::vector<const RuleMeta*> catalog;
    for (const Rule& r : settings.rules) {
      catalog.push_back(r.meta);
    }
    ignored = ignored_for_file(*settings.config, source->path(), catalog);
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
  for (TSNode comment : model.comments()) {
    suppressions.add_comment(ts_node_start_point(comment).row, model.text(comment));
  }
  for (Finding& f : reporter.findings()) {
    if (!suppressions.suppresses(f)) {
      report.findings.push_back(std::move(f));
    }
  }
  std::stable_sort(report.findings.begin(), report.findings.end(), [](const Finding& a, const Finding& b) {
    return a.start != b.start ? a.start < b.start : a.code < b.code;
  });
  return report;
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
  std::vector<FileReport> reports(paths.size());
  for_each_parallel(paths.size(), jobs, [&](size_t i, syntax::Parser& parser) {
    FileReport& out = reports[i];
    out.path = paths[i];
    try {
      auto source = read_source_file(paths[i]);
      if (!source) {
        out.error = source.error();
        return;
      }
      out = lint_source(std::make_shared<const SourceFile>(std::move(*source)), parser, settings);
    } catch (const std::exception& e) {
      out.error =
          Error{fmt::format("internal error while linting ({}); please report it with the file", e.what()), paths[i]};
    }
  });
  return reports;
}

} // namespace oomlint
