// Forward and backward hooks that keep what they are given: the registration, the function that
// runs on every call, and each statement that stores one of its tensor parameters somewhere that
// outlives the call.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/model/model.hpp"
#include "analyzer/model/model_impl.hpp"
#include "analyzer/syntax/python_grammar.hpp"
#include "analyzer/syntax/walk.hpp"

namespace oomlint::model {

namespace {

// Module hooks get (module, ...) and tensor hooks (grad): the position of the first tensor.
struct HookKind {
  std::string_view method;
  int first_tensor_param;
  std::string_view what;
};

constexpr HookKind kHooks[] = {
    {"register_forward_hook", 1, "activation"},     {"register_forward_pre_hook", 1, "input"},
    {"register_full_backward_hook", 1, "gradient"}, {"register_full_backward_pre_hook", 1, "gradient"},
    {"register_backward_hook", 1, "gradient"},      {"register_hook", 0, "gradient"},
};

const HookKind* hook_kind(std::string_view method) {
  for (const HookKind& k : kHooks) {
    if (k.method == method) {
      return &k;
    }
  }
  return nullptr;
}

// The hook's parameters from position `first` on; `self` of a bound method does not count.
std::vector<std::string> parameter_names(const Model& m, TSNode definition, int first) {
  const auto& g = syntax::grammar();
  std::vector<std::string> names;
  TSNode params = ts_node_child_by_field_id(definition, g.field.parameters);
  const uint32_t count = ts_node_is_null(params) ? 0 : ts_node_named_child_count(params);
  int position = 0;
  for (uint32_t i = 0; i < count; ++i) {
    TSNode p = ts_node_named_child(params, i);
    if (ts_node_symbol(p) == g.sym.comment) {
      continue;
    }
    TSNode name = p;
    if (ts_node_symbol(p) != g.sym.identifier) {
      name = ts_node_child_by_field_id(p, g.field.name);
      if (ts_node_is_null(name) && ts_node_named_child_count(p) > 0) {
        name = ts_node_named_child(p, 0);
      }
    }
    // A parameter with no name (an ERROR node in a definition that does not parse) is no
    // parameter to read.
    if (ts_node_is_null(name)) {
      continue;
    }
    const std::string text(m.text(name));
    if (position == 0 && text == "self") {
      continue;
    }
    if (position >= first && !text.empty()) {
      names.push_back(text);
    }
    ++position;
  }
  return names;
}

// Methods whose result is still the same tensor on the same device (a view, a copy, a cast).
bool keeps_the_tensor(std::string_view method) {
  return method == "detach" || method == "clone" || method == "contiguous" || method == "float" || method == "half" ||
         method == "view" || method == "reshape" || method == "flatten" || method == "squeeze" ||
         method == "unsqueeze" || method == "permute" || method == "transpose" || method == "requires_grad_" ||
         method == "detach_";
}

// The hook parameter that a stored expression still holds on the device, or empty when the
// expression moves it off the GPU or reduces it (`.cpu()`, `.item()`, `.mean()`, `.shape`).
std::string kept_parameter(const Model& m, TSNode expr, const std::vector<std::string>& params, bool& detached) {
  const auto& g = syntax::grammar();
  int guard = 0;
  while (!ts_node_is_null(expr) && guard++ < 32) {
    const TSSymbol s = ts_node_symbol(expr);
    if (s == g.sym.identifier) {
      const std::string name(m.text(expr));
      return std::find(params.begin(), params.end(), name) != params.end() ? name : std::string();
    }
    if (s == g.sym.parenthesized_expression) {
      expr = ts_node_named_child(expr, 0);
      continue;
    }
    if (s == g.sym.subscript) {
      expr = ts_node_child_by_field_id(expr, g.field.value); // output[0], input[0]
      continue;
    }
    if (s != g.sym.call) {
      return {};
    }
    TSNode fn = ts_node_child_by_field_id(expr, g.field.function);
    if (ts_node_symbol(fn) != g.sym.attribute) {
      return {}; // f(output): a reduction or copy we cannot see into
    }
    const std::string_view method = m.text(ts_node_child_by_field_id(fn, g.field.attribute));
    if (keeps_the_tensor(method)) {
      detached = detached || method == "detach" || method == "detach_";
    } else if (method == "to") {
      const std::string_view a = m.text(ts_node_child_by_field_id(expr, g.field.arguments));
      if (names::names_the_cpu(a) || a.find("numpy") != std::string_view::npos) {
        return {};
      }
    } else {
      return {};
    }
    expr = ts_node_child_by_field_id(fn, g.field.object);
  }
  return {};
}

// A name bound inside the hook itself: a list made per call is not a leak.
bool bound_locally(const Model& m, ScopeId hook, std::string_view root) {
  return std::any_of(m.bindings().begin(), m.bindings().end(), [&](const Binding& b) {
    return b.scope == hook && b.name == root && b.kind != BindingKind::Parameter;
  });
}

// The variable a container expression lives in: `self.x` paths whole, otherwise the first name.
std::string container_root(const Model& m, TSNode container) {
  const auto& g = syntax::grammar();
  int guard = 0;
  while (!ts_node_is_null(container) && ts_node_symbol(container) == g.sym.subscript && guard++ < 16) {
    container = ts_node_child_by_field_id(container, g.field.value);
  }
  const std::string_view t = m.text(container);
  if (t.starts_with("self.")) {
    return std::string(t);
  }
  const size_t dot = t.find('.');
  return std::string(dot == std::string_view::npos ? t : t.substr(0, dot));
}

struct StoredValue {
  TSNode container{};
  TSNode value{};
};

// `c.append(v)`, `c.extend(v)`, `c.insert(i, v)`, `c += [v, ...]`; null fields when `n` is none.
StoredValue stored_value(const Model& m, TSNode n) {
  const auto& g = syntax::grammar();
  const TSSymbol s = ts_node_symbol(n);
  if (s == g.sym.call) {
    TSNode fn = ts_node_child_by_field_id(n, g.field.function);
    if (ts_node_symbol(fn) != g.sym.attribute) {
      return {};
    }
    const std::string_view method = m.text(ts_node_child_by_field_id(fn, g.field.attribute));
    TSNode args = ts_node_child_by_field_id(n, g.field.arguments);
    const uint32_t count = ts_node_is_null(args) ? 0 : ts_node_named_child_count(args);
    if ((method == "append" || method == "extend") && count >= 1) {
      return {ts_node_child_by_field_id(fn, g.field.object), ts_node_named_child(args, 0)};
    }
    if (method == "insert" && count >= 2) {
      return {ts_node_child_by_field_id(fn, g.field.object), ts_node_named_child(args, 1)};
    }
  } else if (s == g.sym.augmented_assignment && m.text(ts_node_child_by_field_id(n, g.field.operator_)) == "+=") {
    TSNode right = ts_node_child_by_field_id(n, g.field.right);
    if (ts_node_symbol(right) == g.sym.list && ts_node_named_child_count(right) > 0) {
      return {ts_node_child_by_field_id(n, g.field.left), ts_node_named_child(right, 0)};
    }
  }
  return {};
}

// The statements in a hook's body that store one of its tensor parameters in a container that
// the hook does not create itself; `retention` carries the registration facts to fill in.
void find_retentions(const Model& m, TSNode body, ScopeId hook, const std::vector<std::string>& params,
                     const HookRetention& retention, std::vector<HookRetention>& out) {
  const auto& g = syntax::grammar();
  syntax::walk_named(body, [&](TSNode n) {
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.function_definition || s == g.sym.class_definition || s == g.sym.string) {
      return false;
    }
    const StoredValue stored = stored_value(m, n);
    if (ts_node_is_null(stored.container) || ts_node_is_null(stored.value)) {
      return true;
    }
    // extend(output) / append((input, output)): look at each element of a literal.
    std::vector<TSNode> values{stored.value};
    if (ts_node_symbol(stored.value) == g.sym.tuple || ts_node_symbol(stored.value) == g.sym.list) {
      values.clear();
      for (uint32_t i = 0; i < ts_node_named_child_count(stored.value); ++i) {
        values.push_back(ts_node_named_child(stored.value, i));
      }
    }
    const std::string root = container_root(m, stored.container);
    if (root.empty() || bound_locally(m, hook, root)) {
      return true;
    }
    for (TSNode v : values) {
      bool detached = false;
      std::string param = kept_parameter(m, v, params, detached);
      if (!param.empty()) {
        HookRetention found = retention;
        found.statement = n;
        found.container = std::string(m.text(stored.container));
        found.parameter = std::move(param);
        found.detached = detached;
        out.push_back(std::move(found));
        break;
      }
    }
    return true;
  });
}

// `make_hook(name)`: the function or lambda the factory returns.
TSNode returned_hook(const Model& m, TSNode factory_call) {
  const auto& g = syntax::grammar();
  const ScopeId factory = m.callee_scope(ts_node_child_by_field_id(factory_call, g.field.function));
  if (factory == kNone) {
    return {};
  }
  for (TSNode value : m.scope(factory).returns) {
    if (!ts_node_is_null(value) &&
        (ts_node_symbol(value) == g.sym.lambda || ts_node_symbol(value) == g.sym.identifier)) {
      return value;
    }
  }
  return {};
}

// The container belongs to the function that registers the hook and that function removes the
// hook again (`handle.remove()`): it collects one forward's activations, it does not grow.
bool scoped_to_one_call(const Model& m, const Call& registration, std::string_view container) {
  const ScopeId fn = m.function_at(ts_node_start_byte(registration.node));
  if (fn == kNone) {
    return false;
  }
  const std::string root(container.substr(0, container.find_first_of(".[")));
  bool local = false;
  for (const Binding& b : m.bindings()) {
    if (b.name == root && m.function_at(b.stmt_start) == fn && b.kind == BindingKind::Assign) {
      local = true;
    }
  }
  if (!local) {
    return false;
  }
  return std::any_of(m.calls().begin(), m.calls().end(), [&](const Call& c) {
    return c.method == "remove" && m.function_at(ts_node_start_byte(c.node)) == fn;
  });
}

// Code other than `__init__` empties the container (`self.recordings.clear()`,
// `self.features = []`): its owner resets it between forwards, it does not pile up.
bool emptied_by_its_owner(const Model& m, std::string_view container) {
  const bool cleared = std::any_of(m.calls().begin(), m.calls().end(), [&](const Call& c) {
    if (c.method != "clear" || !c.is_method_call() || m.text(c.receiver) != container) {
      return false;
    }
    const ScopeId fn = m.function_at(ts_node_start_byte(c.node));
    return fn != kNone && m.scope(fn).name != "__init__";
  });
  if (cleared) {
    return true;
  }
  // A local list is made by its first assignment; only an attribute kept on an object is reset
  // by assigning a fresh one outside `__init__`.
  if (!container.starts_with("self.")) {
    return false;
  }
  return std::any_of(m.bindings().begin(), m.bindings().end(), [&](const Binding& b) {
    if (b.kind != BindingKind::Assign || b.name != container || !b.has_value()) {
      return false;
    }
    const ScopeId fn = m.function_at(b.stmt_start);
    const std::string_view value = m.text(b.value);
    return fn != kNone && m.scope(fn).name != "__init__" && (value == "[]" || value == "list()" || value == "{}");
  });
}

struct HookFunction {
  TSNode definition{};
  TSNode body{};
  int bound_first = 0; // leading parameters bound by functools.partial
};

// A hook object, `register_forward_hook(probe)` with `probe = Probe()` (or `Probe()` itself):
// an object of a class in this file whose `__call__` runs on every call; kNone otherwise.
ScopeId call_method_of_object(const Model::Impl& impl, TSNode hook) {
  const Value v = impl.m.value_of(hook);
  return v.kind == Kind::Instance && v.scope >= 0 ? impl.method_of(v.scope, "__call__") : kNone;
}

// The function a registration installs: a lambda, a `def` by name, the result of a local
// factory (`register_forward_hook(save_output(name))`), an object's `__call__`, or any of them
// through functools.partial.
HookFunction installed_hook(const Model::Impl& impl, const Call& registration) {
  const Model& m = impl.m;
  const auto& g = syntax::grammar();
  auto hook_arg = registration.positional(0);
  if (!hook_arg) {
    hook_arg = registration.keyword("hook", m.source().text());
  }
  if (!hook_arg) {
    return {};
  }
  HookFunction out;
  TSNode hook = *hook_arg;
  if (ts_node_symbol(hook) == g.sym.call &&
      m.qualified_name(ts_node_child_by_field_id(hook, g.field.function)) == "functools.partial") {
    TSNode args = ts_node_child_by_field_id(hook, g.field.arguments);
    out.bound_first = static_cast<int>(ts_node_named_child_count(args)) - 1;
    hook = ts_node_named_child(args, 0);
  }
  if (const ScopeId method = call_method_of_object(impl, hook); method != kNone) {
    out.definition = m.scope(method).node;
    out.body = m.scope(method).body;
    return out;
  }
  if (ts_node_symbol(hook) == g.sym.call) {
    hook = returned_hook(m, hook);
  }
  if (ts_node_is_null(hook)) {
    return {};
  }
  if (ts_node_symbol(hook) == g.sym.lambda) {
    out.definition = hook;
    out.body = ts_node_child_by_field_id(hook, g.field.body);
    return out;
  }
  const ScopeId fn = m.callee_scope(hook);
  if (fn == kNone) {
    return {};
  }
  out.definition = m.scope(fn).node;
  out.body = m.scope(fn).body;
  return out;
}

} // namespace

