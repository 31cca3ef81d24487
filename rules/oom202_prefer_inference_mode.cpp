// OOM202 prefer-inference-mode: `torch.no_grad()` where nothing computed re-enters autograd, so
// `torch.inference_mode()` would do the same with less bookkeeping.
#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "analyzer/syntax/python_grammar.hpp"
#include "analyzer/syntax/walk.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM202",
    .name = "prefer-inference-mode",
    .severity = Severity::Info,
    .default_enabled = false,
    .fix = FixAvailability::Sometimes,
    .summary = "torch.no_grad() where torch.inference_mode() would do",
    .what = "Finds `with torch.no_grad():` blocks and `@torch.no_grad()` functions whose tensors never go back "
            "into autograd: the function runs no backward and needs no gradients, and the block changes no "
            "parameters or buffers in place.",
    .why = "`inference_mode` is `no_grad` without the version counters and view tracking autograd would need if "
           "the tensors came back into a graph: slightly faster and a little leaner in evaluation and serving "
           "code. Both free the activations the same way; this is a tidy-up, not a leak.",
    .example = "with torch.no_grad():\n    logits = model(x)\n",
    .use_instead = "with torch.inference_mode():\n    logits = model(x)\n",
    .fine_when = "The block updates parameters or buffers in place (EMA weights, weight init, clipping), iterates "
                 "`parameters()`, sets `requires_grad`, or its function back-propagates or needs gradients: "
                 "tensors made under `inference_mode` cannot be used in autograd later.",
    .fix_safety = "Unsafe: a tensor created under `inference_mode` raises when it is later used in autograd or "
                  "modified in place outside it.",
    .options = {},
    .measured = "",
    .references = "https://pytorch.org/docs/stable/generated/torch.autograd.grad_mode.inference_mode.html",
};

// The block touches state that lives on in autograd: in-place updates, parameters, requires_grad.
bool touches_autograd_state(const model::Model& m, TSNode body) {
  const auto& g = syntax::grammar();
  bool found = false;
  syntax::walk_named(body, [&](TSNode n) {
    if (found) {
      return false;
    }
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.string || s == g.sym.comment) {
      return false;
    }
    if (s == g.sym.attribute) {
      const std::string_view attr = m.text(ts_node_child_by_field_id(n, g.field.attribute));
      if ((attr.size() > 1 && attr.back() == '_' && attr.front() != '_') || attr == "parameters" ||
          attr == "named_parameters" || attr == "buffers" || attr == "named_buffers" || attr == "data" ||
          attr == "requires_grad" || attr == "load_state_dict" || attr == "grad" || attr == "copy_" || attr == "step" ||
          attr == "update") {
        found = true;
      }
    } else if (s == g.sym.assignment || s == g.sym.augmented_assignment) {
      TSNode left = ts_node_child_by_field_id(n, g.field.left);
      if (ts_node_symbol(left) == g.sym.subscript || m.text(left).starts_with("self.")) {
        found = true; // writes into an existing tensor or module state
      }
    }
    return true;
  });
  return found;
}

bool function_needs_autograd(const model::Model& m, model::ScopeId fn) {
  if (fn == model::kNone) {
    return false;
  }
  const model::FunctionFacts& f = m.scope(fn).facts;
  return f.backprops || f.needs_grad || f.steps_optimizer || f.calls_train_mode;
}

std::optional<Fix> rename_fix(TSNode callee) {
  const auto& g = syntax::grammar();
  if (ts_node_symbol(callee) != g.sym.attribute) {
    return std::nullopt; // `no_grad()` imported by name: the import would need changing too
  }
  TSNode attr = ts_node_child_by_field_id(callee, g.field.attribute);
  return replace_node(attr, "inference_mode", Applicability::Unsafe, "Use `torch.inference_mode()`");
}

void report(RuleContext& ctx, TSNode callee, TSNode at) {
  ctx.reporter.report(kMeta, at,
                      "nothing computed here goes back into autograd: `torch.inference_mode()` disables the same "
                      "graph recording and also skips version counting and view tracking",
                      rename_fix(callee));
}

void check(RuleContext& ctx) {
  const model::Model& m = ctx.model;
  const auto& g = syntax::grammar();
  for (const model::Call& call : m.calls()) {
    if (call.qualified != "torch.no_grad" || ts_node_is_null(call.arguments) ||
        ts_node_named_child_count(call.arguments) != 0) {
      continue;
    }
    TSNode item = ts_node_parent(call.node);
    if (ts_node_is_null(item) || ts_node_symbol(item) != g.sym.with_item) {
      continue;
    }
    TSNode with = ts_node_parent(ts_node_parent(item));
    if (ts_node_is_null(with) || ts_node_symbol(with) != g.sym.with_statement) {
      continue;
    }
    TSNode body = ts_node_child_by_field_id(with, g.field.body);
    if (function_needs_autograd(m, m.function_at(ts_node_start_byte(call.node))) || touches_autograd_state(m, body)) {
      continue;
    }
    report(ctx, call.function, call.node);
  }
  for (model::ScopeId s = 0; s < static_cast<model::ScopeId>(m.scopes().size()); ++s) {
    const model::Scope& scope = m.scope(s);
    if (!scope.is_function()) {
      continue;
    }
    for (TSNode decorator : scope.decorators) {
      TSNode expr = ts_node_named_child(decorator, 0);
      TSNode callee = expr;
      if (!ts_node_is_null(expr) && ts_node_symbol(expr) == g.sym.call) {
        TSNode args = ts_node_child_by_field_id(expr, g.field.arguments);
        if (!ts_node_is_null(args) && ts_node_named_child_count(args) != 0) {
          continue;
        }
        callee = ts_node_child_by_field_id(expr, g.field.function);
      }
      if (m.qualified_name(callee) != "torch.no_grad" || function_needs_autograd(m, s) ||
          touches_autograd_state(m, scope.body)) {
        continue;
      }
      report(ctx, callee, expr);
    }
  }
}

} // namespace

Rule make_OOM202_prefer_inference_mode() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
