// Backwards that keep their graph (`retain_graph=True`) and whether anything in the same
// iteration uses the kept graph again.
#include <cstdint>
#include <string_view>
#include <vector>

#include "analyzer/model/model.hpp"
#include "analyzer/model/model_impl.hpp"
#include "analyzer/syntax/python_grammar.hpp"

namespace oomlint::model {

namespace {

bool is_backward_call(const Call& call) {
  return call.method == "backward" || call.qualified.ends_with("autograd.backward");
}

// The iteration of the call's loop, or the rest of its function outside any loop.
std::uint32_t pass_end(const Model& m, const Call& call) {
  if (call.loop != kNone) {
    return m.loop(call.loop).body_end;
  }
  const ScopeId fn = m.function_at(ts_node_start_byte(call.node));
  return fn != kNone ? ts_node_end_byte(m.scope(fn).node) : UINT32_MAX;
}

const Call* later_backward(const Model& m, const Call& call) {
  const std::uint32_t after = ts_node_end_byte(call.node);
  const std::uint32_t until = pass_end(m, call);
  for (const Call& other : m.calls()) {
    const std::uint32_t at = ts_node_start_byte(other.node);
    if (at < after || at >= until) {
      continue;
    }
    if (other.is_backward || other.qualified == "torch.autograd.grad" || other.qualified == "torch.autograd.backward") {
      return &other;
    }
  }
  return nullptr;
}

// The tensor a backward call back-propagates: the receiver of `t.backward()`, the first
// argument of `torch.autograd.backward([t])`, the second of `dist_autograd.backward(ctx, [t])`.
TSNode back_propagated_tensor(const Call& call) {
  TSNode tensor = call.receiver;
  if (call.method != "backward" || ts_node_is_null(tensor) || call.qualified.ends_with(".backward")) {
    auto first = call.positional(0);
    tensor = first ? *first : TSNode{};
  }
  if (call.qualified.ends_with("autograd.backward") && call.qualified != "torch.autograd.backward") {
    auto second = call.positional(1);
    tensor = second ? *second : TSNode{};
  }
  const auto& g = syntax::grammar();
  if (!ts_node_is_null(tensor) && ts_node_symbol(tensor) == g.sym.list && ts_node_named_child_count(tensor) > 0) {
    tensor = ts_node_named_child(tensor, 0);
  }
  return tensor;
}

// The name whose graph an expression back-propagates: `loss[k].sum()` and `losses["actor"]` ->
// `loss`/`losses`, whose graph was built where the name was bound. Null for a value a call
// computes afresh (`model(x).sum()`, `criterion(out, y)`).
TSNode graph_root(TSNode expr) {
  const auto& g = syntax::grammar();
  while (!ts_node_is_null(expr)) {
    const TSSymbol sym = ts_node_symbol(expr);
    if (sym == g.sym.identifier || sym == g.sym.attribute) {
      return expr;
    }
    if (sym == g.sym.call) {
      const TSNode function = ts_node_child_by_field_id(expr, g.field.function);
      if (ts_node_is_null(function) || ts_node_symbol(function) != g.sym.attribute) {
        return TSNode{};
      }
      expr = ts_node_child_by_field_id(function, g.field.object); // `x.sum()` reduces `x`'s graph
    } else if (sym == g.sym.subscript) {
      expr = ts_node_child_by_field_id(expr, g.field.value);
    } else if (sym == g.sym.parenthesized_expression && ts_node_named_child_count(expr) == 1) {
      expr = ts_node_named_child(expr, 0);
    } else {
      return TSNode{};
    }
  }
  return expr;
}

bool graph_built_each_pass(const Model& m, const Call& call) {
  const TSNode tensor = graph_root(back_propagated_tensor(call));
  if (ts_node_is_null(tensor)) {
    return true; // computed right here
  }
  const std::string_view name = m.text(tensor);
  std::uint32_t from = 0;
  const std::uint32_t to = ts_node_start_byte(call.node);
  const ScopeId fn = m.function_at(to);
  if (call.loop != kNone) {
    from = m.loop(call.loop).body_start;
  } else if (fn != kNone) {
    from = ts_node_start_byte(m.scope(fn).node);
  }
  for (const Binding& b : m.bindings()) {
    if (b.name == name && b.stmt_start >= from && b.stmt_start < to && m.function_at(b.stmt_start) == fn) {
      return true;
    }
  }
  return false;
}

// A parameter no call in the file overrides: each resolved call neither names it nor passes
// as many positional arguments (counting a method's `self` as taken), nor spreads `*args`.
bool default_never_overridden(const Model::Impl& impl, const Binding& param) {
  const Model& m = impl.m;
  std::size_t index = 0;
  for (const Binding& b : m.bindings()) {
    if (b.scope == param.scope && b.kind == BindingKind::Parameter && b.stmt_start < param.stmt_start) {
      ++index;
    }
  }
  if (m.scope(param.scope).class_scope != kNone && index > 0) {
    --index; // `self.f(...)` passes `self` implicitly: the conservative position is one lower
  }
  for (const Call& c : m.calls()) {
    if (impl.local_callee(c.function, c.scope) != param.scope) {
      continue;
    }
    if (c.has_star_args() || c.keyword(param.name, m.source().text()) || c.positional(index)) {
      return false;
    }
  }
  return true;
}

// Every value the constants allow is `True`: where the last of them is written, else null.
std::optional<TSNode> always_true(const std::optional<std::vector<Constant>>& values) {
  if (!values || values->empty()) {
    return std::nullopt;
  }
  for (const Constant& c : *values) {
    if (c.kind != Constant::Kind::Bool || c.text != "True") {
      return std::nullopt;
    }
  }
  return values->back().node;
}

// Where the `True` of a flag given by a name is written: a constant the file shows (`RETAIN =
// True` that nothing re-binds), or the default of the function's own parameter (`retain=True`)
// when no call in the file overrides it. None for a literal, or where the flag may be false.
std::optional<TSNode> true_by_name(const Model::Impl& impl, const Call& call, TSNode flag) {
  if (ts_node_symbol(flag) != impl.g.sym.identifier) {
    return std::nullopt;
  }
  if (auto origin = always_true(impl.m.possible_constants(flag))) {
    return origin;
  }
  const Binding* b = impl.lookup(impl.text(flag), call.scope, ts_node_start_byte(flag));
  if (b == nullptr || b->kind != BindingKind::Parameter || !default_never_overridden(impl, *b)) {
    return std::nullopt;
  }
  return always_true(impl.m.possible_constants(flag, ConstantAssumption::ParameterDefaults));
}

// Where the step repeats, for the notes: the loop's header up to its iterable (or condition),
// or the per-step method's name.
void locate_repeat(const Model::Impl& impl, const Call& call, RetainedGraphBackward& out) {
  const Model& m = impl.m;
  if (call.loop != kNone) {
    const Loop& loop = m.loop(call.loop);
    out.repeats_in_loop = true;
    out.repeat_start = ts_node_start_byte(loop.node);
    out.repeat_end = ts_node_is_null(loop.iterable) ? loop.body_start : ts_node_end_byte(loop.iterable);
    return;
  }
  const ScopeId fn = m.function_at(ts_node_start_byte(call.node));
  if (fn != kNone) {
    const TSNode name = impl.field(m.scope(fn).node, impl.g.field.name);
    out.repeat_start = ts_node_start_byte(name);
    out.repeat_end = ts_node_end_byte(name);
  }
}

bool repeats_every_step(const Model& m, const Call& call) {
  if (call.loop != kNone) {
    const Loop& loop = m.loop(call.loop);
    if (!loop.is_step || (loop.parent != kNone && m.loop(loop.parent).is_step)) {
      return false;
    }
  }
  return m.runs_every_step(call.node, call.loop);
}

} // namespace

std::vector<RetainedGraphBackward> Model::retained_graph_backwards() const {
  std::vector<RetainedGraphBackward> result;
  for (const Call& call : m_calls) {
    if (!is_backward_call(call) || ts_node_is_null(call.arguments)) {
      continue;
    }
    auto flag = call.keyword("retain_graph", m_source.text());
    if (!flag || ts_node_is_null(*flag)) {
      continue;
    }
    const std::optional<TSNode> origin = true_by_name(*m_impl, call, *flag);
    if (ts_node_symbol(*flag) != m_impl->g.sym.true_ && !origin) {
      continue;
    }
    RetainedGraphBackward backward;
    backward.call = &call;
    backward.flag = ts_node_parent(*flag);
    backward.repeats_every_step = repeats_every_step(*this, call);
    backward.later_backward = later_backward(*this, call);
    backward.graph_built_each_pass = graph_built_each_pass(*this, call);
    backward.caller_back_propagates_result =
        call.loop == kNone && m_impl->result_back_propagated_by_a_caller(function_at(ts_node_start_byte(call.node)));
    if (const TSNode tensor = back_propagated_tensor(call); !ts_node_is_null(tensor)) {
      backward.tensor = tensor;
    }
    backward.flag_origin = origin;
    locate_repeat(*m_impl, call, backward);
    result.push_back(backward);
  }
  return result;
}

} // namespace oomlint::model
