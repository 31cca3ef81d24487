// Bindings: what assignments, imports, loop, `with` and walrus targets bind to which names,
// and the accumulation and store candidates an assignment makes (the analysis keeps those
// that outlive a pass).
#include "analyzer/model/builder.hpp"

namespace oomlint::model {

BindingId Model::Impl::add_binding(Binding b) {
  const auto id = static_cast<BindingId>(bindings.size());
  ScopeId target_scope = b.scope;
  if (b.name.starts_with("self.")) {
    // Attributes set in any method are visible from every method of the class.
    const ScopeId fn = enclosing_function(b.scope);
    if (fn != kNone && m.m_scopes[static_cast<size_t>(fn)].class_scope != kNone) {
      target_scope = m.m_scopes[static_cast<size_t>(fn)].class_scope;
    }
  }
  bound_anywhere.insert(b.name);
  scope_names[static_cast<size_t>(target_scope)][b.name].push_back(id);
  // `global dlrm; dlrm = DLRM_Net(...)` in `run()`: the module's `dlrm`, which other functions read.
  const ScopeId owner = enclosing_function(b.scope);
  if (owner != kNone && owner != 0 && m.m_scopes[static_cast<size_t>(owner)].globals.count(b.name) != 0) {
    scope_names[0][b.name].push_back(id);
  }
  bindings.push_back(std::move(b));
  return id;
}

void Model::Impl::bind_targets(TSNode target, TSNode value, BindingKind kind, ScopeId scope, LoopId loop,
                               std::uint32_t stmt_start, std::uint32_t visible_from, int element) {
  target = unparen(target);
  if (null(target)) {
    return;
  }
  const TSSymbol s = ts_node_symbol(target);
  if (s == g.sym.identifier || s == g.sym.attribute) {
    std::string name = dotted(target);
    if (name.empty()) {
      return;
    }
    Binding b;
    b.name = std::move(name);
    b.kind = kind;
    b.scope = scope;
    b.loop = loop;
    b.stmt_start = stmt_start;
    b.visible_from = visible_from;
    b.value = value;
    b.element = element;
    b.target = target;
    add_binding(std::move(b));
    return;
  }
  if (s == g.sym.pattern_list || s == g.sym.tuple_pattern || s == g.sym.list_pattern || s == g.sym.tuple ||
      s == g.sym.expression_list || s == g.sym.list) {
    const uint32_t count = ts_node_named_child_count(target);
    for (uint32_t i = 0; i < count && i < 64; ++i) {
      bind_targets(ts_node_named_child(target, i), value, kind, scope, loop, stmt_start, visible_from,
                   element == -1 ? static_cast<int>(i) : -2);
    }
  }
}

void ModelBuilder::add_store(StoreKind kind, TSNode statement, TSNode container, TSNode value) {
  // A decoder's key/value cache grows by design while generating; it is no gathered output.
  if (names::is_decoding_cache_name(d.text(container))) {
    return;
  }
  Store st;
  st.kind = kind;
  st.statement = statement;
  st.container = container;
  st.value = value;
  st.scope = scope;
  st.loop = loop;
  d.store_candidates.push_back(st);
}

void ModelBuilder::add_accumulation(AccumulationKind kind, TSNode statement, TSNode target, TSNode value) {
  Accumulation a;
  a.kind = kind;
  a.statement = statement;
  a.target = target;
  a.value = value;
  a.scope = scope;
  a.loop = loop;
  d.accumulation_candidates.push_back(a);
}

std::string ModelBuilder::root_key(TSNode n) const {
  n = d.unparen(n);
  int depth = 0;
  while (!null(n) && ts_node_symbol(n) == g.sym.subscript && depth++ < 32) {
    n = d.unparen(d.field(n, g.field.value));
  }
  return d.dotted(n);
}

bool ModelBuilder::mentions(TSNode expr, const std::string& key) const {
  std::vector<TSNode> stack{expr};
  int budget = 256;
  while (!stack.empty() && budget-- > 0) {
    TSNode n = stack.back();
    stack.pop_back();
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.identifier || s == g.sym.attribute) {
      const std::string dn = d.dotted(n);
      if (dn == key || (dn.size() > key.size() && dn.starts_with(key) && dn[key.size()] == '.')) {
        return true;
      }
    }
    const uint32_t count = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < count && i < 32; ++i) {
      stack.push_back(ts_node_named_child(n, i));
    }
  }
  return false;
}

