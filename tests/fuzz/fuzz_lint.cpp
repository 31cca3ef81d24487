// libFuzzer target: bytes as a Python file through parse -> model -> every rule -> fixes (safe
// and unsafe) -> re-parse -> every output format -> the language server's incremental lint after
// edits. Crashes, sanitizer reports and broken
// invariants (a fix that turns a file that parses into one that does not) all fail.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "analyzer/driver/linter.hpp"
#include "analyzer/fix/fixer.hpp"
#include "analyzer/output/emitter.hpp"
#include "analyzer/syntax/parser.hpp"
#include "rules/registry.hpp"
#include "tests/support/relint_check.hpp"

namespace {

const oomlint::LintSettings& settings() {
  static const oomlint::LintSettings s = [] {
    oomlint::LintSettings out;
    out.rules = oomlint::rules::all_rules();
    for (const oomlint::Rule& r : out.rules) {
      out.enabled.emplace(r.meta->code);
    }
    return out;
  }();
  return s;
}

bool has_syntax_error(const oomlint::FileReport& r) {
  for (const oomlint::Finding& f : r.findings) {
    if (f.code == "OOM000") {
      return true;
    }
  }
  return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static oomlint::syntax::Parser parser;
  auto source = std::make_shared<const oomlint::SourceFile>("fuzz/train.py",
                                                            std::string(reinterpret_cast<const char*>(data), size));
  const oomlint::FileReport report = oomlint::lint_source(source, parser, settings());
  std::vector<oomlint::FileReport> reports{report};
  oomlint::EmitOptions emit;
  (void)oomlint::emit_text(reports, emit);
  (void)oomlint::emit_json(reports, emit);
  (void)oomlint::emit_sarif(reports, oomlint::rules::catalog(), emit, "fuzz");
  (void)oomlint::emit_junit(reports);
  (void)oomlint::emit_gitlab(reports);
  if (report.error) {
    return 0;
  }
  // Edits linted incrementally: whole-module facts may make them differ from a whole lint (the
  // server confirms them when idle), but nothing may crash.
  const oomlint::BufferResult before = oomlint::lint_buffer_incrementally(source, parser, settings(), nullptr, nullptr);
  if (before.tree) {
    const auto cases = oomlint::relint_check::cases(before.units, source->text());
    for (std::size_t i = 0; i < cases.size() && i < 2; ++i) {
      (void)oomlint::relint_check::run("fuzz/train.py", source->text(), before, cases[i], parser, settings());
    }
  }
  oomlint::FixPolicy policy;
  policy.unsafe = true;
  for (const oomlint::Rule& r : settings().rules) {
    policy.fixable.emplace(r.meta->code);
  }
  const oomlint::FixOutcome fixed = oomlint::fix_source(source, parser, settings(), policy);
  if (fixed.changed() && !has_syntax_error(report)) {
    const oomlint::FileReport again = oomlint::lint_source(fixed.fixed, parser, settings());
    if (has_syntax_error(again)) {
      __builtin_trap(); // a fix broke a file that parsed
    }
  }
  return 0;
}