std::vector<HookRetention> Model::hook_retentions() const {
  std::vector<HookRetention> result;
  std::vector<std::uint32_t> listed; // definitions already listed, by start byte
  for (const Call& call : m_calls) {
    const HookKind* kind = hook_kind(call.method);
    if (kind == nullptr || ts_node_is_null(call.arguments)) {
      continue;
    }
    const HookFunction hook = installed_hook(*m_impl, call);
    if (ts_node_is_null(hook.definition)) {
      continue;
    }
    const std::uint32_t key = ts_node_start_byte(hook.definition);
    if (std::find(listed.begin(), listed.end(), key) != listed.end()) {
      continue;
    }
    const std::vector<std::string> params =
        parameter_names(*this, hook.definition, kind->first_tensor_param + std::max(0, hook.bound_first));
    HookRetention registration;
    registration.registration = &call;
    registration.registration_method = kind->method;
    registration.stored_kind = kind->what;
    registration.hook = hook.definition;
    std::vector<HookRetention> found;
    find_retentions(*this, hook.body, scope_of_node(hook.definition), params, registration, found);
    for (HookRetention& r : found) {
      if (scoped_to_one_call(*this, call, r.container) || emptied_by_its_owner(*this, r.container)) {
        continue;
      }
      listed.push_back(key);
      result.push_back(std::move(r));
    }
  }
  return result;
}

} // namespace oomlint::model
