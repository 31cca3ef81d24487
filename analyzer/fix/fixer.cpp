#include "analyzer/fix/fixer.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "analyzer/syntax/parser.hpp"

namespace oomlint {

namespace {

struct Span {
  std::uint32_t start = 0;
  std::uint32_t end = 0;
};

Span span_of(const Fix& fix) {
  Span s{UINT32_MAX, 0};
  for (const Edit& e : fix.edits) {
    s.start = std::min(s.start, e.start);
    s.end = std::max(s.end, e.end);
  }
  return s;
}

// Touching spans count as overlapping: two insertions at one point have no defined order, so
// the second waits for the next pass, which sees the first one's result.
bool overlaps(const Span& a, const Span& b) {
  return a.start <= b.end && b.start <= a.end;
}

// Inserted line breaks follow the file's own line ending.
std::string with_newline(std::string_view content, std::string_view newline) {
  if (newline == "\n") {
    return std::string(content);
  }
  std::string out;
  out.reserve(content.size() + 8);
  for (size_t i = 0; i < content.size(); ++i) {
    if (content[i] == '\n' && (i == 0 || content[i - 1] != '\r')) {
      out += newline;
    } else {
      out += content[i];
    }
  }
  return out;
}

bool parses_cleanly(syntax::Parser& parser, std::string_view text) {
  const syntax::Tree tree = parser.parse(text);
  return tree.get() != nullptr && !ts_node_has_error(tree.root());
}

std::string describe(const SourceFile& source, const Finding& f) {
  const RowCol pos = source.position(f.start);
  return fmt::format("{}:{}:{}: {}", source.path(), pos.row + 1, pos.column + 1, f.code);
}

} // namespace

bool fix_allowed(const Finding& finding, const FixPolicy& policy) {
  if (!finding.fix || finding.fix->edits.empty() || policy.fixable.count(finding.code) == 0) {
    return false;
  }
  return finding.fix->applicability == Applicability::Safe || policy.unsafe;
}

std::string apply_fixes(std::string_view text, const std::vector<const Fix*>& fixes, std::vector<size_t>& chosen,
                        std::string_view newline) {
  std::vector<size_t> order(fixes.size());
  for (size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return span_of(*fixes[a]).start < span_of(*fixes[b]).start; });
  std::vector<Span> taken;
  chosen.clear();
  for (size_t i : order) {
    const Span s = span_of(*fixes[i]);
    if (s.end > text.size() || s.start > s.end) {
      continue;
    }
    if (std::none_of(taken.begin(), taken.end(), [&](const Span& t) { return overlaps(t, s); })) {
      taken.push_back(s);
      chosen.push_back(i);
    }
  }
  std::vector<const Edit*> edits;
  for (size_t i : chosen) {
    for (const Edit& e : fixes[i]->edits) {
      edits.push_back(&e);
    }
  }
  std::stable_sort(edits.begin(), edits.end(), [](const Edit* a, const Edit* b) { return a->start < b->start; });
  std::string out;
  out.reserve(text.size() + 64);
  std::uint32_t at = 0;
  for (const Edit* e : edits) {
    if (e->start < at) {
      continue; // edits of one fix never overlap; guard against a malformed fix anyway
    }
    out.append(text.substr(at, e->start - at));
    out += with_newline(e->content, newline);
    at = e->end;
  }
  out.append(text.substr(at));
  return out;
}

Expected<std::string> apply_exactly(const SourceFile& source, const std::vector<const Fix*>& fixes,
                                    syntax::Parser& parser) {
  const std::string_view newline = source.line_ending() == LineEnding::CrLf ? "\r\n" : "\n";
  std::vector<size_t> chosen;
  std::string text = apply_fixes(source.text(), fixes, chosen, newline);
  if (chosen.size() != fixes.size()) {
    return Error{"these fixes overlap and cannot be applied together", source.path(), 0, 0};
  }
  if (parses_cleanly(parser, source.text()) && !parses_cleanly(parser, text)) {
    return Error{"the fixed text would not parse", source.path(), 0, 0};
  }
  return text;
}

