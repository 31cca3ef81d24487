// Calls: every call with its receiver and method, and what it tells the function that makes
// it (it back-propagates, needs grad, steps an optimizer, switches a module's mode), plus the
// stores and meter updates a call makes.
#include "analyzer/model/builder.hpp"
#include "analyzer/support/strings.hpp"

namespace oomlint::model {

// A call that is a whole statement (`model.eval()`, `torch.set_grad_enabled(False)`) acts on
// the rest of its block: remember where that block ends.
void ModelBuilder::visit_expression_statement(TSNode node) {
  TSNode first = ts_node_named_child(node, 0);
  if (!null(first) && ts_node_symbol(first) == g.sym.call) {
    statement_call = first;
    statement_call_id_start = ts_node_start_byte(first);
    statement_node = node;
    statement_block_end = frames.empty() ? ts_node_end_byte(node) : ts_node_end_byte(frames.back().node);
  }
}

void ModelBuilder::visit_call(TSNode node) {
  Call c;
  c.node = node;
  c.function = d.field(node, g.field.function);
  c.arguments = d.field(node, g.field.arguments);
  c.scope = scope;
  c.loop = loop;
  c.in_except = except_depth > 0;
  TSNode fn = d.unparen(c.function);
  if (!null(fn) && ts_node_symbol(fn) == g.sym.attribute) {
    c.receiver = d.field(fn, g.field.object);
    c.method = d.text(d.field(fn, g.field.attribute));
  } else if (!null(fn) && ts_node_symbol(fn) == g.sym.identifier) {
    c.method = d.text(fn);
  }
  Scope& owner = m.m_scopes[static_cast<size_t>(d.owner_scope(scope))];
  if (c.method == "backward" || c.method == "manual_backward") {
    record_backward(c, owner);
  } else if (names::names_a_backward_helper(c.method) && !null(c.arguments) &&
             ts_node_named_child_count(c.arguments) > 0 &&
             ts_node_symbol(ts_node_named_child(c.arguments, 0)) != g.sym.keyword_argument) {
    // The helper's argument is the loss; its receiver is the trainer.
    c.is_backward = true;
    mark_backprop_names(ts_node_named_child(c.arguments, 0), owner);
    owner.facts.backprops = true;
    owner.facts.needs_grad = true;
  }
  record_function_facts(c, owner);
  record_statement_call(c, owner);
  record_call_candidates(c);
  // Receivers of `.eval()`, `.parameters()`, ... : whatever they are bound to, they are modules.
  if (!null(c.receiver) &&
      (c.method == "eval" || c.method == "parameters" || c.method == "named_parameters" || c.method == "modules" ||
       c.method == "named_modules" || c.method == "children" || c.method == "requires_grad_")) {
    const TSSymbol rs = ts_node_symbol(c.receiver);
    if ((rs == g.sym.identifier || rs == g.sym.attribute) && d.text(c.receiver) != "self") {
      d.module_receivers.emplace(d.text(c.receiver));
    }
    if (c.method == "eval" || c.method == "requires_grad_") {
      note_module_bound_from_chain(c.node);
    }
  }
  m.m_calls.push_back(std::move(c));
}

// `inception = InceptionV3().eval().to(device)`: `.eval()` and `.requires_grad_()` return the
// module they are called on, so the name the chain is bound to is a module.
void ModelBuilder::note_module_bound_from_chain(TSNode call) {
  TSNode up = ts_node_parent(call);
  while (!null(up) && (ts_node_symbol(up) == g.sym.attribute || ts_node_symbol(up) == g.sym.call)) {
    if (ts_node_symbol(up) == g.sym.attribute &&
        !names::is_module_returning_method(d.text(d.field(up, g.field.attribute)))) {
      return; // `net.eval().forward(x)`: the chain goes on past the module
    }
    up = ts_node_parent(up);
  }
  if (null(up) || ts_node_symbol(up) != g.sym.assignment) {
    return;
  }
  const TSNode left = d.field(up, g.field.left);
  if (ts_node_symbol(left) == g.sym.identifier || ts_node_symbol(left) == g.sym.attribute) {
    d.module_receivers.emplace(d.text(left));
  }
}

// `loss.backward()`, `accelerator.backward(loss)`: marks the call and every name whose value is
// back-propagated.
void ModelBuilder::record_backward(Call& c, Scope& owner) {
  c.is_backward = true;
  TSNode first_positional{};
  if (!null(c.arguments) && ts_node_named_child_count(c.arguments) > 0) {
    TSNode first = ts_node_named_child(c.arguments, 0);
    if (ts_node_symbol(first) != g.sym.keyword_argument) {
      first_positional = first;
    }
  }
  // `accelerator.backward(loss)`, `self.manual_backward(loss)`, `engine.backward(loss)`, a
  // DeepSpeed engine kept under the model's name (`model.backward(loss)`) and
  // `torch.autograd.backward(loss)`: the argument is what is back-propagated. `t.backward(grad)`
  // back-propagates `t`; its argument is the incoming gradient.
  bool argument_is_loss = null(c.receiver);
  if (!null(c.receiver)) {
    const auto words = identifier_words(d.last_name(c.receiver));
    argument_is_loss = words.contains("self") || words.contains("accelerator") || words.contains("fabric") ||
                       words.contains("engine") || words.contains("trainer") || words.contains("deepspeed") ||
                       words.contains("scaler") || words.contains("autograd") ||
                       // DeepSpeed's `model = deepspeed.initialize(...)[0]`: `model.backward(loss)`.
                       names::is_model_name(d.last_name(c.receiver), d.options);
  }
  if (!null(first_positional) && argument_is_loss) {
    mark_backprop_names(first_positional, owner);
  } else if (!null(c.receiver)) {
    mark_backprop_names(c.receiver, owner);
  }
  owner.facts.backprops = true;
  owner.facts.needs_grad = true;
}

// Every name whose value flows into the back-propagated expression.
void ModelBuilder::mark_backprop_names(TSNode expr, Scope& owner) const {
  std::vector<TSNode> stack{expr};
  int budget = 256;
  while (!stack.empty() && budget-- > 0) {
    TSNode n = stack.back();
    stack.pop_back();
    if (null(n)) {
      continue;
    }
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.identifier || s == g.sym.attribute) {
      const std::string dn = d.dotted(n);
      if (!dn.empty()) {
        owner.backprop_names.insert(dn);
        if (s == g.sym.attribute) {
          stack.push_back(d.field(n, g.field.object));
        }
        continue;
      }
    }
    if (s == g.sym.binary_operator) {
      // `(loss / cfg.gradient_accumulation_steps).backward()`: a divisor scales the loss; the
      // graph is the dividend's.
      const TSNode op = d.field(n, g.field.operator_);
      const std::string_view op_text = null(op) ? std::string_view() : d.text(op);
      if (op_text == "/" || op_text == "//") {
        stack.push_back(d.field(n, g.field.left));
        continue;
      }
    }
    if (s == g.sym.call) {
      TSNode callee = d.unparen(d.field(n, g.field.function));
      if (!null(callee) && ts_node_symbol(callee) == g.sym.attribute) {
        stack.push_back(d.field(callee, g.field.object));
      }
      // `ddp_model(inputs, targets).backward()`: the graph is the model's; its inputs are data.
      const bool model_call =
          !null(callee) && (ts_node_symbol(callee) == g.sym.identifier || ts_node_symbol(callee) == g.sym.attribute) &&
          names::is_model_name(d.last_name(callee), d.options);
      if (!model_call) {
        stack.push_back(d.field(n, g.field.arguments));
      }
      continue;
    }
    const uint32_t count = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < count && i < 32; ++i) {
      stack.push_back(ts_node_named_child(n, i));
    }
  }
}

