// Code a user opts into: the body of an `if` whose condition reads only configuration (a
// parameter of the function, `args.*`, `config.*`), not anything that changes per step.
#include <algorithm>
#include <array>
#include <string_view>

#include "analyzer/model/model.hpp"
#include "analyzer/model/model_impl.hpp"
#include "analyzer/support/strings.hpp"
#include "analyzer/syntax/python_grammar.hpp"

namespace oomlint::model {

namespace {

constexpr std::array<std::string_view, 8> kOptionObjects = {"args", "config",  "cfg",   "opt",
                                                            "opts", "hparams", "flags", "options"};

bool is_option_object(std::string_view name) {
  return std::find(kOptionObjects.begin(), kOptionObjects.end(), name) != kOptionObjects.end();
}

// `self.model_config`, `self.train_args`: a configuration object under a longer name.
bool names_an_option_object(std::string_view name) {
  const auto words = identifier_words(name);
  return std::any_of(kOptionObjects.begin(), kOptionObjects.end(),
                     [&](std::string_view w) { return words.contains(w); });
}

// `self.low_vram`, `self.offload`: a memory-saving mode the user switched on, trading speed for peak.
bool names_a_memory_saving_mode(std::string_view name) {
  const auto words = identifier_words(name);
  return (words.contains("low") && (words.contains("vram") || words.contains("mem") || words.contains("memory"))) ||
         words.contains("lowvram") || words.contains("offload") || words.contains("offloading");
}

} // namespace

// A parameter of the function, or of a function it is nested in (a closure's settings:
// `def apply(steps, layers): def forward(x, t): if t in steps: ...`).
bool Model::Impl::is_parameter_of(std::string_view name, ScopeId fn) const {
  for (ScopeId s = fn; s != kNone; s = s == 0 ? kNone : enclosing_function(m.scope(s).parent)) {
    for (const Binding& b : bindings) {
      if (b.kind == BindingKind::Parameter && b.scope == s && b.name == name) {
        return true;
      }
    }
    if (static_cast<size_t>(s) < scope_names.size() &&
        scope_names[static_cast<size_t>(s)].count(std::string(name)) != 0) {
      return false; // the name is the function's own before it is any outer one's
    }
  }
  return false;
}

// `refine = kwargs.get("refine", False)` before any loop: a setting under a local name.
bool Model::Impl::set_once_from_options(std::string_view name, ScopeId fn) const {
  bool seen = false;
  for (const Binding& b : bindings) {
    if (b.scope != fn || b.name != name) {
      continue;
    }
    if (b.kind != BindingKind::Assign || b.loop != kNone || null(b.value) || b.element != -1 ||
        ts_node_symbol(b.value) == syntax::grammar().sym.identifier || !reads_only_options(b.value, fn, false)) {
      return false;
    }
    seen = true;
  }
  return seen;
}

// Every name the condition reads is configuration; it calls nothing.
bool Model::Impl::reads_only_options(TSNode cond, ScopeId fn, bool through_locals) const {
  const TSSymbol s = ts_node_symbol(cond);
  if (s == g.sym.call) {
    // `kwargs.get("refine", False)`, `getattr(args, "x", 0)`: reading a setting.
    TSNode callee = field(cond, g.field.function);
    if (ts_node_symbol(callee) == g.sym.attribute && text(field(callee, g.field.attribute)) == "get") {
      return reads_only_options(field(callee, g.field.object), fn, through_locals);
    }
    return false;
  }
  if (s == g.sym.identifier) {
    const std::string_view name = text(cond);
    return name != "self" &&
           (is_option_object(name) || is_parameter_of(name, fn) || (through_locals && set_once_from_options(name, fn)));
  }
  if (s == g.sym.attribute) {
    TSNode object = field(cond, g.field.object);
    // `self.args.x` / `self.model_config.x`: the trainer's configuration.
    if (ts_node_symbol(object) == g.sym.attribute && text(field(object, g.field.object)) == "self") {
      return names_an_option_object(text(field(object, g.field.attribute)));
    }
    if (ts_node_symbol(object) == g.sym.identifier && text(object) == "self") {
      return names_a_memory_saving_mode(text(field(cond, g.field.attribute)));
    }
    return reads_only_options(object, fn, through_locals);
  }
  const uint32_t count = ts_node_named_child_count(cond);
  if (count == 0) {
    return true; // a literal
  }
  for (uint32_t i = 0; i < count; ++i) {
    if (!reads_only_options(ts_node_named_child(cond, i), fn, through_locals)) {
      return false;
    }
  }
  return true;
}

// `if flag and i in thresholds:` is opted into by `flag`, whatever else it tests.
bool Model::Impl::is_option_condition(TSNode cond, ScopeId fn) const {
  while (ts_node_symbol(cond) == g.sym.parenthesized_expression && ts_node_named_child_count(cond) == 1) {
    cond = ts_node_named_child(cond, 0);
  }
  if (ts_node_symbol(cond) == g.sym.boolean_operator && text(field(cond, g.field.operator_)) == "and") {
    return is_option_condition(field(cond, g.field.left), fn) || is_option_condition(field(cond, g.field.right), fn);
  }
  return reads_only_options(cond, fn, true);
}

bool Model::option_guarded(TSNode node, LoopId loop_id) const {
  const std::uint32_t at = ts_node_start_byte(node);
  const std::uint32_t floor = loop_id == kNone ? 0 : loop(loop_id).body_start;
  const ScopeId fn = m_impl->enclosing_function(scope_at(at));
  for (const auto& [condition, body] : m_impl->if_guards) {
    if (body.contains(at) && body.start >= floor && m_impl->is_option_condition(condition, fn == kNone ? 0 : fn)) {
      return true;
    }
  }
  return false;
}

// `self.store_attn`, every binding of which is `False`/`None` or a parameter defaulting to one
// (`def __init__(self, store_attn=False): self.store_attn = store_attn`).
bool Model::Impl::flag_off_by_default(TSNode cond, ScopeId scope) const {
  cond = unparen(cond);
  if (ts_node_symbol(cond) == g.sym.boolean_operator && text(field(cond, g.field.operator_)) == "and") {
    return flag_off_by_default(field(cond, g.field.left), scope) ||
           flag_off_by_default(field(cond, g.field.right), scope);
  }
  if (ts_node_symbol(cond) != g.sym.attribute || text(field(cond, g.field.object)) != "self") {
    return false;
  }
  const auto held = self_attribute_bindings(text(cond), scope);
  auto off = [&](TSNode v) {
    const TSSymbol s = ts_node_symbol(unparen(v));
    return s == g.sym.false_ || s == g.sym.none;
  };
  return !held.empty() && std::all_of(held.begin(), held.end(), [&](const Binding* b) {
    if (b->kind != BindingKind::Assign || null(b->value)) {
      return false;
    }
    if (off(b->value)) {
      return true;
    }
    if (ts_node_symbol(unparen(b->value)) != g.sym.identifier) {
      return false;
    }
    const Binding* param = lookup(text(unparen(b->value)), b->scope, b->stmt_start);
    return param != nullptr && param->kind == BindingKind::Parameter && !null(param->default_value) &&
           off(param->default_value);
  });
}

bool Model::off_by_default(TSNode node) const {
  const std::uint32_t at = ts_node_start_byte(node);
  const ScopeId scope = scope_at(at);
  return std::any_of(m_impl->if_guards.begin(), m_impl->if_guards.end(), [&](const auto& guard) {
    return guard.second.contains(at) && m_impl->flag_off_by_default(guard.first, scope);
  });
}

bool Model::in_old_torch_branch(TSNode node) const {
  const std::uint32_t at = ts_node_start_byte(node);
  auto newer_than = [](std::string_view test) {
    return test.find('>') != std::string_view::npos && test.find('<') == std::string_view::npos;
  };
  auto older_than = [](std::string_view test) {
    return test.find('<') != std::string_view::npos && test.find('>') == std::string_view::npos;
  };
  // `if newer: ... else: <old>` and `if older: <old>`.
  for (const auto& [condition, branch] : m_impl->else_branches) {
    const std::string_view test = text(condition);
    if (branch.contains(at) && names::is_torch_version_test(test) && newer_than(test)) {
      return true;
    }
  }
  for (const auto& [condition, branch] : m_impl->if_guards) {
    const std::string_view test = text(condition);
    if (branch.contains(at) && names::is_torch_version_test(test) && older_than(test)) {
      return true;
    }
  }
  return false;
}

} // namespace oomlint::model
