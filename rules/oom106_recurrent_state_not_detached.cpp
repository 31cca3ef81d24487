// OOM106 recurrent-state-not-detached: a grad-carrying value (an RNN's hidden state) carried
// from one step into the next without `.detach()`.
#include <algorithm>
#include <cctype>
#include <map>

#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "analyzer/syntax/python_grammar.hpp"
#include "analyzer/syntax/walk.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM106",
    .name = "recurrent-state-not-detached",
    .severity = Severity::Error,
    .default_enabled = true,
    .fix = FixAvailability::Sometimes,
    .summary = "A hidden state is carried into the next batch with its autograd graph",
    .what = "Finds a value that is read before it is re-assigned in a training loop's iteration (or in a "
            "per-step method, for `self.` state) and re-assigned from a forward pass, so each step starts from "
            "the previous step's output: `output, hidden = model(x, hidden)` with no `hidden.detach()`.",
    .why = "The carried state links every step's graph to the previous one: truncated back-propagation through "
           "time without repackaging. The second backward fails with \"Trying to backward through the graph a "
           "second time\"; adding `retain_graph=True` silences it and then every step's graph and saved "
           "activations stay alive, chained together, until CUDA runs out.",
    .example = "hidden = model.init_hidden(batch_size)\n"
               "for x, y in loader:\n"
               "    output, hidden = model(x, hidden)\n"
               "    loss = criterion(output, y)\n"
               "    loss.backward(retain_graph=True)\n"
               "    optimizer.step()\n",
    .use_instead = "hidden = model.init_hidden(batch_size)\n"
                   "for x, y in loader:\n"
                   "    hidden = hidden.detach()  # for an LSTM: tuple(h.detach() for h in hidden)\n"
                   "    output, hidden = model(x, hidden)\n"
                   "    loss = criterion(output, y)\n"
                   "    loss.backward()\n"
                   "    optimizer.step()\n",
    .fine_when = "The state is detached (`h = h.detach()`, `repackage_hidden(h)`) or re-initialised before it is "
                 "used in each iteration, the loop does not back-propagate (generation under `no_grad`), or the "
                 "value is an accumulation (OOM101's case).",
    .fix_safety = "Unsafe: detaching is the truncation itself; gradients no longer flow into earlier batches, "
                  "which is what truncated back-propagation through time wants.",
    .options = {},
    .measured = "",
    .references = "https://pytorch.org/tutorials/intermediate/char_rnn_generation_tutorial.html",
};

// The first byte of the iteration at which `name` is read (a plain name or a `self.` path),
// ignoring assignment targets.
std::uint32_t first_read(const model::Model& m, TSNode body, const std::string& name) {
  const auto& g = syntax::grammar();
  std::uint32_t first = UINT32_MAX;
  syntax::walk_named(body, [&](TSNode n) {
    if (ts_node_start_byte(n) >= first) {
      return false;
    }
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.string || s == g.sym.comment || s == g.sym.function_definition || s == g.sym.class_definition) {
      return false;
    }
    if ((s == g.sym.assignment || s == g.sym.augmented_assignment)) {
      // Reads on the right first; the left side is a target (unless it subscripts the name).
      TSNode right = ts_node_child_by_field_id(n, g.field.right);
      const std::uint32_t r = first_read(m, right, name);
      first = std::min(first, r);
      if (s == g.sym.augmented_assignment && m.text(ts_node_child_by_field_id(n, g.field.left)) == name) {
        first = std::min(first, static_cast<std::uint32_t>(ts_node_start_byte(n)));
      }
      return false;
    }
    if ((s == g.sym.identifier || s == g.sym.attribute) && m.text(n) == name) {
      first = std::min(first, ts_node_start_byte(n));
      return false;
    }
    if (s == g.sym.attribute) {
      // `outputs.loss` reads `outputs`, not a variable called `loss`.
      first = std::min(first, first_read(m, ts_node_child_by_field_id(n, g.field.object), name));
      return false;
    }
    return true;
  });
  return first;
}

bool is_forward_like_value(TSNode value) {
  const auto& g = syntax::grammar();
  int guard = 0;
  while (!ts_node_is_null(value) && guard++ < 8) {
    const TSSymbol s = ts_node_symbol(value);
    if (s == g.sym.call) {
      return true;
    }
    if (s == g.sym.subscript) {
      value = ts_node_child_by_field_id(value, g.field.value); // model(x, h)[1]
      continue;
    }
    if (s == g.sym.parenthesized_expression) {
      value = ts_node_named_child(value, 0);
      continue;
    }
    return false;
  }
  return false;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool mentions_word(std::string_view text, std::string_view word) {
  auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; };
  for (size_t at = text.find(word); at != std::string_view::npos; at = text.find(word, at + 1)) {
    const bool before = at > 0 && (ident(text[at - 1]) || text[at - 1] == '.');
    const bool after = at + word.size() < text.size() && ident(text[at + word.size()]);
    if (!before && !after) {
      return true;
    }
  }
  return false;
}

// `hidden[0]`: one element of an LSTM's (h, c) state.
bool element_of(const model::Model& m, TSNode expr, std::string_view name) {
  return ts_node_symbol(expr) == syntax::grammar().sym.subscript &&
         m.text(ts_node_child_by_field_id(expr, syntax::grammar().field.value)) == name;
}