// `x.requires_grad_()`, `torch.zeros(..., requires_grad=True)`, `optimizer.step()`.
void ModelBuilder::record_function_facts(const Call& c, Scope& owner) {
  // `requires_grad_(False)` freezes a module: that needs no gradients (frozen_modules.cpp).
  if (c.method == "requires_grad_" && d.text(c.arguments).find("False") == std::string_view::npos) {
    owner.facts.needs_grad = true;
    d.needs_grad_points.push_back(ts_node_start_byte(c.node));
  }
  // Child lookups are linear in tree-sitter 0.20: look for the keyword only where its name appears.
  if (!null(c.arguments) && d.text(c.arguments).find("requires_grad") != std::string_view::npos) {
    const uint32_t count = ts_node_named_child_count(c.arguments);
    for (uint32_t i = 0; i < count && i < 64; ++i) {
      TSNode a = ts_node_named_child(c.arguments, i);
      if (ts_node_symbol(a) == g.sym.keyword_argument && d.text(d.field(a, g.field.name)) == "requires_grad" &&
          ts_node_symbol(d.field(a, g.field.value)) == g.sym.true_) {
        owner.facts.needs_grad = true;
        d.needs_grad_points.push_back(ts_node_start_byte(c.node));
      }
    }
  }
  if (c.method == "step" && !null(c.receiver) && names::is_optimizer_name(d.text(c.receiver))) {
    owner.facts.steps_optimizer = true;
  }
}

