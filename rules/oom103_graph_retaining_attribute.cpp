// OOM103 graph-retaining-attribute: a graph-carrying tensor kept on `self.` or in a global by
// code that runs every step, so the step's graph outlives it.
#include <optional>
#include <unordered_set>

#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "analyzer/syntax/python_grammar.hpp"
#include "analyzer/syntax/walk.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM103",
    .name = "graph-retaining-attribute",
    .severity = Severity::Warning,
    .default_enabled = true,
    .fix = FixAvailability::Sometimes,
    .summary = "A tensor that carries an autograd graph is kept on `self.` or in a global past the step",
    .what = "Finds `self.last_logits = logits` (or an assignment to a `global` name) in a per-step method "
            "(`forward`, `training_step`, `*_step`) or inside a training/evaluation loop, when the value still "
            "carries an autograd graph and nothing back-propagates it.",
    .why = "The attribute keeps the step's graph alive after the step: where no backward runs through it, every "
           "activation the graph saved stays on the GPU until the next step overwrites the attribute, so peak "
           "memory carries one extra step of activations; after a backward the graph's nodes still stay in "
           "host memory.",
    .example = "class Model(nn.Module):\n"
               "    def forward(self, x):\n"
               "        h = self.encoder(x)\n"
               "        self.last_hidden = h\n"
               "        return self.head(h)\n",
    .use_instead = "class Model(nn.Module):\n"
                   "    def forward(self, x):\n"
                   "        h = self.encoder(x)\n"
                   "        self.last_hidden = h.detach()\n"
                   "        return self.head(h)\n",
    .fine_when = "The value is detached or a number, the code runs grad-disabled, the attribute is "
                 "back-propagated (read by code that runs a backward, e.g. a loss module's `self.loss` summed "
                 "into the training loss), or it is set outside per-step code (`__init__`, setup). A value carried "
                 "into the next step's forward is OOM106's case.",
    .fix_safety = "Unsafe: `.detach()` stops gradients from flowing through the kept tensor, which matters only "
                  "when something back-propagates through the attribute later.",
    .options = {},
    .measured = "",
    .references = "https://pytorch.org/docs/stable/notes/faq.html",
};

bool global_in_scope(const model::Model& m, const model::Binding& b) {
  model::ScopeId s = b.scope;
  while (s != model::kNone) {
    const model::Scope& sc = m.scope(s);
    if (sc.globals.count(b.name) != 0) {
      return true;
    }
    if (sc.is_function()) {
      return false;
    }
    s = sc.parent;
  }
  return false;
}

// Attribute names (`loss` in `cl.loss`) read by code that back-propagates: a loss module's
// `self.loss` summed into the training loss is used, not leaked. One walk per file, on demand.
std::unordered_set<std::string> attributes_read_by_backprop_code(const model::Model& m) {
  const auto& g = syntax::grammar();
  std::unordered_set<std::string> out;
  syntax::walk_named(m.scope(0).node, [&](TSNode n) {
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.string || s == g.sym.comment) {
      return false;
    }
    if (s == g.sym.attribute) {
      const std::uint32_t at = ts_node_start_byte(n);
      const model::ScopeId fn = m.function_at(at);
      const model::ScopeId scope = m.scope_at(at);
      const model::LoopId loop = m.loop_at(at, scope);
      if ((fn != model::kNone && m.scope(fn).facts.backprops) ||
          (loop != model::kNone && m.iteration_backprops(loop, scope))) {
        out.emplace(m.text(ts_node_child_by_field_id(n, g.field.attribute)));
      }
    }
    return true;
  });
  return out;
}

void check(RuleContext& ctx) {
  const model::Model& m = ctx.model;
  const auto& bindings = m.bindings();
  std::optional<std::unordered_set<std::string>> backprop_reads;
  for (size_t i = 0; i < bindings.size(); ++i) {
    const model::Binding& b = bindings[i];
    if (b.kind != model::BindingKind::Assign || ts_node_is_null(b.target)) {
      continue;
    }
    const bool self_attribute = b.name.starts_with("self.") && b.name.find('.', 5) == std::string::npos;
    if (!self_attribute && !global_in_scope(m, b)) {
      continue;
    }
    if (!m.runs_every_step(b.target, b.loop) || m.grad_disabled_at(b.target)) {
      continue;
    }
    const model::Value value = m.binding_value(static_cast<model::BindingId>(i));
    if (!value.carries_graph() || value.kind == model::Kind::Module || value.kind == model::Kind::LossModule) {
      continue;
    }
    if (m.consumed_differentiably(b.name, b.scope, b.loop, b.stmt_start)) {
      continue;
    }
    const std::string_view attribute = self_attribute ? std::string_view(b.name).substr(5) : std::string_view(b.name);
    if (self_attribute) {
      if (!backprop_reads) {
        backprop_reads = attributes_read_by_backprop_code(m);
      }
      // Its own assignment is not a read; a read elsewhere in backprop code is.
      const model::ScopeId fn_here = m.function_at(b.stmt_start);
      const bool own_backprop = fn_here != model::kNone && m.scope(fn_here).facts.backprops;
      if (backprop_reads->count(std::string(attribute)) != 0 && !own_backprop) {
        continue;
      }
    }
    // A value read before it is re-assigned in the same function is carried into the next
    // step's computation: OOM106 speaks for that.
    bool carried = false;
    const model::ScopeId fn = m.function_at(b.stmt_start);
    if (fn != model::kNone) {
      const auto& g = syntax::grammar();
      syntax::walk_named(m.scope(fn).body, [&](TSNode n) {
        if (carried || ts_node_start_byte(n) >= b.stmt_start || ts_node_symbol(n) == g.sym.global_statement ||
            ts_node_symbol(n) == g.sym.nonlocal_statement) {
          return false;
        }
        if ((ts_node_symbol(n) == g.sym.attribute || ts_node_symbol(n) == g.sym.identifier) && m.text(n) == b.name) {
          carried = true;
        }
        return true;
      });
    }
    if (carried) {
      continue;
    }
    const std::string kept = short_text(m, b.value);
    const bool backward = m.iteration_backprops(b.loop, b.scope);
    std::optional<Fix> fix;
    if (b.element < 0 && !ts_node_is_null(b.value)) {
      fix = append_method_call(m, b.value, "detach", Applicability::Unsafe, fmt::format("Keep `{}.detach()`", kept));
    }
    ctx.reporter.report(
        kMeta, b.target,
        fmt::format("`{}` keeps `{}`, which carries an autograd graph, past the step: {}; keep a detached tensor "
                    "(`.detach()`) or a number (`.item()`)",
                    b.name, kept,
                    backward ? "its graph's nodes stay alive in host memory until the next step overwrites it"
                             : "no backward frees its saved activations, so one extra step of them stays on the GPU"),
        std::move(fix));
    ctx.reporter.attach(m.evidence_of(value));
  }
}

} // namespace

Rule make_OOM103_graph_retaining_attribute() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
