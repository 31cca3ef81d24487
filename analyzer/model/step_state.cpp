// State a step leaves behind on `self.` or in a global: what per-step code stores there, whether
// back-propagating code reads it again (a loss module's `self.loss` summed into the training
// loss is used, not leaked), and whether the next call reads it back (a carried state).
#include "analyzer/model/model.hpp"
#include "analyzer/model/model_impl.hpp"
#include "analyzer/syntax/walk.hpp"

namespace oomlint::model {

namespace {

// `self.x`, one attribute deep: `self.a.b = v` changes an object the step does not own.
bool is_own_attribute(std::string_view name) {
  return name.starts_with("self.") && name.find('.', 5) == std::string_view::npos;
}

// The name is declared `global` in its scope or in the class and comprehension scopes up to its
// function.
bool names_a_global(const Model& m, const Binding& b) {
  ScopeId s = b.scope;
  while (s != kNone) {
    const Scope& scope = m.scope(s);
    if (scope.globals.count(b.name) != 0) {
      return true;
    }
    if (scope.is_function()) {
      return false;
    }
    s = scope.parent;
  }
  return false;
}

// Attribute names (`loss` in `cl.loss`) read anywhere in code that back-propagates: a function
// that runs a backward, or a loop whose passes do.
std::unordered_set<std::string> attributes_in_backprop_code(const Model::Impl& impl) {
  const Model& m = impl.m;
  const auto& g = impl.g;
  std::unordered_set<std::string> out;
  syntax::walk_named(m.scope(0).node, [&](TSNode n) {
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.string || s == g.sym.comment) {
      return false;
    }
    if (s == g.sym.attribute) {
      const std::uint32_t at = ts_node_start_byte(n);
      const ScopeId fn = m.function_at(at);
      const ScopeId scope = m.scope_at(at);
      const LoopId loop = m.loop_at(at, scope);
      if ((fn != kNone && m.scope(fn).facts.backprops) || (loop != kNone && m.iteration_backprops(loop, scope))) {
        out.emplace(impl.text(impl.field(n, g.field.attribute)));
      }
    }
    return true;
  });
  return out;
}

} // namespace

std::vector<StepStateStore> Model::per_step_state_stores() const {
  std::vector<StepStateStore> out;
  const auto& all = bindings();
  for (size_t i = 0; i < all.size(); ++i) {
    const Binding& b = all[i];
    if (b.kind != BindingKind::Assign || ts_node_is_null(b.target)) {
      continue;
    }
    const bool on_self = is_own_attribute(b.name);
    if (!on_self && !names_a_global(*this, b)) {
      continue;
    }
    if (!runs_every_step(b.target, b.loop) || grad_disabled_at(b.target)) {
      continue;
    }
    StepStateStore store;
    store.binding = static_cast<BindingId>(i);
    store.on_self = on_self;
    store.attribute = on_self ? std::string_view(b.name).substr(5) : std::string_view(b.name);
    out.push_back(store);
  }
  return out;
}

bool Model::read_by_backprop_code(const StepStateStore& store) const {
  if (!store.on_self) {
    return false;
  }
  const ScopeId fn = function_at(bindings()[static_cast<size_t>(store.binding)].stmt_start);
  if (fn != kNone && scope(fn).facts.backprops) {
    return false; // the assignment is itself an attribute in backprop code: no read can be told apart
  }
  if (!m_impl->backprop_attribute_reads) {
    m_impl->backprop_attribute_reads = attributes_in_backprop_code(*m_impl);
  }
  return m_impl->backprop_attribute_reads->count(std::string(store.attribute)) != 0;
}

// Any mention of the name before the assignment, in its function, counts, except in `global`
// and `nonlocal` declarations.
bool Model::read_before_assignment(const Binding& b) const {
  const ScopeId fn = function_at(b.stmt_start);
  if (fn == kNone) {
    return false;
  }
  const auto& g = m_impl->g;
  bool read = false;
  syntax::walk_named(scope(fn).body, [&](TSNode n) {
    const TSSymbol s = ts_node_symbol(n);
    if (read || ts_node_start_byte(n) >= b.stmt_start || s == g.sym.global_statement || s == g.sym.nonlocal_statement) {
      return false;
    }
    if ((s == g.sym.attribute || s == g.sym.identifier) && text(n) == b.name) {
      read = true;
    }
    return true;
  });
  return read;
}

} // namespace oomlint::model