// `model.eval()` / `model.train()` and `torch.set_grad_enabled(False)` as whole statements act
// on the rest of their block.
void ModelBuilder::record_statement_call(const Call& c, Scope& owner) {
  const bool is_statement = ts_node_start_byte(c.node) == statement_call_id_start &&
                            ts_node_end_byte(c.node) == ts_node_end_byte(statement_call);
  if (!is_statement) {
    return;
  }
  if (!null(c.receiver) && (c.method == "eval" || c.method == "train")) {
    const uint32_t argc = null(c.arguments) ? 0 : ts_node_named_child_count(c.arguments);
    TSNode first = argc > 0 ? ts_node_named_child(c.arguments, 0) : TSNode{};
    const bool to_eval = c.method == "eval" ? argc == 0 : (argc == 1 && ts_node_symbol(first) == g.sym.false_);
    if (argc == 0 || c.method == "train") {
      d.mode_switches.push_back(ModeSwitch{statement_node, c.node, scope, to_eval, statement_block_end});
      if (!to_eval) {
        owner.facts.calls_train_mode = true;
      }
    }
  }
  if (c.method == "set_grad_enabled") {
    TSNode first = null(c.arguments) ? TSNode{} : ts_node_named_child(c.arguments, 0);
    if (!null(first) && (ts_node_symbol(first) == g.sym.false_ || ts_node_symbol(first) == g.sym.true_)) {
      d.regions.push_back(
          GradRegion{ts_node_end_byte(c.node), statement_block_end, ts_node_symbol(first) == g.sym.false_});
    }
  }
}

// Containers and meters that may outlive the iteration.
void ModelBuilder::record_call_candidates(const Call& c) {
  if (!null(c.receiver) && (c.method == "append" || c.method == "extend" || c.method == "insert")) {
    TSNode args = c.arguments;
    const uint32_t argc = null(args) ? 0 : ts_node_named_child_count(args);
    const uint32_t index = c.method == "insert" ? 1 : 0;
    if (argc > index) {
      const StoreKind kind = c.method == "append"   ? StoreKind::Append
                             : c.method == "extend" ? StoreKind::Extend
                                                    : StoreKind::Insert;
      add_store(kind, c.node, c.receiver, ts_node_named_child(args, index));
    }
  }
  const bool plain_update = c.method == "update" && !null(c.receiver) && ts_node_symbol(c.receiver) == g.sym.identifier;
  const bool named = c.method == "update" && !null(c.receiver) && names::is_meter_name(d.text(c.receiver));
  if (!null(c.receiver) && (named || plain_update || c.method == "add_")) {
    TSNode args = c.arguments;
    if (!null(args) && ts_node_named_child_count(args) > 0) {
      TSNode first = ts_node_named_child(args, 0);
      if (ts_node_symbol(first) != g.sym.keyword_argument) {
        add_accumulation(AccumulationKind::MeterUpdate, c.node, c.receiver, first);
        d.accumulation_candidates.back().named_as_meter = named || c.method == "add_";
      }
    }
  }
}

} // namespace oomlint::model