// `h = h.detach()`, `hidden = repackage_hidden(hidden)`, `h.detach_()` somewhere in the pass
// before the state is re-assigned from the forward: the chain is cut once per step.
bool repackaged(const model::Model& m, const std::vector<model::BindingId>& ids, const model::Binding& last,
                std::uint32_t from) {
  for (model::BindingId id : ids) {
    const model::Binding& b = m.bindings()[static_cast<size_t>(id)];
    if (b.stmt_start >= last.stmt_start || ts_node_is_null(b.value)) {
      continue;
    }
    if (mentions_word(m.text(b.value), b.name) && !m.binding_value(id).carries_graph()) {
      return true;
    }
  }
  for (const model::Call& c : m.calls()) {
    const std::uint32_t at = ts_node_start_byte(c.node);
    if (at >= from && at < last.stmt_start && (c.method == "detach_" || c.method == "detach") &&
        !ts_node_is_null(c.receiver) && (m.text(c.receiver) == last.name || element_of(m, c.receiver, last.name)) &&
        ts_node_symbol(ts_node_parent(c.node)) == syntax::grammar().sym.expression_statement) {
      return true;
    }
  }
  return false;
}

struct Carried {
  std::vector<model::BindingId> bindings; // in source order
};

void report(RuleContext& ctx, const model::Binding& last, bool per_step_method) {
  const model::Model& m = ctx.model;
  std::optional<Fix> fix;
  const std::string callee = lowercase(m.text(last.value));
  const bool tuple_state = callee.find("lstm") != std::string::npos;
  const std::string repackage = tuple_state ? fmt::format("{0} = tuple(s.detach() for s in {0})", last.name)
                                            : fmt::format("{0} = {0}.detach()", last.name);
  fix = insert_line_after(m, last.target, repackage, Applicability::Unsafe, fmt::format("Add `{}`", repackage));
  ctx.reporter.report(kMeta, last.target,
                      fmt::format("`{}` is carried into the next {} with its autograd graph: each step's graph "
                                  "chains onto the previous one, the second backward fails, and "
                                  "`retain_graph=True` only turns that into every step's activations staying "
                                  "alive; detach it once per step (`{}`)",
                                  last.name, per_step_method ? "call" : "iteration", repackage),
                      std::move(fix));
}

void check(RuleContext& ctx) {
  const model::Model& m = ctx.model;
  const auto& bindings = m.bindings();
  bool any_candidate = false;
  for (const model::Loop& loop : m.loops()) {
    any_candidate = any_candidate || loop.is_step;
  }
  for (const model::Scope& scope : m.scopes()) {
    any_candidate = any_candidate || scope.facts.per_step_method;
  }
  if (!any_candidate) {
    return;
  }
  // Bindings grouped by the function that holds them (0: module level), once per file.
  std::vector<std::vector<model::BindingId>> by_function(m.scopes().size());
  for (size_t i = 0; i < bindings.size(); ++i) {
    const model::ScopeId fn = m.function_at(bindings[i].stmt_start);
    by_function[static_cast<size_t>(fn == model::kNone ? 0 : fn)].push_back(static_cast<model::BindingId>(i));
  }
  auto examine = [&](const std::map<std::string, Carried>& names, TSNode body, std::uint32_t from,
                     const std::vector<std::string>& skip, bool per_step_method) {
    for (const auto& [name, carried] : names) {
      if (std::find(skip.begin(), skip.end(), name) != skip.end()) {
        continue;
      }
      std::uint32_t first_bound = UINT32_MAX;
      for (model::BindingId id : carried.bindings) {
        first_bound = std::min(first_bound, bindings[static_cast<size_t>(id)].visible_from);
      }
      if (first_read(m, body, name) >= first_bound) {
        continue; // (re)bound before it is used in each pass
      }
      const model::BindingId last_id = carried.bindings.back();
      const model::Binding& last = bindings[static_cast<size_t>(last_id)];
      if (last.kind != model::BindingKind::Assign || !is_forward_like_value(last.value) ||
          m.grad_disabled_at(last.target) || !m.binding_value(last_id).carries_graph() ||
          repackaged(m, carried.bindings, last, from)) {
        continue;
      }
      report(ctx, last, per_step_method);
    }
  };
  // Loops: names bound in a back-propagating step loop's body (at any depth in its function).
  for (model::LoopId l = 0; l < static_cast<model::LoopId>(m.loops().size()); ++l) {
    const model::Loop& loop = m.loop(l);
    if (!loop.is_step || loop.kind == model::LoopKind::Comprehension || !m.iteration_backprops(l, loop.scope)) {
      continue;
    }
    const model::ScopeId fn = m.function_at(loop.body_start);
    std::map<std::string, Carried> names;
    for (model::BindingId id : by_function[static_cast<size_t>(fn == model::kNone ? 0 : fn)]) {
      const model::Binding& b = bindings[static_cast<size_t>(id)];
      if (b.stmt_start >= loop.body_start && b.stmt_start < loop.body_end) {
        names[b.name].bindings.push_back(id);
      }
    }
    examine(names, ts_node_child_by_field_id(loop.node, syntax::grammar().field.body), loop.body_start, loop.targets,
            false);
  }
  // Per-step methods: `self.` state read before it is re-assigned in the same call.
  for (model::ScopeId s = 0; s < static_cast<model::ScopeId>(m.scopes().size()); ++s) {
    const model::Scope& scope = m.scope(s);
    if (!scope.is_function() || !scope.facts.per_step_method || scope.facts.grad_disabled) {
      continue;
    }
    std::map<std::string, Carried> names;
    for (model::BindingId id : by_function[static_cast<size_t>(s)]) {
      if (bindings[static_cast<size_t>(id)].name.starts_with("self.")) {
        names[bindings[static_cast<size_t>(id)].name].bindings.push_back(id);
      }
    }
    examine(names, scope.body, ts_node_start_byte(scope.body), {}, true);
  }
}

} // namespace

Rule make_OOM106_recurrent_state_not_detached() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
