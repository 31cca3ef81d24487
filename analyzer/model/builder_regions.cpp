// Regions: the grad mode a `with` body runs under, the `if` guards and `else` branches rules
// ask about, and the `except` clauses calls sit in.
#include "analyzer/model/builder.hpp"

namespace oomlint::model {

ModelBuilder::GradEffect ModelBuilder::classify_with_item(TSNode expr) const {
  expr = d.unparen(expr);
  if (null(expr)) {
    return GradEffect::None;
  }
  const TSSymbol s = ts_node_symbol(expr);
  if (s == g.sym.conditional_expression) {
    return classify_conditional_with_item(expr);
  }
  if (s == g.sym.identifier) {
    return classify_named_context(expr, false); // `ctx = torch.no_grad() if x else nullcontext()`
  }
  if (s != g.sym.call) {
    return GradEffect::None;
  }
  TSNode fn = d.field(expr, g.field.function);
  if (ts_node_symbol(fn) == g.sym.identifier) {
    if (const GradEffect named = classify_named_context(fn, true); named != GradEffect::None) {
      return named; // `grad_context = nullcontext if with_grad else torch.no_grad`
    }
    if (const GradEffect returned = classify_returned_context(fn); returned != GradEffect::None) {
      return returned; // `with _inference_context(device):`
    }
  }
  const std::string q = d.resolve_qualified(fn, scope);
  const std::string_view last = d.last_name(fn);
  if (q == "torch.enable_grad" || q == "torch.autograd.enable_grad" || last == "enable_grad") {
    return GradEffect::Enable;
  }
  if (q == "torch.set_grad_enabled" || q == "torch.autograd.set_grad_enabled" || last == "set_grad_enabled") {
    TSNode args = d.field(expr, g.field.arguments);
    TSNode first = null(args) ? TSNode{} : ts_node_named_child(args, 0);
    if (!null(first) && ts_node_symbol(first) == g.sym.false_) {
      return GradEffect::Disable;
    }
    if (!null(first) && ts_node_symbol(first) == g.sym.true_) {
      return GradEffect::Enable;
    }
    return GradEffect::None; // `set_grad_enabled(phase == "train")`: decided at run time
  }
  if (q == "torch.no_grad" || q == "torch.inference_mode" || q == "torch.autograd.no_grad" ||
      q == "torch.autograd.grad_mode.no_grad" || q == "torch.autograd.inference_mode" ||
      names::is_grad_disabling_decorator_name(last, d.options)) {
    return GradEffect::Disable;
  }
  return GradEffect::None;
}

// `torch.no_grad() if not train else nullcontext()`: either branch may disable; oomlint
// stays quiet rather than guess.
ModelBuilder::GradEffect ModelBuilder::classify_conditional_with_item(TSNode expr) const {
  GradEffect effect = GradEffect::None;
  const uint32_t count = ts_node_named_child_count(expr);
  for (uint32_t i = 0; i < count; ++i) {
    TSNode c = ts_node_named_child(expr, i);
    if (ts_node_symbol(d.unparen(c)) == g.sym.call) {
      TSNode fn = d.field(d.unparen(c), g.field.function);
      const std::string q = d.resolve_qualified(fn, scope);
      const std::string_view last = d.last_name(fn);
      if (q == "torch.no_grad" || q == "torch.inference_mode" || q == "torch.autograd.no_grad" ||
          names::is_grad_disabling_decorator_name(last, d.options) || last == "set_grad_enabled") {
        effect = GradEffect::Disable;
      }
    }
  }
  return effect;
}

// A context manager chosen earlier in the same scope by a conditional expression: either branch
// may disable autograd, and oomlint stays quiet rather than guess. `called` says the `with`
// calls the name, so the branches are context-manager classes (`torch.no_grad`), not calls.
ModelBuilder::GradEffect ModelBuilder::classify_named_context(TSNode name, bool called) const {
  constexpr size_t kMaxScan = 4096;
  const std::string_view wanted = d.text(name);
  const size_t stop = d.bindings.size() > kMaxScan ? d.bindings.size() - kMaxScan : 0;
  for (size_t i = d.bindings.size(); i > stop; --i) {
    const Binding& b = d.bindings[i - 1];
    if (b.scope != scope || b.name != wanted) {
      continue;
    }
    TSNode value = d.unparen(b.value);
    if (b.kind != BindingKind::Assign || null(value) || ts_node_symbol(value) != g.sym.conditional_expression) {
      return GradEffect::None;
    }
    if (!called) {
      return classify_conditional_with_item(value);
    }
    const uint32_t count = ts_node_named_child_count(value);
    for (uint32_t k = 0; k < count; ++k) {
      TSNode branch = d.unparen(ts_node_named_child(value, k));
      const std::string q = d.resolve_qualified(branch, scope);
      if (q == "torch.no_grad" || q == "torch.inference_mode" || q == "torch.autograd.no_grad") {
        return GradEffect::Disable;
      }
    }
    return GradEffect::None;
  }
  return GradEffect::None;
}

// `def _inference_context(device): return torch.no_grad() if ... else torch.inference_mode()`,
// defined above the `with` that calls it: every return gives a context that disables autograd.
ModelBuilder::GradEffect ModelBuilder::classify_returned_context(TSNode callee) const {
  constexpr size_t kMaxScan = 4096;
  const std::string_view wanted = d.text(callee);
  const size_t stop = d.bindings.size() > kMaxScan ? d.bindings.size() - kMaxScan : 0;
  for (size_t i = d.bindings.size(); i > stop; --i) {
    const Binding& b = d.bindings[i - 1];
    if (b.name != wanted || (b.scope != scope && b.scope != 0)) {
      continue;
    }
    if (b.kind != BindingKind::FunctionDef || b.defines == kNone) {
      return GradEffect::None;
    }
    const Scope& helper = d.m.m_scopes[static_cast<size_t>(b.defines)];
    if (helper.returns.empty() || b.defines == scope) {
      return GradEffect::None;
    }
    for (const TSNode r : helper.returns) {
      if (null(r) || (ts_node_symbol(d.unparen(r)) == g.sym.identifier) ||
          classify_with_item(r) != GradEffect::Disable) {
        return GradEffect::None;
      }
    }
    return GradEffect::Disable;
  }
  return GradEffect::None;
}

// Binds each `as` target and keeps the grad mode the body runs under (a disabling item wins
// over an enabling one); the body block opens the region (visit_body_block).
void ModelBuilder::visit_with(TSNode node, Frame& frame) {
  TSNode clause{};
  const uint32_t count = ts_node_named_child_count(node);
  for (uint32_t i = 0; i < count; ++i) {
    if (ts_node_symbol(ts_node_named_child(node, i)) == g.sym.with_clause) {
      clause = ts_node_named_child(node, i);
    }
  }
  TSNode body = d.field(node, g.field.body);
  const uint32_t items = null(clause) ? 0 : ts_node_named_child_count(clause);
  for (uint32_t i = 0; i < items; ++i) {
    TSNode item = ts_node_named_child(clause, i);
    TSNode value = d.field(item, g.field.value);
    if (null(value)) {
      continue; // a `\` line continuation between the items is a named child too
    }
    TSNode expr = value;
    if (ts_node_symbol(value) == g.sym.as_pattern) {
      expr = ts_node_named_child(value, 0);
      TSNode alias = d.field(value, g.field.alias);
      if (!null(alias)) {
        d.bind_targets(ts_node_named_child(alias, 0), expr, BindingKind::WithTarget, scope, loop,
                       ts_node_start_byte(node), null(body) ? 0 : ts_node_start_byte(body), -1);
      }
    }
    GradEffect effect = classify_with_item(expr);
    if (effect == GradEffect::None && ts_node_symbol(value) == g.sym.as_pattern) {
      effect = exit_stack_effect(expr, d.field(value, g.field.alias), body);
    }
    if (effect == GradEffect::Disable || (effect == GradEffect::Enable && frame.with_effect == GradEffect::None)) {
      frame.with_effect = effect;
    }
  }
}

// `with ExitStack() as stack: stack.enter_context(torch.no_grad())`: a statement of the body
// (not a branch of it) enters a grad-disabling context for the rest of the block.
ModelBuilder::GradEffect ModelBuilder::exit_stack_effect(TSNode item, TSNode alias, TSNode body) const {
  item = d.unparen(item);
  if (null(item) || null(alias) || null(body) || ts_node_symbol(item) != g.sym.call ||
      d.last_name(d.field(item, g.field.function)) != "ExitStack") {
    return GradEffect::None;
  }
  const std::string_view stack = d.text(alias);
  // The body's statements, and those of its `if` branches: entered on a branch, the grad mode is
  // chosen at run time, and oomlint stays quiet rather than guess (as for a conditional item).
  std::vector<TSNode> statements;
  const uint32_t count = ts_node_named_child_count(body);
  for (uint32_t i = 0; i < count; ++i) {
    TSNode statement = ts_node_named_child(body, i);
    statements.push_back(statement);
    if (ts_node_symbol(statement) == g.sym.if_statement) {
      TSNode consequence = d.field(statement, g.field.consequence);
      const uint32_t inner = null(consequence) ? 0 : ts_node_named_child_count(consequence);
      for (uint32_t k = 0; k < inner; ++k) {
        statements.push_back(ts_node_named_child(consequence, k));
      }
    }
  }
  for (TSNode statement : statements) {
    if (ts_node_symbol(statement) != g.sym.expression_statement) {
      continue;
    }
    TSNode call = d.unparen(ts_node_named_child(statement, 0));
    if (null(call) || ts_node_symbol(call) != g.sym.call) {
      continue;
    }
    TSNode fn = d.field(call, g.field.function);
    TSNode args = d.field(call, g.field.arguments);
    if (ts_node_symbol(fn) != g.sym.attribute || d.last_name(fn) != "enter_context" ||
        d.text(d.field(fn, g.field.object)) != stack || null(args) || ts_node_named_child_count(args) != 1) {
      continue;
    }
    if (classify_with_item(ts_node_named_child(args, 0)) == GradEffect::Disable) {
      return GradEffect::Disable;
    }
  }
  return GradEffect::None;
}

void ModelBuilder::visit_except_clause(TSNode node, Frame& frame) {
  ++except_depth;
  frame.pops_except = true;
  d.except_clauses.push_back(ts_node_start_byte(node));
}

// `should_test`, bound last in this function from a test of a modulo (`(j + 1) % freq == 0`).
bool ModelBuilder::flag_of_an_interval(TSNode condition) const {
  condition = d.unparen(condition);
  if (ts_node_symbol(condition) != g.sym.identifier) {
    return false;
  }
  const std::string name(d.text(condition));
  // The function's own table of the name (what is bound so far): one lookup per `if`.
  const Binding* last = d.last_binding_before(name, d.owner_scope(scope), ts_node_start_byte(condition), false);
  return last != nullptr && last->kind == BindingKind::Assign && !null(last->value) &&
         d.text(last->value).find('%') != std::string_view::npos &&
         d.text(last->value).find("rank") == std::string_view::npos;
}

void ModelBuilder::visit_if(TSNode node) {
  TSNode condition = d.field(node, g.field.condition);
  TSNode consequence = d.field(node, g.field.consequence);
  if (!null(condition) && !null(consequence)) {
    d.if_guards.emplace_back(condition, ByteRange{ts_node_start_byte(consequence), ts_node_end_byte(consequence)});
    TSNode alternative = d.field(node, g.field.alternative);
    if (!null(alternative)) {
      d.else_branches.emplace_back(condition, ByteRange{ts_node_start_byte(alternative), ts_node_end_byte(node)});
    }
  }
  // `if step % 100 == 0:`: the consequence runs every N steps; so does `if should_test:` after
  // `should_test = (j + 1) % args.test_freq == 0 or ...`.
  if (!null(condition) && !null(consequence) && d.text(condition).find('%') == std::string_view::npos &&
      flag_of_an_interval(condition)) {
    d.periodic_guards.push_back(ByteRange{ts_node_start_byte(consequence), ts_node_end_byte(consequence)});
  }
  if (!null(condition) && !null(consequence) && d.text(condition).find('%') != std::string_view::npos) {
    d.periodic_guards.push_back(ByteRange{ts_node_start_byte(consequence), ts_node_end_byte(consequence)});
    // `if (step - 1) % self.demo_every != 0: return` (or `continue`): what follows in the block
    // runs every N steps too. (`if idx % world_size != rank: continue` shards the data instead.)
    const std::string_view test = d.text(condition);
    const bool off_the_interval = test.find("!= 0") != std::string_view::npos ||
                                  test.find("!=0") != std::string_view::npos ||
                                  (test.starts_with("not ") && test.find("== 0") != std::string_view::npos);
    const TSNode parent = ts_node_parent(node);
    if (off_the_interval && ts_node_named_child_count(consequence) == 1 && !null(parent) &&
        (ts_node_symbol(parent) == g.sym.block || ts_node_symbol(parent) == g.sym.module)) {
      const TSSymbol only = ts_node_symbol(ts_node_named_child(consequence, 0));
      const bool leaves = only == g.sym.return_statement || d.text(ts_node_named_child(consequence, 0)) == "continue";
      if (leaves && null(d.field(node, g.field.alternative))) {
        d.periodic_guards.push_back(ByteRange{ts_node_end_byte(node), ts_node_end_byte(parent)});
      }
    }
  }
}

} // namespace oomlint::model
