// Scopes and loops: what opens a scope (def, class, lambda, comprehension), what opens a loop
// (for, while, comprehension), and what the scope records (parameters, returns, globals).
#include "analyzer/model/builder.hpp"

namespace oomlint::model {

ScopeId ModelBuilder::new_scope(ScopeKind kind, TSNode node, TSNode body, std::string name) {
  Scope sc;
  sc.kind = kind;
  sc.parent = scope;
  sc.node = node;
  sc.body = body;
  sc.name = std::move(name);
  if (kind == ScopeKind::Function && m.m_scopes[static_cast<size_t>(scope)].kind == ScopeKind::Class) {
    sc.class_scope = scope;
  } else if (kind != ScopeKind::Class) {
    sc.class_scope = m.m_scopes[static_cast<size_t>(scope)].class_scope;
  }
  m.m_scopes.push_back(std::move(sc));
  d.scope_names.emplace_back();
  return static_cast<ScopeId>(m.m_scopes.size() - 1);
}

LoopId ModelBuilder::new_loop(LoopKind kind, TSNode node, TSNode iterable, std::uint32_t body_start,
                              std::uint32_t body_end) {
  Loop l;
  l.kind = kind;
  l.parent = loop;
  l.lexical_parent = lexical_loop;
  l.scope = scope;
  l.node = node;
  l.iterable = iterable;
  l.body_start = body_start;
  l.body_end = body_end;
  m.m_loops.push_back(std::move(l));
  return static_cast<LoopId>(m.m_loops.size() - 1);
}

void ModelBuilder::bind_parameters(TSNode params, ScopeId fn) {
  if (null(params)) {
    return;
  }
  const uint32_t count = ts_node_named_child_count(params);
  for (uint32_t i = 0; i < count; ++i) {
    TSNode p = ts_node_named_child(params, i);
    const TSSymbol ps = ts_node_symbol(p);
    TSNode name_node{};
    if (ps == g.sym.identifier) {
      name_node = p;
    } else if (ps == g.sym.default_parameter || ps == g.sym.typed_default_parameter) {
      name_node = d.field(p, g.field.name);
    } else if (ps == g.sym.typed_parameter || ps == g.sym.list_splat_pattern || ps == g.sym.dictionary_splat_pattern) {
      name_node = ts_node_named_child(p, 0);
      if (!null(name_node) && ts_node_symbol(name_node) != g.sym.identifier) {
        name_node = ts_node_named_child(name_node, 0);
      }
    }
    if (!null(name_node) && ts_node_symbol(name_node) == g.sym.identifier) {
      Binding b;
      b.name = std::string(d.text(name_node));
      b.kind = BindingKind::Parameter;
      b.scope = fn;
      b.stmt_start = ts_node_start_byte(p);
      b.visible_from = 0;
      if (ps == g.sym.default_parameter || ps == g.sym.typed_default_parameter) {
        b.default_value = d.field(p, g.field.value);
      }
      if (ps == g.sym.typed_parameter || ps == g.sym.typed_default_parameter) {
        b.annotation = d.field(p, g.field.type);
      }
      d.add_binding(std::move(b));
    }
  }
}

void ModelBuilder::visit_function_definition(TSNode node, Frame& frame) {
  TSNode name = d.field(node, g.field.name);
  TSNode body = d.field(node, g.field.body);
  Binding def;
  def.name = std::string(d.text(name));
  def.kind = BindingKind::FunctionDef;
  def.scope = scope;
  def.loop = loop;
  def.stmt_start = ts_node_start_byte(node);
  def.visible_from = ts_node_start_byte(node);
  const ScopeId fn = new_scope(ScopeKind::Function, node, body, def.name);
  def.defines = fn;
  d.add_binding(std::move(def));
  TSNode parent = parent_node();
  if (!null(parent) && ts_node_symbol(parent) == g.sym.decorated_definition) {
    const uint32_t count = ts_node_named_child_count(parent);
    for (uint32_t i = 0; i < count; ++i) {
      TSNode dec = ts_node_named_child(parent, i);
      if (ts_node_symbol(dec) == g.sym.decorator) {
        m.m_scopes[static_cast<size_t>(fn)].decorators.push_back(ts_node_named_child(dec, 0));
      }
    }
  }
  bind_parameters(d.field(node, g.field.parameters), fn);
  enter_scope(frame, fn);
}

void ModelBuilder::visit_class_definition(TSNode node, Frame& frame) {
  TSNode name = d.field(node, g.field.name);
  Binding def;
  def.name = std::string(d.text(name));
  def.kind = BindingKind::ClassDef;
  def.scope = scope;
  def.stmt_start = ts_node_start_byte(node);
  def.visible_from = ts_node_start_byte(node);
  const ScopeId cls = new_scope(ScopeKind::Class, node, d.field(node, g.field.body), def.name);
  def.defines = cls;
  d.add_binding(std::move(def));
  TSNode bases = d.field(node, g.field.superclasses);
  if (!null(bases)) {
    const uint32_t count = ts_node_named_child_count(bases);
    for (uint32_t i = 0; i < count; ++i) {
      TSNode b = ts_node_named_child(bases, i);
      if (ts_node_symbol(b) != g.sym.keyword_argument) {
        m.m_scopes[static_cast<size_t>(cls)].bases.emplace_back(d.text(b));
      }
    }
  }
  enter_scope(frame, cls);
}

// A lambda is a scope of its own but runs in the loop around it: the loop nesting stays.
void ModelBuilder::visit_lambda(TSNode node, Frame& frame) {
  const ScopeId fn = new_scope(ScopeKind::Lambda, node, d.field(node, g.field.body), "<lambda>");
  bind_parameters(d.field(node, g.field.parameters), fn);
  frame.saved_scope = scope;
  frame.restores_scope = true;
  scope = fn;
}

// A comprehension is both a scope and a loop over the whole expression.
void ModelBuilder::visit_comprehension(TSNode node, Frame& frame) {
  const LoopId l = new_loop(LoopKind::Comprehension, node, TSNode{}, ts_node_start_byte(node), ts_node_end_byte(node));
  enter_scope(frame, new_scope(ScopeKind::Comprehension, node, node, "<comprehension>"));
  m.m_loops[static_cast<size_t>(l)].scope = scope;
  loop = l;
  lexical_loop = l;
}

// The loop is created here but becomes the current loop only in its body block, so the
// iterable and an `else:` clause run outside it.
void ModelBuilder::visit_loop(TSNode node, TSSymbol sym, Frame& frame) {
  TSNode body = d.field(node, g.field.body);
  TSNode iterable = d.field(node, sym == g.sym.for_statement ? g.field.right : g.field.condition);
  const std::uint32_t body_start = null(body) ? ts_node_end_byte(node) : ts_node_start_byte(body);
  const std::uint32_t body_end = null(body) ? ts_node_end_byte(node) : ts_node_end_byte(body);
  const LoopId l =
      new_loop(sym == g.sym.for_statement ? LoopKind::For : LoopKind::While, node, iterable, body_start, body_end);
  frame.created_loop = l;
  if (sym == g.sym.for_statement) {
    TSNode left = d.field(node, g.field.left);
    d.bind_targets(left, iterable, BindingKind::ForTarget, scope, l, ts_node_start_byte(node), body_start, -1);
    const std::string target = std::string(d.text(left));
    m.m_loops[static_cast<size_t>(l)].targets.push_back(target);
  }
}

// The body of a loop runs in that loop; the body of a `with` runs under its grad mode.
void ModelBuilder::visit_body_block(TSNode node, Frame& frame) {
  const Frame& parent = frames.back();
  if (parent.created_loop != kNone) {
    frame.saved_loop = loop;
    frame.saved_lexical_loop = lexical_loop;
    frame.restores_loop = true;
    loop = parent.created_loop;
    lexical_loop = loop;
  }
  if (parent.with_effect != GradEffect::None) {
    d.regions.push_back(
        GradRegion{ts_node_start_byte(node), ts_node_end_byte(node), parent.with_effect == GradEffect::Disable});
  }
}

void ModelBuilder::visit_return(TSNode node) {
  if (m.m_scopes[static_cast<size_t>(scope)].kind == ScopeKind::Function) {
    m.m_scopes[static_cast<size_t>(scope)].returns.push_back(ts_node_named_child(node, 0));
  }
}

void ModelBuilder::visit_global(TSNode node) {
  const uint32_t count = ts_node_named_child_count(node);
  for (uint32_t i = 0; i < count; ++i) {
    m.m_scopes[static_cast<size_t>(scope)].globals.insert(std::string(d.text(ts_node_named_child(node, i))));
  }
}

} // namespace oomlint::model
