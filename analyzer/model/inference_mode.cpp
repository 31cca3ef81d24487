// Which `torch.no_grad()` regions could run under `torch.inference_mode()` instead, and what
// stops the others: tensors made under inference_mode can never re-enter autograd, so the
// answer depends on what the region and its function do with autograd state.
#include "analyzer/model/model.hpp"
#include "analyzer/model/model_impl.hpp"
#include "analyzer/syntax/walk.hpp"

namespace oomlint::model {

namespace {

// In-place updates, parameters, buffers, gradients, state dicts, `requires_grad`, optimizer and
// EMA steps: attribute names through which a block reaches state that lives on in autograd.
bool names_autograd_state(std::string_view attr) {
  const bool in_place = attr.size() > 1 && attr.back() == '_' && attr.front() != '_';
  return in_place || attr == "parameters" || attr == "named_parameters" || attr == "buffers" ||
         attr == "named_buffers" || attr == "data" || attr == "requires_grad" || attr == "load_state_dict" ||
         attr == "grad" || attr == "copy_" || attr == "step" || attr == "update";
}

// Writes into existing tensors or module state (`x[i] = ...`, `self.ema = ...`) count as well.
bool touches_autograd_state(const Model::Impl& impl, TSNode body) {
  const auto& g = impl.g;
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
      found = names_autograd_state(impl.text(impl.field(n, g.field.attribute)));
    } else if (s == g.sym.assignment || s == g.sym.augmented_assignment) {
      const TSNode left = impl.field(n, g.field.left);
      found = ts_node_symbol(left) == g.sym.subscript || impl.text(left).starts_with("self.");
    }
    return true;
  });
  return found;
}

// `no_grad` in `torch.no_grad`; none for a bare `no_grad` imported by name.
std::optional<TSNode> renamed_part(const Model::Impl& impl, TSNode callee) {
  if (ts_node_symbol(callee) != impl.g.sym.attribute) {
    return std::nullopt;
  }
  return impl.field(callee, impl.g.field.attribute);
}

InferenceModeBlocker inference_mode_blocker(const Model::Impl& impl, ScopeId function, TSNode body) {
  if (function != kNone) {
    const FunctionFacts& f = impl.m.scope(function).facts;
    if (f.backprops || f.needs_grad || f.steps_optimizer || f.calls_train_mode) {
      return InferenceModeBlocker::FunctionNeedsAutograd;
    }
  }
  return touches_autograd_state(impl, body) ? InferenceModeBlocker::TouchesAutogradState : InferenceModeBlocker::None;
}

// `with torch.no_grad():` as the statement's own context manager (not `with (torch.no_grad()):`
// or an argument of another call): the region is the `with` body.
void add_no_grad_statements(const Model::Impl& impl, std::vector<NoGradRegion>& out) {
  const auto& g = impl.g;
  const Model& m = impl.m;
  for (const Call& call : m.calls()) {
    if (call.qualified != "torch.no_grad" || ts_node_is_null(call.arguments) ||
        ts_node_named_child_count(call.arguments) != 0) {
      continue;
    }
    const TSNode item = ts_node_parent(call.node);
    if (ts_node_is_null(item) || ts_node_symbol(item) != g.sym.with_item) {
      continue;
    }
    const TSNode with = ts_node_parent(ts_node_parent(item));
    if (ts_node_is_null(with) || ts_node_symbol(with) != g.sym.with_statement) {
      continue;
    }
    NoGradRegion region;
    region.site = call.node;
    region.rename = renamed_part(impl, call.function);
    region.function = m.function_at(ts_node_start_byte(call.node));
    region.blocker = inference_mode_blocker(impl, region.function, impl.field(with, g.field.body));
    out.push_back(region);
  }
}

// `@torch.no_grad()` on a function: the region is the function's body, the site the callee
// `torch.no_grad`. Scope::decorators already holds each decorator's expression, and this looks
// at its first named child, as OOM202 always has: so a bare `@torch.no_grad` (whose first child
// is `torch`) is not found. Kept as it was so that findings do not move.
void add_no_grad_decorators(const Model::Impl& impl, std::vector<NoGradRegion>& out) {
  const auto& g = impl.g;
  const Model& m = impl.m;
  for (ScopeId s = 0; s < static_cast<ScopeId>(m.scopes().size()); ++s) {
    const Scope& scope = m.scope(s);
    if (!scope.is_function()) {
      continue;
    }
    for (TSNode decorator : scope.decorators) {
      const TSNode expr = ts_node_named_child(decorator, 0);
      TSNode callee = expr;
      if (!ts_node_is_null(expr) && ts_node_symbol(expr) == g.sym.call) {
        const TSNode args = impl.field(expr, g.field.arguments);
        if (!ts_node_is_null(args) && ts_node_named_child_count(args) != 0) {
          continue;
        }
        callee = impl.field(expr, g.field.function);
      }
      if (m.qualified_name(callee) != "torch.no_grad") {
        continue;
      }
      NoGradRegion region;
      region.site = expr;
      region.rename = renamed_part(impl, callee);
      region.function = s;
      region.decorator = true;
      region.blocker = inference_mode_blocker(impl, s, scope.body);
      out.push_back(region);
    }
  }
}

} // namespace

std::vector<NoGradRegion> Model::no_grad_regions() const {
  std::vector<NoGradRegion> out;
  add_no_grad_statements(*m_impl, out);
  add_no_grad_decorators(*m_impl, out);
  return out;
}

} // namespace oomlint::model