void ModelBuilder::visit_assignment(TSNode node) {
  TSNode left = d.field(node, g.field.left);
  TSNode right = d.field(node, g.field.right);
  int guard = 0;
  while (!null(right) && ts_node_symbol(right) == g.sym.assignment && guard++ < 64) {
    right = d.field(right, g.field.right); // a = b = value
  }
  if (null(right)) {
    return; // annotation without value
  }
  const std::uint32_t start = ts_node_start_byte(node);
  const std::uint32_t end = ts_node_end_byte(node);
  TSNode target = d.unparen(left);
  if (!null(target) && ts_node_symbol(target) == g.sym.attribute && d.last_name(target) == "requires_grad") {
    const ScopeId owner = d.owner_scope(scope);
    m.m_scopes[static_cast<size_t>(owner)].facts.needs_grad = true;
    d.needs_grad_points.push_back(start);
  }
  record_assignment_candidates(node, target, right);
  d.bind_targets(left, right, BindingKind::Assign, scope, loop, start, end, -1);
}

void ModelBuilder::record_assignment_candidates(TSNode node, TSNode target, TSNode right) {
  TSNode rhs = d.unparen(right);
  const bool subscript_target = !null(target) && ts_node_symbol(target) == g.sym.subscript;
  const std::string key = subscript_target ? root_key(target) : d.dotted(target);
  const bool arithmetic = ts_node_symbol(rhs) == g.sym.binary_operator;
  if (!key.empty() && arithmetic && d.text(d.field(rhs, g.field.operator_)) == "+" &&
      d.text(d.unparen(d.field(rhs, g.field.left))) == d.text(target)) {
    TSNode added = d.unparen(d.field(rhs, g.field.right));
    if (ts_node_symbol(added) == g.sym.tuple || ts_node_symbol(added) == g.sym.list) {
      add_store(StoreKind::ListAugment, node, target, d.field(rhs, g.field.right)); // t = t + (x,): a growing tuple
    } else {
      add_accumulation(AccumulationKind::SelfAdd, node, target, d.field(rhs, g.field.right)); // t = t + v
    }
  } else if (!key.empty() && arithmetic && mentions(rhs, key)) {
    // ema = 0.9 * ema + 0.1 * loss, d[k] = d.get(k, 0) + v
    add_accumulation(AccumulationKind::SelfAdd, node, target, rhs);
  } else if (subscript_target) {
    add_store(StoreKind::SubscriptAssign, node, d.field(target, g.field.value), right);
  } else if (!key.empty() && ts_node_symbol(rhs) == g.sym.conditional_expression) {
    // preds = out if preds is None else torch.cat([preds, out])
    const uint32_t count = ts_node_named_child_count(rhs);
    for (uint32_t i = 0; i < count; ++i) {
      TSNode branch = d.unparen(ts_node_named_child(rhs, i));
      if (ts_node_symbol(branch) == g.sym.call) {
        record_concat_store(node, target, key, branch);
      }
    }
  } else if (!key.empty() && ts_node_symbol(rhs) == g.sym.call) {
    record_concat_store(node, target, key, rhs);
  }
}

// preds = torch.cat([preds, logits]): a tensor used as a growing list.
void ModelBuilder::record_concat_store(TSNode node, TSNode target, const std::string& key, TSNode cat_call) {
  const std::string_view fn = d.last_name(d.field(cat_call, g.field.function));
  TSNode args = d.field(cat_call, g.field.arguments);
  TSNode first = null(args) ? TSNode{} : ts_node_named_child(args, 0);
  if ((fn == "cat" || fn == "stack" || fn == "concat" || fn == "concatenate" || fn == "vstack" || fn == "hstack") &&
      !null(first) && (ts_node_symbol(first) == g.sym.list || ts_node_symbol(first) == g.sym.tuple)) {
    const uint32_t count = ts_node_named_child_count(first);
    bool has_target = false;
    TSNode other{};
    for (uint32_t i = 0; i < count && i < 16; ++i) {
      TSNode item = ts_node_named_child(first, i);
      if (d.dotted(item) == key) {
        has_target = true;
      } else if (null(other)) {
        other = item;
      }
    }
    if (has_target && !null(other)) {
      add_store(StoreKind::Concat, node, target, other);
    }
  }
}

