// State a step leaves behind on `self.` or in a global: what per-step code stores there, whether
// back-propagating code reads it again (a loss module's `self.loss` summed into the training
// loss is used, not leaked), and whether the next call reads it back (a carried state).
#include "analyzer/model/library.hpp"
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
bool names_a_global(const Model& m, const std::string& name, ScopeId from) {
  ScopeId s = from;
  while (s != kNone) {
    const Scope& scope = m.scope(s);
    if (scope.globals.count(name) != 0) {
      return true;
    }
    if (scope.is_function()) {
      return false;
    }
    s = scope.parent;
  }
  return false;
}

// `self.state["loss"].item()`, `self.last.detach()`: the read takes a number or a graph-free copy,
// so whatever the attribute holds is not what the backward uses.
bool read_as_a_number(const Model::Impl& impl, TSNode attribute) {
  const auto& g = impl.g;
  TSNode n = attribute;
  TSNode parent = ts_node_parent(n);
  while (!ts_node_is_null(parent) && ts_node_symbol(parent) == g.sym.subscript &&
         ts_node_eq(impl.field(parent, g.field.value), n)) {
    n = parent; // `self.state["loss"]`: the slot is read, through the container
    parent = ts_node_parent(n);
  }
  if (ts_node_is_null(parent) || ts_node_symbol(parent) != g.sym.attribute ||
      !ts_node_eq(impl.field(parent, g.field.object), n)) {
    return false;
  }
  const std::string_view method = impl.text(impl.field(parent, g.field.attribute));
  return method == "item" || method == "detach" || method == "tolist" || method == "cpu" || method == "numpy";
}

// Attribute names (`loss` in `cl.loss`) read anywhere in code that back-propagates: a function
// that runs a backward, or a loop whose passes do.
void add_attributes_they_are_made_from(const Model::Impl& impl, std::unordered_set<std::string>& read);

// `self.logs["loss"] = loss`, `self.out = x`: the attribute is written here, not read.
bool written_there(const Model::Impl& impl, TSNode attribute) {
  TSNode target = attribute;
  const TSNode parent = ts_node_parent(attribute);
  if (!ts_node_is_null(parent) && ts_node_symbol(parent) == impl.g.sym.subscript) {
    target = parent;
  }
  const TSNode statement = ts_node_parent(target);
  return !ts_node_is_null(statement) &&
         (ts_node_symbol(statement) == impl.g.sym.assignment ||
          ts_node_symbol(statement) == impl.g.sym.augmented_assignment) &&
         ts_node_eq(impl.field(statement, impl.g.field.left), target);
}

std::unordered_set<std::string> attributes_in_backprop_code(const Model::Impl& impl) {
  const Model& m = impl.m;
  const auto& g = impl.g;
  std::unordered_set<std::string> out;
  syntax::walk_named(m.scope(0).node, [&](TSNode n) {
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.string || s == g.sym.comment) {
      return false;
    }
    if (s == g.sym.attribute && !read_as_a_number(impl, n)) {
      const std::uint32_t at = ts_node_start_byte(n);
      const ScopeId fn = m.function_at(at);
      const ScopeId scope = m.scope_at(at);
      const LoopId loop = m.loop_at(at, scope);
      // Read where a loss is made for a backward: by the function that runs it, or by a method
      // whose result its caller back-propagates (`self.compute_G_loss().backward()`).
      // So does a loss module's `forward` (`class LnLoss(nn.Module)` summing `m.conv_kernel.norm()`
      // over a model's layers), whose result its caller adds to the loss.
      const ScopeId cls = fn == kNone ? kNone : m.scope(fn).class_scope;
      const bool loss_module =
          cls != kNone && impl.is_module_forward(fn) && names::is_loss_name(m.scope(cls).name, impl.options);
      const bool loss_method =
          fn != kNone && (m.scope(fn).facts.loss_for_caller || loss_module) && !written_there(impl, n);
      if ((fn != kNone && m.scope(fn).facts.backprops) || loss_method ||
          (loop != kNone && m.iteration_backprops(loop, scope))) {
        out.emplace(impl.text(impl.field(n, g.field.attribute)));
      }
    }
    return true;
  });
  add_attributes_they_are_made_from(impl, out);
  return out;
}

