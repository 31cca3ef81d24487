#pragma once
// Incremental lints checked against whole ones: an edit made to a buffer, linted as the language
// server lints it (only what the edit reaches, the rest moved) and as `oomlint check` would lint
// the edited text. Used by the fixture tests and by bench/relint_agreement.cpp on real code.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "analyzer/driver/linter.hpp"
#include "analyzer/driver/relint_scope.hpp"
#include "analyzer/syntax/python_grammar.hpp"

namespace oomlint::relint_check {

struct Case {
  std::string label;
  std::uint32_t start = 0;
  std::uint32_t end = 0;
  std::string inserted;
  bool in_definition = false; // the edit is inside a function or class definition
};

// Edits worth trying, per top-level statement that is not a comment: a space typed at the end of
// its first line (nothing changes, but the statement is analysed again on its own) and, where it
// spans three lines or more, its middle line replaced by `pass` (its meaning changes) or made a
// syntax error (` x` typed at its end, as while typing).
inline std::vector<Case> cases(const std::vector<TopLevelUnit>& units, std::string_view text) {
  std::vector<Case> out;
  for (const TopLevelUnit& u : units) {
    if (u.symbol == syntax::grammar().sym.comment) {
      continue;
    }
    const std::string_view body = text.substr(u.start, u.end - u.start);
    const std::size_t first_eol = body.find('\n');
    const std::uint32_t row = static_cast<std::uint32_t>(std::count(text.begin(), text.begin() + u.start, '\n')) + 1;
    const std::uint32_t eol =
        first_eol == std::string_view::npos ? u.end : u.start + static_cast<std::uint32_t>(first_eol);
    const bool definition = is_definition(u);
    out.push_back(Case{fmt::format("line {}: a space typed at the end", row), eol, eol, " ", definition});
    std::vector<std::size_t> line_starts;
    for (std::size_t i = 0; i < body.size(); ++i) {
      if (body[i] == '\n' && i + 1 < body.size()) {
        line_starts.push_back(i + 1);
      }
    }
    if (line_starts.size() < 2) {
      continue;
    }
    const std::size_t from = line_starts[line_starts.size() / 2];
    const std::size_t to = std::min(body.find('\n', from), body.size());
    const std::string_view line = body.substr(from, to - from);
    const std::size_t indent = line.find_first_not_of(" \t");
    if (indent == std::string_view::npos || line[indent] == '#' || line.substr(indent).starts_with("else") ||
        line.substr(indent).starts_with("elif") || line.substr(indent).starts_with("except") ||
        line.substr(indent).starts_with("finally") || line.back() == ':' || line.back() == ',' || line.back() == '(' ||
        line.back() == '\\') {
      continue; // replacing it would not leave a statement of its own
    }
    out.push_back(
        Case{fmt::format("line {}: replaced by `pass`",
                         row + std::count(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(from), '\n')),
             u.start + static_cast<std::uint32_t>(from + indent), u.start + static_cast<std::uint32_t>(to), "pass",
             definition});
    if (line.find('#') == std::string_view::npos) {
      const auto end = u.start + static_cast<std::uint32_t>(to);
      out.push_back(
          Case{fmt::format("line {}: ` x` typed at the end (a syntax error)",
                           row + std::count(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(from), '\n')),
               end, end, " x", definition});
    }
  }
  return out;
}

// Everything a client sees of a finding.
inline std::string describe(const Finding& f) {
  std::string out = fmt::format("{} [{},{}) noqa row {}: {}", f.code, f.start, f.end, f.noqa_row, f.message);
  for (const Related& r : f.related) {
    out += fmt::format(" | [{},{}) {}", r.start, r.end, r.message);
  }
  if (f.fix) {
    for (const Edit& e : f.fix->edits) {
      out += fmt::format(" | fix [{},{}) {}", e.start, e.end, e.content);
    }
  }
  return out;
}

struct Outcome {
  bool incremental = false; // only what the edit reaches was analysed
  bool parses = true;       // the edited text parses cleanly (otherwise both lint it whole)
  std::string difference;   // empty when both lints agree
  double incremental_ms = 0;
  double whole_ms = 0;
};

// `before` is the whole lint of `text`; the edit is applied and linted both ways.
inline Outcome run(const std::string& path, std::string_view text, const BufferResult& before, const Case& c,
                   syntax::Parser& parser, const LintSettings& settings) {
  using Clock = std::chrono::steady_clock;
  Outcome out;
  std::string edited(text);
  edited.replace(c.start, c.end - c.start, c.inserted);
  const auto source = std::make_shared<const SourceFile>(path, edited);
  const std::vector<TSInputEdit> edits{line_edit(text, c.start, c.end, c.inserted)};
  const std::vector<TSInputEdit> exact{exact_edit(text, c.start, c.end, c.inserted)};
  const PreviousLint previous{before.tree, &before.report, before.units, edits, exact};
  const auto t0 = Clock::now();
  const BufferResult incremental = lint_buffer_incrementally(source, parser, settings, nullptr, &previous);
  const auto t1 = Clock::now();
  const FileReport whole = lint_source(source, parser, settings);
  const auto t2 = Clock::now();
  out.incremental = incremental.provisional;
  out.parses = !ts_node_has_error(incremental.tree.root());
  out.incremental_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  out.whole_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
  const auto& a = incremental.report.findings;
  const auto& b = whole.findings;
  for (std::size_t i = 0; i < std::max(a.size(), b.size()) && out.difference.empty(); ++i) {
    const std::string x = i < a.size() ? describe(a[i]) : "(none)";
    const std::string y = i < b.size() ? describe(b[i]) : "(none)";
    if (x != y) {
      out.difference = fmt::format("incremental: {}\n      whole: {}", x, y);
    }
  }
  return out;
}

} // namespace oomlint::relint_check