void ModelBuilder::visit_augmented_assignment(TSNode node) {
  TSNode left = d.unparen(d.field(node, g.field.left));
  TSNode right = d.field(node, g.field.right);
  const std::string_view op = d.text(d.field(node, g.field.operator_));
  if (null(left) || null(right)) {
    return;
  }
  TSNode rhs = d.unparen(right);
  const bool list_literal = ts_node_symbol(rhs) == g.sym.list || ts_node_symbol(rhs) == g.sym.tuple;
  if (op == "+=" && list_literal) {
    add_store(StoreKind::ListAugment, node, left, right);
  } else if (op == "+=" || op == "-=") {
    add_accumulation(AccumulationKind::AugmentedAdd, node, left, right);
  }
  const std::string name = d.dotted(left);
  if (!name.empty()) {
    Binding b;
    b.name = name;
    b.kind = BindingKind::AugAssign;
    b.scope = scope;
    b.loop = loop;
    b.stmt_start = ts_node_start_byte(node);
    b.visible_from = ts_node_end_byte(node);
    b.value = right;
    b.op = left;
    b.target = left;
    d.add_binding(std::move(b));
  }
}

void ModelBuilder::visit_import(TSNode node, bool from) {
  const uint32_t count = ts_node_named_child_count(node);
  std::string base;
  if (from) {
    TSNode module_name = d.field(node, g.field.module_name);
    base = std::string(d.text(module_name));
  }
  for (uint32_t i = 0; i < count; ++i) {
    TSNode child = ts_node_named_child(node, i);
    if (from && ts_node_start_byte(child) == ts_node_start_byte(d.field(node, g.field.module_name))) {
      continue;
    }
    const TSSymbol s = ts_node_symbol(child);
    std::string path;
    std::string alias;
    if (s == g.sym.dotted_name) {
      path = std::string(d.text(child));
      alias = from ? path : path.substr(0, path.find('.'));
      if (!from) {
        path = alias; // `import torch.nn` binds `torch`
      }
    } else if (s == g.sym.aliased_import) {
      path = std::string(d.text(d.field(child, g.field.name)));
      alias = std::string(d.text(d.field(child, g.field.alias)));
    } else if (s == g.sym.wildcard_import && from && scope == 0) {
      // `from .utils import *` in a package: bound as `*`, a name no expression reads, so that
      // the package's summary can say which module its names come from.
      path = {};
      alias = "*";
    } else {
      continue;
    }
    Binding b;
    b.name = alias;
    b.kind = BindingKind::Import;
    b.scope = scope;
    b.loop = loop;
    b.stmt_start = ts_node_start_byte(node);
    b.visible_from = ts_node_end_byte(node);
    b.qualified = from ? (path.empty() ? base : base.ends_with(".") ? base + path : base + "." + path) : path;
    if (b.qualified.starts_with(".") && d.project != nullptr) {
      b.qualified = absolute_import(b.qualified, *d.project);
    }
    d.note_framework(b.qualified);
    d.add_binding(std::move(b));
  }
}

// `for x in xs` inside a comprehension: its target is bound in the comprehension's scope.
void ModelBuilder::visit_for_in_clause(TSNode node) {
  d.bind_targets(d.field(node, g.field.left), d.field(node, g.field.right), BindingKind::ForTarget, scope, loop,
                 ts_node_start_byte(node), ts_node_start_byte(node), -1);
}

void ModelBuilder::visit_named_expression(TSNode node) {
  d.bind_targets(d.field(node, g.field.name), d.field(node, g.field.value), BindingKind::Walrus, scope, loop,
                 ts_node_start_byte(node), ts_node_end_byte(node), -1);
}

} // namespace oomlint::model