// `self.fake = self.netG(self.real); self.fake_B = self.fake[:n]`: when the loss reads `fake_B`,
// its backward frees the graph `fake` holds too.
void add_attributes_they_are_made_from(const Model::Impl& impl, std::unordered_set<std::string>& read) {
  const auto& g = impl.g;
  for (int round = 0; round < 3; ++round) {
    bool grew = false;
    for (const Binding& b : impl.m.bindings()) {
      if (!b.name.starts_with("self.") || ts_node_is_null(b.value) || read.count(b.name.substr(5)) == 0) {
        continue;
      }
      syntax::walk_named(b.value, [&](TSNode n) {
        if (ts_node_symbol(n) != g.sym.attribute) {
          return true;
        }
        const TSNode object = impl.field(n, g.field.object);
        if (ts_node_symbol(object) == g.sym.identifier && impl.text(object) == "self") {
          grew = read.emplace(impl.text(impl.field(n, g.field.attribute))).second || grew;
        }
        return true;
      });
    }
    if (!grew) {
      break;
    }
  }
}

// `self.output` read (not through `.item()`/`.detach()`) after the store, in `fn`.
bool read_later_in_function(const Model::Impl& impl, ScopeId fn, const StepStateStore& store) {
  const Model& m = impl.m;
  const Binding* b = store.slot != nullptr ? nullptr : &m.bindings()[static_cast<size_t>(store.binding)];
  const std::string_view name = b == nullptr ? std::string_view(store.slot->container_key) : std::string_view(b->name);
  const TSNode statement = b == nullptr ? store.slot->statement : ts_node_parent(b->target);
  const std::uint32_t end = ts_node_end_byte(statement);
  bool read = false;
  syntax::walk_named(m.scope(fn).body, [&](TSNode n) {
    if (read || ts_node_end_byte(n) <= end) {
      return false; // found, or wholly before the store
    }
    if (ts_node_symbol(n) == impl.g.sym.attribute && impl.text(n) == name && !read_as_a_number(impl, n)) {
      read = true;
      return false;
    }
    return true;
  });
  return read;
}

} // namespace

namespace {

// `torch.zeros(b, t).to(x.device)`, `torch.cat([torch.ones(b, 1), torch.zeros(b, t - 1)], 1)`:
// every call in the value makes a tensor from settings or converts one, so it carries no graph.
bool makes_a_fresh_tensor(const Model& m, const Model::Impl& impl, TSNode value) {
  bool makes = false;
  bool only_makers = true;
  syntax::walk_named(value, [&](TSNode n) {
    if (!only_makers || ts_node_symbol(n) != impl.g.sym.call) {
      return only_makers;
    }
    const Call* c = m.call_at(n);
    const bool maker = c != nullptr && library::makes_data_tensors(c->qualified);
    const bool conversion =
        c != nullptr && c->is_method_call() && (c->method == "to" || library::is_tensor_conversion(c->method));
    makes = makes || maker;
    only_makers = maker || conversion;
    return only_makers;
  });
  return makes && only_makers;
}

} // namespace

bool Model::reset_by_a_state_initialiser(const StepStateStore& store) const {
  if (!store.on_self || store.binding == kNone) {
    return false;
  }
  const Binding& kept = bindings()[static_cast<size_t>(store.binding)];
  const ScopeId fn = m_impl->enclosing_function(kept.scope);
  const ScopeId cls = fn == kNone ? kNone : scope(fn).class_scope;
  if (cls == kNone || !in_module_method(kept.scope)) {
    return false;
  }
  for (const Binding& b : bindings()) {
    if (b.name != kept.name || b.kind != BindingKind::Assign || b.element != -1 || !b.has_value()) {
      continue;
    }
    const ScopeId other = m_impl->enclosing_function(b.scope);
    if (other == kNone || other == fn || scope(other).class_scope != cls || scope(other).name == "__init__") {
      continue;
    }
    if (makes_a_fresh_tensor(*this, *m_impl, b.value)) {
      return true;
    }
  }
  return false;
}