FixOutcome fix_source(std::shared_ptr<const SourceFile> source, syntax::Parser& parser, const LintSettings& settings,
                      const FixPolicy& policy, const model::ProjectContext* project) {
  FixOutcome outcome;
  outcome.original = source;
  outcome.fixed = source;
  const std::string_view newline = source->line_ending() == LineEnding::CrLf ? "\r\n" : "\n";
  const bool clean_before = parses_cleanly(parser, source->text());
  outcome.report = lint_source(outcome.fixed, parser, settings, project);
  // A file that does not parse is not edited: what the parser recovered may not be what the
  // author meant, and nothing could check that the edit keeps the file as valid as it was.
  if (!clean_before) {
    const bool offered = std::any_of(outcome.report.findings.begin(), outcome.report.findings.end(),
                                     [&](const Finding& f) { return fix_allowed(f, policy); });
    if (offered) {
      outcome.dropped.push_back(
          fmt::format("{}: fixes not applied: the file does not parse; fix its syntax error first", source->path()));
    }
    return outcome;
  }
  std::set<std::string> dropped_at; // fixes already refused: never retried in a later pass
  for (int pass = 0; pass < policy.max_passes; ++pass) {
    std::vector<const Fix*> fixes;
    std::vector<const Finding*> owners;
    for (const Finding& f : outcome.report.findings) {
      if (fix_allowed(f, policy) && dropped_at.count(describe(*outcome.fixed, f) + f.fix->message) == 0) {
        fixes.push_back(&*f.fix);
        owners.push_back(&f);
      }
    }
    if (fixes.empty()) {
      break;
    }
    std::vector<size_t> chosen;
    std::string next = apply_fixes(outcome.fixed->text(), fixes, chosen, newline);
    if (!parses_cleanly(parser, next)) {
      // Find the fixes that break the parse one by one; keep the others.
      std::vector<const Fix*> good;
      std::vector<const Finding*> good_owners;
      for (size_t i : chosen) {
        std::vector<size_t> one;
        const std::string alone = apply_fixes(outcome.fixed->text(), {fixes[i]}, one, newline);
        if (parses_cleanly(parser, alone)) {
          good.push_back(fixes[i]);
          good_owners.push_back(owners[i]);
        } else {
          const std::string where = describe(*outcome.fixed, *owners[i]);
          dropped_at.insert(where + fixes[i]->message);
          outcome.dropped.push_back(fmt::format(
              "{}: fix not applied: the result would not parse ({}); please report it", where, fixes[i]->message));
        }
      }
      next = apply_fixes(outcome.fixed->text(), good, chosen, newline);
      if (!parses_cleanly(parser, next)) {
        break; // fixes that parse alone but not together: leave the rest for the user
      }
      owners = std::move(good_owners);
    } else {
      std::vector<const Finding*> used;
      for (size_t i : chosen) {
        used.push_back(owners[i]);
      }
      owners = std::move(used);
    }
    if (owners.empty() || next == outcome.fixed->text()) {
      break;
    }
    for (const Finding* f : owners) {
      outcome.applied.push_back(AppliedFix{f->code, f->name, f->fix->message});
    }
    outcome.fixed = std::make_shared<const SourceFile>(source->with_text(std::move(next)));
    outcome.report = lint_source(outcome.fixed, parser, settings, project);
  }
  return outcome;
}

std::set<std::string> fixable_codes(const Config& config, const std::vector<const RuleMeta*>& catalog) {
  auto selects = [](std::string_view selector, std::string_view code) {
    return selector == "ALL" || code.starts_with(selector);
  };
  std::set<std::string> out;
  for (const RuleMeta* m : catalog) {
    bool on = config.fixable.empty() || std::any_of(config.fixable.begin(), config.fixable.end(),
                                                    [&](const std::string& s) { return selects(s, m->code); });
    if (std::any_of(config.unfixable.begin(), config.unfixable.end(),
                    [&](const std::string& s) { return selects(s, m->code); })) {
      on = false;
    }
    if (on) {
      out.insert(std::string(m->code));
    }
  }
  return out;
}

} // namespace oomlint
