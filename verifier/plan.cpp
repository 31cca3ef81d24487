#include "verifier/plan.hpp"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "analyzer/model/model.hpp"
#include "analyzer/syntax/parser.hpp"
#include "analyzer/syntax/python_grammar.hpp"

namespace fs = std::filesystem;

namespace oomlint::verify {

namespace {

std::string indentation_at(std::string_view text, std::uint32_t line_start) {
  std::string indent;
  for (std::uint32_t i = line_start; i < text.size() && (text[i] == ' ' || text[i] == '\t'); ++i) {
    indent += text[i];
  }
  return indent;
}

std::uint32_t line_start_of(std::string_view text, std::uint32_t byte) {
  const size_t nl = byte == 0 ? std::string_view::npos : text.rfind('\n', byte - 1);
  return nl == std::string_view::npos ? 0 : static_cast<std::uint32_t>(nl + 1);
}

std::uint32_t next_line_start(std::string_view text, std::uint32_t byte) {
  const size_t nl = text.find('\n', byte);
  return nl == std::string_view::npos ? static_cast<std::uint32_t>(text.size()) : static_cast<std::uint32_t>(nl + 1);
}

// The first statement of a block, if it starts its own line.
std::optional<std::uint32_t> block_line_start(std::string_view text, TSNode block) {
  const auto& g = syntax::grammar();
  for (uint32_t i = 0; i < ts_node_named_child_count(block); ++i) {
    TSNode stmt = ts_node_named_child(block, i);
    if (ts_node_symbol(stmt) == g.sym.comment) {
      continue;
    }
    const std::uint32_t start = ts_node_start_byte(stmt);
    const std::uint32_t line = line_start_of(text, start);
    if (indentation_at(text, line).size() != start - line) {
      return std::nullopt; // `for x in y: stmt` on one line
    }
    return line;
  }
  return std::nullopt;
}

// The store a hook finding names: the finding sits on the registration, and its first note on
// the statement that stores the activation.
Related stored_statement(const Finding& f) {
  return f.related.empty() ? Related{f.start, f.end, {}} : f.related.front();
}

// `features.append(output)` -> `features.append(output<suffix>)`: `.detach()` is what people try
// first (and does not free a stored activation), `.detach().cpu()` what the rules advise.
std::optional<Fix> suffix_stored_argument(std::string_view text, const Related& store, std::string_view suffix) {
  std::uint32_t end = store.end;
  while (end > store.start && (text[end - 1] == ' ' || text[end - 1] == '\n' || text[end - 1] == '\r')) {
    --end;
  }
  if (end == store.start || (text[end - 1] != ')' && text[end - 1] != ']')) {
    return std::nullopt;
  }
  return Fix{Applicability::Unsafe, std::string(suffix), {Edit{end - 1, end - 1, std::string(suffix)}}};
}

// `out = model(x)` -> `with __oomlint_probe__.no_grad(): out = model(x)`: the simple statement
// around the finding, run without autograd (the probe's no_grad() is torch's). A compound
// statement, or one that does not start its own line, has no such one-line form.
std::optional<Fix> without_grad(std::string_view text, TSNode root, const Finding& f) {
  const auto& g = syntax::grammar();
  TSNode node = ts_node_named_descendant_for_byte_range(root, f.start, f.end);
  while (!ts_node_is_null(node)) {
    const TSNode parent = ts_node_parent(node);
    if (ts_node_is_null(parent)) {
      return std::nullopt;
    }
    if (ts_node_symbol(parent) == g.sym.block || ts_node_symbol(parent) == g.sym.module) {
      break;
    }
    node = parent;
  }
  if (ts_node_is_null(node) ||
      (ts_node_symbol(node) != g.sym.expression_statement && ts_node_symbol(node) != g.sym.return_statement)) {
    return std::nullopt;
  }
  const std::uint32_t start = ts_node_start_byte(node);
  const std::uint32_t line = line_start_of(text, start);
  if (indentation_at(text, line).size() != start - line) {
    return std::nullopt;
  }
  return Fix{Applicability::Unsafe, "no_grad", {Edit{start, start, "with __oomlint_probe__.no_grad(): "}}};
}

const Verification& verification_of(const LintSettings& settings, std::string_view code) {
  static const Verification none;
  for (const Rule& r : settings.rules) {
    if (r.meta != nullptr && r.meta->code == code) {
      return r.meta->verify;
    }
  }
  return none;
}

// The rule's fix, or what its metadata says to measure against when the finding has none.
void choose_fix(PlannedFinding& p, const Verification& how, std::string_view text, TSNode root) {
  const Finding& f = p.finding;
  if (f.fix) {
    p.fix = *f.fix;
    p.fix_used = f.fix->message;
  } else if (how.transform == VerifyTransform::DropStatement) {
    p.fix = Fix{Applicability::Unsafe, "drop", {Edit{f.start, f.end, "pass"}}};
    p.fix_used = "verification transform: drop the flagged statement";
  } else if (how.transform == VerifyTransform::StoreDetachedCpu) {
    const Related store = how.at_first_note ? stored_statement(f) : Related{f.start, f.end, {}};
    p.fix = suffix_stored_argument(text, store, ".detach().cpu()");
    p.fix_used = "verification transform: store `.detach().cpu()`";
    if (text.substr(store.start, store.end - store.start).find(".detach()") == std::string_view::npos) {
      p.alternative = suffix_stored_argument(text, store, ".detach()");
      p.alternative_used = "`.detach()` alone";
    }
  } else if (how.transform == VerifyTransform::NoGradStatement) {
    p.fix = without_grad(text, root, f);
    p.fix_used = "verification transform: the statement under `torch.no_grad()`";
  }
  if (!p.fix) {
    p.fix_used.clear();
  }
}

// The probe point for a growth, peak or time finding: the first statement of the loop around
// it (or of its function, for per-step methods and hooks).
void place_loop_probe(Plan& plan, PlannedFinding& p, const model::Model& m, std::string_view text,
                      const Verification& how) {
  const std::uint32_t anchor = how.at_first_note ? stored_statement(p.finding).start : p.finding.start;
  const model::ScopeId scope = m.scope_at(anchor);
  model::LoopId loop = m.loop_at(anchor, scope);
  // A loop over a dict's items or a model's heads inside the step: the passes to count are the
  // step loop's around it.
  for (model::LoopId up = loop; up != model::kNone; up = m.loop(up).parent) {
    if (m.loop(up).is_step || m.loop(up).is_phase) {
      loop = up;
      break;
    }
  }
  std::optional<std::uint32_t> at;
  std::optional<std::uint32_t> entered;
  if (loop != model::kNone && m.loop(loop).kind != model::LoopKind::Comprehension) {
    at = block_line_start(text, ts_node_child_by_field_id(m.loop(loop).node, syntax::grammar().field.body));
    const std::uint32_t loop_line = line_start_of(text, ts_node_start_byte(m.loop(loop).node));
    if (at && *at > loop_line) { // a loop on a line of its own
      entered = loop_line;
    }
  } else if (const model::ScopeId fn = m.function_at(anchor); fn != model::kNone) {
    at = block_line_start(text, m.scope(fn).body);
  }
  if (at) {
    p.probe = plan.probe_at(p.path, *at, entered);
  } else {
    p.skip_reason = "no loop or function body to put the probe in";
  }
}

} // namespace

std::optional<std::uint32_t> offset_after_edits(std::uint32_t at, const std::vector<Edit>& edits) {
  std::int64_t shift = 0;
  for (const Edit& e : edits) {
    if (e.start < at && at < e.end) {
      return std::nullopt;
    }
    if (e.end <= at) {
      shift += static_cast<std::int64_t>(e.content.size()) - static_cast<std::int64_t>(e.end - e.start);
    }
  }
  return static_cast<std::uint32_t>(static_cast<std::int64_t>(at) + shift);
}

std::vector<int> Plan::probe_ids() const {
  std::vector<int> ids;
  for (int i = 0; i < m_next; ++i) {
    ids.push_back(i);
  }
  return ids;
}

void Plan::add_source(const std::string& path, std::shared_ptr<const SourceFile> source) {
  m_sources[path] = std::move(source);
}

void Plan::insert(const std::string& path, std::uint32_t at, std::string_view call, int id) {
  const std::string_view text = m_sources.at(path)->text();
  m_probe_calls[path].push_back(
      Edit{at, at, fmt::format("{}__oomlint_probe__.{}({})\n", indentation_at(text, at), call, id)});
}

int Plan::probe_at(const std::string& path, std::uint32_t at, std::optional<std::uint32_t> entered) {
  const auto key = std::make_pair(path, at);
  if (const auto found = m_shared.find(key); found != m_shared.end()) {
    return found->second;
  }
  const int id = m_next++;
  m_shared[key] = id;
  insert(path, at, "tick", id);
  if (entered) {
    insert(path, *entered, "enter", id);
  }
  return id;
}

int Plan::probe_around(const std::string& path, std::uint32_t line, std::uint32_t after) {
  const int id = m_next++;
  m_statements.push_back(id);
  const std::string_view text = m_sources.at(path)->text();
  insert(path, line, "tick", id);
  // After the statement, at its own indentation.
  m_probe_calls[path].push_back(
      Edit{after, after, fmt::format("{}__oomlint_probe__.tick({})\n", indentation_at(text, line), id)});
  return id;
}

namespace {

std::string with_insertions(std::string_view text, std::vector<Edit> insertions) {
  std::stable_sort(insertions.begin(), insertions.end(),
                   [](const Edit& a, const Edit& b) { return a.start < b.start; });
  std::string out;
  std::uint32_t at = 0;
  for (const Edit& e : insertions) {
    out.append(text.substr(at, e.start - at));
    out += e.content;
    at = e.start;
  }
  out.append(text.substr(at));
  return out;
}

} // namespace

std::map<std::string, std::string> Plan::instrumented() const {
  std::map<std::string, std::string> out;
  for (const auto& [path, source] : m_sources) {
    const auto calls = m_probe_calls.find(path);
    out[path] =
        calls == m_probe_calls.end() ? std::string(source->text()) : with_insertions(source->text(), calls->second);
  }
  return out;
}

Expected<std::map<std::string, std::string>> Plan::instrumented_with(const std::string& path,
                                                                     const std::vector<const Fix*>& fixes,
                                                                     const service::LintService& service,
                                                                     syntax::Parser& parser) const {
  const SourceFile& original = source(path);
  auto fixed = service.fixed_text(original, fixes, parser);
  if (!fixed) {
    return fixed.error();
  }
  std::vector<Edit> edits;
  for (const Fix* f : fixes) {
    edits.insert(edits.end(), f->edits.begin(), f->edits.end());
  }
  std::vector<Edit> moved;
  if (const auto calls = m_probe_calls.find(path); calls != m_probe_calls.end()) {
    for (const Edit& call : calls->second) {
      const auto at = offset_after_edits(call.start, edits);
      if (!at) {
        return Error{"the fix rewrites the line where the probe goes", path, 0, 0};
      }
      moved.push_back(Edit{*at, *at, call.content});
    }
  }
  std::map<std::string, std::string> out = instrumented();
  out[path] = with_insertions(*fixed, std::move(moved));
  return out;
}

Plan plan_verification(const std::vector<FileReport>& reports, const LintSettings& settings) {
  Plan plan;
  syntax::Parser parser;
  for (const FileReport& r : reports) {
    if (!r.source || r.findings.empty()) {
      continue;
    }
    const std::string path = fs::absolute(r.path).lexically_normal().string();
    plan.add_source(path, r.source);
    const std::string_view text = r.source->text();
    const syntax::Tree tree = parser.parse(text);
    const model::Model m(*r.source, tree.root(), settings.config ? settings.config->model : model::ModelOptions{});
    for (const Finding& f : r.findings) {
      const Verification& how = verification_of(settings, f.code);
      if (how.measure == VerifyMeasure::None) {
        continue;
      }
      PlannedFinding p;
      p.finding = f;
      p.path = path;
      p.measure = how.measure;
      if (how.measure == VerifyMeasure::Load) {
        const std::uint32_t line = line_start_of(text, f.start);
        p.probe = plan.probe_around(path, line, next_line_start(text, f.end));
      } else {
        place_loop_probe(plan, p, m, text, how);
      }
      choose_fix(p, how, text, tree.root());
      plan.findings.push_back(std::move(p));
    }
  }
  return plan;
}

} // namespace oomlint::verify