std::vector<StepStateStore> Model::per_step_state_stores() const {
  std::vector<StepStateStore> out;
  const auto& all = bindings();
  for (size_t i = 0; i < all.size(); ++i) {
    const Binding& b = all[i];
    if (b.kind != BindingKind::Assign || ts_node_is_null(b.target)) {
      continue;
    }
    const bool on_self = is_own_attribute(b.name);
    if (!on_self && !names_a_global(*this, b.name, b.scope)) {
      continue;
    }
    if (!runs_every_step(b.target, b.loop) || grad_disabled_at(b.target) || names::is_decoding_cache_name(b.name)) {
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

bool Model::replaces_one_slot(const Store& store) const {
  if (store.kind != StoreKind::SubscriptAssign) {
    return false;
  }
  const auto& g = m_impl->g;
  TSNode target = m_impl->unparen(m_impl->field(store.statement, g.field.left));
  if (ts_node_is_null(target) || ts_node_symbol(target) != g.sym.subscript) {
    return false;
  }
  const TSNode key = m_impl->field(target, g.field.subscript);
  return !ts_node_is_null(key) && possible_constants(key).has_value();
}

namespace {

// `LATEST["loss"] = v` in a function: the dict is the module's (no local binding of the name).
bool module_level_name(const Model::Impl& impl, const std::string& name, ScopeId scope, TSNode at) {
  if (name.find('.') != std::string::npos) {
    return false;
  }
  const Binding* b = impl.lookup(name, scope, ts_node_start_byte(at));
  return b != nullptr && b->scope == 0;
}

TSNode slot_of(const Model::Impl& impl, const Store& store) {
  return impl.unparen(impl.field(store.statement, impl.g.field.left));
}

} // namespace

std::vector<StepStateStore> Model::per_step_slot_stores() const {
  std::vector<StepStateStore> out;
  for (const Store& st : stores()) {
    if (st.grad_disabled || !replaces_one_slot(st)) {
      continue;
    }
    const bool on_self = is_own_attribute(st.container_key);
    const bool global = !on_self && (names_a_global(*this, st.container_key, st.scope) ||
                                     module_level_name(*m_impl, st.container_key, st.scope, st.statement));
    if ((!on_self && !global) || !runs_every_step(st.statement, st.loop)) {
      continue;
    }
    StepStateStore store;
    store.slot = &st;
    store.slot_target = slot_of(*m_impl, st);
    store.on_self = on_self;
    store.attribute = on_self ? std::string_view(st.container_key).substr(5) : std::string_view(st.container_key);
    out.push_back(store);
  }
  return out;
}

bool Model::backpropagated_where_kept(const StepStateStore& store) const {
  const TSNode value = store.slot != nullptr ? store.slot->value : bindings()[static_cast<size_t>(store.binding)].value;
  const TSNode v = m_impl->unparen(value);
  if (ts_node_is_null(v)) {
    return false;
  }
  const ScopeId fn = function_at(ts_node_start_byte(v));
  if (fn == kNone || !scope(fn).facts.backprops) {
    return false;
  }
  const bool named = ts_node_symbol(v) == m_impl->g.sym.identifier;
  if (named && m_impl->flows_into_backward(m_impl->text(v), fn, 3)) {
    return true;
  }
  // `g_losses, generated = model(data)` (or `self.pred, self.loss = self.train_step(batch)`): an
  // output of the forward whose other output is back-propagated shares its graph, freed by that
  // backward.
  const Binding* b = named                   ? m_impl->lookup(m_impl->text(v), fn, ts_node_start_byte(v))
                     : store.slot == nullptr ? &bindings()[static_cast<size_t>(store.binding)]
                                             : nullptr;
  if (b == nullptr || b->element < 0 || ts_node_is_null(b->value)) {
    return false;
  }
  const TSNode assignment = ts_node_parent(b->value);
  if (ts_node_is_null(assignment) || ts_node_symbol(assignment) != m_impl->g.sym.assignment) {
    return false;
  }
  const TSNode left = m_impl->field(assignment, m_impl->g.field.left);
  for (uint32_t i = 0; i < ts_node_named_child_count(left); ++i) {
    const TSNode sibling = ts_node_named_child(left, i);
    const TSSymbol kind = ts_node_symbol(sibling);
    if ((kind == m_impl->g.sym.identifier || kind == m_impl->g.sym.attribute) &&
        m_impl->flows_into_backward(m_impl->text(sibling), fn, 3)) {
      return true;
    }
  }
  return false;
}

// The binding that made the value `name` holds at `at`: `total += x` before it adds to the same one.
const Binding* Model::made_where(std::string_view name, ScopeId at_scope, std::uint32_t at) const {
  const Binding* b = m_impl->lookup(name, at_scope, at);
  for (int guard = 0; guard < 16 && b != nullptr && b->kind == BindingKind::AugAssign; ++guard) {
    b = m_impl->lookup(name, at_scope, b->stmt_start);
  }
  return b;
}

bool Model::kept_locally_after_its_backward(const Store& st) const {
  return held_one_step_after_its_backward(st.container, st.value, st.scope, st.loop, st.statement);
}

bool Model::summed_locally_after_its_backward(const Accumulation& acc) const {
  const TSNode target = m_impl->unparen(acc.target);
  if (acc.kind == AccumulationKind::MeterUpdate || acc.loop == kNone || ts_node_is_null(target) ||
      ts_node_symbol(target) != m_impl->g.sym.identifier) {
    return false;
  }
  const Binding* total = made_where(m_impl->text(target), acc.scope, ts_node_start_byte(acc.statement));
  if (total == nullptr || total->kind != BindingKind::Assign || total->loop == kNone || !loop(total->loop).is_step) {
    return false;
  }
  // Only over the terms of one step (extractors, heads): a total the batch loop fills is a running
  // loss of the whole epoch, whose nodes pile up even with each step back-propagated.
  for (LoopId l = acc.loop; l != total->loop; l = loop(l).parent) {
    if (l == kNone || loop(l).iterates_data) {
      return false;
    }
  }
  return held_one_step_after_its_backward(acc.target, acc.value, acc.scope, acc.loop, acc.statement);
}

// `holder` (a list, a running total) is a local of a per-step function, or made anew in each pass
// of a loop around the statement; the value it takes is back-propagated as it comes.
bool Model::held_one_step_after_its_backward(TSNode holder, TSNode added, ScopeId at_scope, LoopId at_loop,
                                             TSNode statement) const {
  const TSNode container = m_impl->unparen(holder);
  // `q_t.view(bs, -1)`, `out["logits"]`: a view or part of the value the backward runs through.
  TSNode value = m_impl->unparen(added);
  for (int guard = 0; guard < 8 && !ts_node_is_null(value); ++guard) {
    const TSSymbol s = ts_node_symbol(value);
    if (s == m_impl->g.sym.call) {
      value = m_impl->unparen(m_impl->field(value, m_impl->g.field.function));
    } else if (s == m_impl->g.sym.attribute) {
      value = m_impl->unparen(m_impl->field(value, m_impl->g.field.object));
    } else if (s == m_impl->g.sym.subscript) {
      value = m_impl->unparen(m_impl->field(value, m_impl->g.field.value));
    } else {
      break;
    }
  }
  if (ts_node_is_null(container) || ts_node_is_null(value) || ts_node_symbol(container) != m_impl->g.sym.identifier ||
      ts_node_symbol(value) != m_impl->g.sym.identifier) {
    return false;
  }
  const ScopeId fn = function_at(ts_node_start_byte(statement));
  if (fn == kNone || !scope(fn).facts.backprops) {
    return false;
  }
  const Binding* list = made_where(m_impl->text(container), at_scope, ts_node_start_byte(statement));
  if (list == nullptr || list->kind != BindingKind::Assign || function_at(list->stmt_start) != fn) {
    return false; // a container of the caller's, of `self`, or of the module outlives the call
  }
  // The list lives one step: made by a step function (`train_step`), or anew in each pass of a
  // loop around the store. A list the whole training loop fills grows with the data.
  bool rebuilt_each_pass = false;
  for (LoopId l = at_loop; l != kNone && !rebuilt_each_pass; l = loop(l).parent) {
    rebuilt_each_pass = l == list->loop && l != at_loop;
  }
  if (!rebuilt_each_pass && !scope(fn).facts.per_step_method && !called_every_step(fn)) {
    return false;
  }
  return m_impl->flows_into_backward(m_impl->text(value), fn, 5);
}

bool Model::read_by_backprop_code(const StepStateStore& store) const {
  if (!store.on_self) {
    return false;
  }
  const std::uint32_t at = store.slot != nullptr ? ts_node_start_byte(store.slot->statement)
                                                 : bindings()[static_cast<size_t>(store.binding)].stmt_start;
  const ScopeId fn = function_at(at);
  if (fn != kNone && scope(fn).facts.backprops) {
    // The store is itself in backprop code: only a read after it, in the same function, tells
    // (`self.output = net(x); loss = crit(self.output, y); loss.backward()`).
    return read_later_in_function(*m_impl, fn, store);
  }
  if (!m_impl->backprop_attribute_reads) {
    m_impl->backprop_attribute_reads = attributes_in_backprop_code(*m_impl);
  }
  return m_impl->backprop_attribute_reads->count(std::string(store.attribute)) != 0;
}

// Any mention of the name before the assignment, in its function, counts, except in `global`
// and `nonlocal` declarations.
bool Model::read_before_assignment(const Binding& b) const {
  return m_impl->mentioned_before(b.name, b.stmt_start);
}

bool Model::read_before_assignment(const StepStateStore& store) const {
  if (store.slot == nullptr) {
    return read_before_assignment(bindings()[static_cast<size_t>(store.binding)]);
  }
  return m_impl->mentioned_before(store.slot->container_key, ts_node_start_byte(store.slot->statement));
}

bool Model::carried_through_forward(std::string_view key, std::uint32_t at) const {
  const ScopeId fn = function_at(at);
  return is_own_attribute(key) && fn != kNone && m_impl->is_module_forward(fn) && m_impl->mentioned_before(key, at);
}

bool Model::feeds_carried_state(const StepStateStore& store) const {
  if (!store.on_self || store.slot != nullptr) {
    return false;
  }
  const Binding& kept = bindings()[static_cast<size_t>(store.binding)];
  const ScopeId fn = function_at(kept.stmt_start);
  for (const Binding& b : bindings()) {
    if (b.stmt_start <= kept.stmt_start || b.kind != BindingKind::Assign || !b.has_value() || b.name == kept.name ||
        function_at(b.stmt_start) != fn) {
      continue;
    }
    const std::string_view value = text(b.value);
    if (value.find(kept.name) != std::string_view::npos && carried_through_forward(b.name, b.stmt_start)) {
      return true;
    }
  }
  return false;
}

bool Model::Impl::mentioned_before(std::string_view name, std::uint32_t at) const {
  const ScopeId fn = m.function_at(at);
  if (fn == kNone) {
    return false;
  }
  bool read = false;
  syntax::walk_named(m.scope(fn).body, [&](TSNode n) {
    const TSSymbol s = ts_node_symbol(n);
    if (read || ts_node_start_byte(n) >= at || s == g.sym.global_statement || s == g.sym.nonlocal_statement) {
      return false;
    }
    if ((s == g.sym.attribute || s == g.sym.identifier) && text(n) == name) {
      read = true;
    }
    return true;
  });
  return read;
}

} // namespace oomlint::model
