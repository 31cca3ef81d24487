// The constants a file shows: what an expression can evaluate to when every possibility is a
// literal or an import path, through the names that hold them. Rules ask it to prove a value
// (`AMP_DTYPE = torch.bfloat16` reaching `autocast(dtype=AMP_DTYPE)`, `ALLOC_CONF = "..."`
// reaching `os.environ[...]`), and it answers "unknown" wherever the program could hold
// something the file does not show: a call's result, a parameter, an object's attribute.
#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "analyzer/model/model_impl.hpp"

namespace oomlint::model {

namespace {

using Constants = std::vector<Constant>;
using Kind = Constant::Kind;

// More possibilities than this is not a constant worth reasoning about.
constexpr std::size_t kMaxValues = 16;
constexpr int kMaxDepth = 12;

// Different spellings of one torch dtype compare equal.
std::string canonical_path(std::string path) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kAliases = {{
      {"torch.half", "torch.float16"},
      {"torch.float", "torch.float32"},
      {"torch.double", "torch.float64"},
      {"torch.long", "torch.int64"},
      {"torch.int", "torch.int32"},
  }};
  for (const auto& [alias, name] : kAliases) {
    if (path == alias) {
      return std::string(name);
    }
  }
  return path;
}

bool is_torch_dtype(std::string_view path) {
  static constexpr std::array<std::string_view, 10> kDtypes = {
      "torch.float16", "torch.bfloat16", "torch.float32", "torch.float64", "torch.int64",
      "torch.int32",   "torch.int16",    "torch.int8",    "torch.uint8",   "torch.bool"};
  return std::find(kDtypes.begin(), kDtypes.end(), path) != kDtypes.end();
}

// Python's `bool(c)`, where the constant decides it.
std::optional<bool> truth_of(const Constant& c) {
  switch (c.kind) {
  case Kind::Bool:
    return c.text == "True";
  case Kind::None:
    return false;
  case Kind::String:
    return !c.text.empty();
  case Kind::Number:
    if (c.text.find_first_not_of("0._") == std::string::npos) {
      return false; // 0, 0.0, 0_0
    }
    if (c.text.find_first_not_of("0123456789._") == std::string::npos) {
      return true;
    }
    return std::nullopt; // 0x0, 1e-9, 0j: not worth parsing
  case Kind::Path:
    if (is_torch_dtype(c.text)) {
      return true;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

// `a == b`, where the constants decide it.
std::optional<bool> equal(const Constant& a, const Constant& b) {
  if (a.kind == b.kind) {
    if (a.text == b.text) {
      return true;
    }
    switch (a.kind) {
    case Kind::String:
    case Kind::Bool:
    case Kind::None:
      return false;
    case Kind::Path:
      return is_torch_dtype(a.text) && is_torch_dtype(b.text) ? std::optional<bool>(false) : std::nullopt;
    case Kind::Number:
      return std::nullopt; // 1 == 1.0
    }
  }
  const bool numeric_a = a.kind == Kind::Bool || a.kind == Kind::Number;
  const bool numeric_b = b.kind == Kind::Bool || b.kind == Kind::Number;
  if (numeric_a && numeric_b) {
    return std::nullopt; // True == 1
  }
  if ((a.kind == Kind::Path && !is_torch_dtype(a.text)) || (b.kind == Kind::Path && !is_torch_dtype(b.text))) {
    return std::nullopt; // an imported object may compare equal to anything
  }
  return false;
}

Constant make_bool(bool v, TSNode node) {
  return Constant{Kind::Bool, v ? "True" : "False", node};
}

void add_unique(Constants& out, const Constant& c) {
  for (const Constant& o : out) {
    if (o.same_as(c)) {
      return;
    }
  }
  out.push_back(c);
}

class ConstantEvaluator {
public:
  ConstantEvaluator(const Model::Impl& impl, ConstantAssumption assume) : m_impl(impl), m_g(impl.g), m_assume(assume) {}

  std::optional<Constants> eval(TSNode n, ScopeId scope, int depth) {
    n = m_impl.unparen(n);
    if (Model::Impl::null(n) || depth > kMaxDepth) {
      return std::nullopt;
    }
    const TSSymbol s = ts_node_symbol(n);
    if (s == m_g.sym.string) {
      return string_literal(n);
    }
    if (s == m_g.sym.concatenated_string) {
      return concatenated(n);
    }
    if (s == m_g.sym.integer || s == m_g.sym.float_) {
      return Constants{Constant{Kind::Number, std::string(m_impl.text(n)), n}};
    }
    if (s == m_g.sym.unary_operator) { // `-1`: a negative literal
      const TSNode arg = m_impl.field(n, m_g.field.argument);
      const TSSymbol a = Model::Impl::null(arg) ? TSSymbol{0} : ts_node_symbol(arg);
      if ((a == m_g.sym.integer || a == m_g.sym.float_) && m_impl.text(m_impl.field(n, m_g.field.operator_)) == "-") {
        std::string negative(1, '-');
        negative += m_impl.text(arg);
        return Constants{Constant{Kind::Number, std::move(negative), n}};
      }
      return std::nullopt;
    }
    if (s == m_g.sym.true_ || s == m_g.sym.false_) {
      return Constants{make_bool(s == m_g.sym.true_, n)};
    }
    if (s == m_g.sym.none) {
      return Constants{Constant{Kind::None, "None", n}};
    }
    if (s == m_g.sym.identifier) {
      return name(n, scope, depth);
    }
    if (s == m_g.sym.attribute) {
      return attribute(n, scope, depth);
    }
    if (s == m_g.sym.conditional_expression) {
      return conditional(n, scope, depth);
    }
    if (s == m_g.sym.comparison_operator) {
      return comparison(n, scope, depth);
    }
    if (s == m_g.sym.not_operator) {
      auto t = truth(m_impl.field(n, m_g.field.argument), scope, depth + 1);
      return t ? std::optional<Constants>(Constants{make_bool(!*t, n)}) : std::nullopt;
    }
    if (s == m_g.sym.boolean_operator) {
      return boolean(n, scope, depth);
    }
    if (s == m_g.sym.binary_operator && m_impl.text(m_impl.field(n, m_g.field.operator_)) == "+") {
      return concatenation(n, scope, depth);
    }
    return std::nullopt;
  }

  std::optional<bool> truth(TSNode n, ScopeId scope, int depth) {
    const auto values = eval(n, scope, depth);
    if (!values || values->empty()) {
      return std::nullopt;
    }
    std::optional<bool> out;
    for (const Constant& c : *values) {
      const auto t = truth_of(c);
      if (!t || (out && *out != *t)) {
        return std::nullopt;
      }
      out = t;
    }
    return out;
  }

private:
  // `"..."` without interpolations: its contents between the quotes.
  std::optional<Constants> string_literal(TSNode n) const {
    for (std::uint32_t i = 0; i < ts_node_named_child_count(n); ++i) {
      if (ts_node_symbol(ts_node_named_child(n, i)) == m_g.sym.interpolation) {
        return std::nullopt;
      }
    }
    const std::string_view t = m_impl.text(n);
    const std::size_t open = t.find_first_of("\"'");
    if (open == std::string_view::npos) {
      return std::nullopt;
    }
    if (t.substr(0, open).find_first_of("bB") != std::string_view::npos) {
      return std::nullopt; // bytes, not text
    }
    const std::size_t quote = t.size() - open >= 6 && t.substr(open, 3) == std::string(3, t[open]) ? 3 : 1;
    if (t.size() < open + 2 * quote) {
      return std::nullopt;
    }
    return Constants{Constant{Kind::String, std::string(t.substr(open + quote, t.size() - open - 2 * quote)), n}};
  }

  std::optional<Constants> concatenated(TSNode n) const {
    std::string joined;
    for (std::uint32_t i = 0; i < ts_node_named_child_count(n); ++i) {
      const auto part = string_literal(ts_node_named_child(n, i));
      if (!part) {
        return std::nullopt;
      }
      joined += part->front().text;
    }
    return Constants{Constant{Kind::String, std::move(joined), n}};
  }

  std::optional<Constants> concatenation(TSNode n, ScopeId scope, int depth) {
    const auto left = eval(m_impl.field(n, m_g.field.left), scope, depth + 1);
    const auto right = left ? eval(m_impl.field(n, m_g.field.right), scope, depth + 1) : std::nullopt;
    if (!right) {
      return std::nullopt;
    }
    Constants out;
    for (const Constant& a : *left) {
      for (const Constant& b : *right) {
        if (a.kind != Kind::String || b.kind != Kind::String) {
          return std::nullopt;
        }
        add_unique(out, Constant{Kind::String, a.text + b.text, n});
      }
    }
    return capped(std::move(out));
  }

  std::optional<Constants> conditional(TSNode n, ScopeId scope, int depth) {
    // `a if c else b`: children are a, c, b.
    const TSNode then_value = ts_node_named_child(n, 0);
    const TSNode condition = ts_node_named_child(n, 1);
    const TSNode else_value = ts_node_named_child(n, 2);
    if (const auto decided = truth(condition, scope, depth + 1)) {
      return eval(*decided ? then_value : else_value, scope, depth + 1);
    }
    return either(then_value, else_value, scope, depth);
  }

  std::optional<Constants> either(TSNode a, TSNode b, ScopeId scope, int depth) {
    auto out = eval(a, scope, depth + 1);
    const auto other = out ? eval(b, scope, depth + 1) : std::nullopt;
    if (!other) {
      return std::nullopt;
    }
    for (const Constant& c : *other) {
      add_unique(*out, c);
    }
    return capped(std::move(*out));
  }

  // `a == b`, `a != b`, `a is b`, `a is not b`: one operator, two operands.
  std::optional<Constants> comparison(TSNode n, ScopeId scope, int depth) {
    if (ts_node_named_child_count(n) != 2 || ts_node_child_count(n) != 3) {
      return std::nullopt;
    }
    const std::string_view op = m_impl.text(ts_node_child(n, 1));
    const bool negate = op == "!=" || op == "is not";
    if (!negate && op != "==" && op != "is") {
      return std::nullopt;
    }
    const bool identity = op == "is" || op == "is not";
    const auto left = eval(ts_node_named_child(n, 0), scope, depth + 1);
    const auto right = left ? eval(ts_node_named_child(n, 1), scope, depth + 1) : std::nullopt;
    if (!right) {
      return std::nullopt;
    }
    Constants out;
    for (const Constant& a : *left) {
      for (const Constant& b : *right) {
        // Identity is equality only for the singletons.
        if (identity && a.kind != Kind::None && a.kind != Kind::Bool && b.kind != Kind::None && b.kind != Kind::Bool) {
          return std::nullopt;
        }
        const auto eq = equal(a, b);
        if (!eq) {
          return std::nullopt;
        }
        add_unique(out, make_bool(*eq != negate, n));
      }
    }
    return out;
  }

  std::optional<Constants> boolean(TSNode n, ScopeId scope, int depth) {
    const bool is_and = m_impl.text(m_impl.field(n, m_g.field.operator_)) == "and";
    const TSNode left = m_impl.field(n, m_g.field.left);
    const TSNode right = m_impl.field(n, m_g.field.right);
    // `a and b` is `a` when `a` is false, else `b`; `a or b` the reverse.
    const auto left_truth = truth(left, scope, depth + 1);
    if (!left_truth) {
      return either(left, right, scope, depth);
    }
    return eval(*left_truth == is_and ? right : left, scope, depth + 1);
  }

  std::optional<Constants> attribute(TSNode n, ScopeId scope, int depth) {
    const std::string key = m_impl.dotted(n);
    if (key.starts_with("self.") && std::count(key.begin(), key.end(), '.') == 1) {
      return self_attribute(key, scope, depth);
    }
    std::string path = m_impl.resolve_qualified(n, scope);
    if (path.empty()) {
      return std::nullopt; // an attribute of an object: what the program put there
    }
    return Constants{Constant{Kind::Path, canonical_path(std::move(path)), n}};
  }

  std::optional<Constants> name(TSNode n, ScopeId scope, int depth) {
    const Binding* b = m_impl.lookup(m_impl.text(n), scope, ts_node_start_byte(n));
    if (b == nullptr) {
      return std::nullopt;
    }
    // Every binding of the name in the scope that holds it: which of them reaches the use
    // depends on control flow, so all are possible.
    const auto& table = m_impl.scope_names[static_cast<size_t>(b->scope)];
    const auto it = table.find(b->name);
    // A function's `global DTYPE; DTYPE = ...` found from elsewhere: the module's own binding may
    // hold as well, whichever ran last.
    const ScopeId binder = m_impl.enclosing_function(b->scope);
    const bool global_rebinding = binder != kNone && binder != 0 && m_impl.m.scope(binder).globals.count(b->name) != 0;
    if (it == table.end() || global_rebinding || rebound_elsewhere(b->name, b->scope) ||
        (b->scope == 0 && module_namespace_rewritten())) {
      return std::nullopt;
    }
    return union_of(it->second, depth);
  }

  // `exec(open("configurator.py").read())` or `globals().update(...)`: any module-level name may
  // hold what a configuration file or the command line put there.
  bool module_namespace_rewritten() const {
    return std::any_of(m_impl.m.calls().begin(), m_impl.m.calls().end(), [](const Call& c) {
      return !c.is_method_call() && (c.method == "exec" || c.method == "globals" || c.method == "vars");
    });
  }

  // A function declaring the name `global` (or `nonlocal`) and binding it: its bindings live in
  // its own table, out of sight of the scope that holds the name.
  bool rebound_elsewhere(const std::string& name, ScopeId holder) const {
    const auto& scopes = m_impl.m.scopes();
    for (std::size_t i = 0; i < scopes.size(); ++i) {
      if (static_cast<ScopeId>(i) != holder && scopes[i].globals.count(name) != 0 &&
          m_impl.scope_names[i].count(name) != 0) {
        return true;
      }
    }
    return false;
  }

  std::optional<Constants> parameter(const Binding& b, int depth) {
    if (m_assume != ConstantAssumption::ParameterDefaults || Model::Impl::null(b.default_value)) {
      return std::nullopt;
    }
    // Defaults are evaluated where the function is defined.
    const ScopeId outer = m_impl.m.scope(b.scope).parent;
    return eval(b.default_value, outer == kNone ? 0 : outer, depth + 1);
  }

  // `self.x`: what its class's methods and body assign, when nothing else in the file may.
  std::optional<Constants> self_attribute(const std::string& key, ScopeId scope, int depth) {
    const ScopeId fn = m_impl.enclosing_function(scope);
    const ScopeId cls = fn == kNone ? kNone : m_impl.m.scope(fn).class_scope;
    if (cls == kNone) {
      return std::nullopt;
    }
    const std::string_view attr = std::string_view(key).substr(5);
    const auto& table = m_impl.scope_names[static_cast<size_t>(cls)];
    std::vector<BindingId> ids;
    for (const std::string& k : {key, std::string(attr)}) {
      if (const auto it = table.find(k); it != table.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
      }
    }
    if (ids.empty() || attribute_set_elsewhere(attr, cls)) {
      return std::nullopt;
    }
    return union_of(ids, depth);
  }

  // Another class (a subclass) or an object (`trainer.amp_dtype = ...`) may set the attribute.
  bool attribute_set_elsewhere(std::string_view attr, ScopeId cls) const {
    std::string dotted_suffix(1, '.');
    dotted_suffix += attr;
    for (std::size_t i = 0; i < m_impl.scope_names.size(); ++i) {
      if (static_cast<ScopeId>(i) == cls) {
        continue;
      }
      for (const auto& [bound, ids] : m_impl.scope_names[i]) {
        if (bound.ends_with(dotted_suffix) ||
            (bound == attr && m_impl.m.scope(static_cast<ScopeId>(i)).kind == ScopeKind::Class)) {
          return true;
        }
      }
    }
    return false;
  }

  std::optional<Constants> union_of(const std::vector<BindingId>& ids, int depth) {
    Constants out;
    for (BindingId id : ids) {
      if (!m_busy.insert(id).second) {
        return std::nullopt; // `x = x + "..."`: a value built from itself
      }
      const auto values = binding(m_impl.bindings[static_cast<size_t>(id)], depth);
      m_busy.erase(id);
      if (!values) {
        return std::nullopt;
      }
      for (const Constant& c : *values) {
        add_unique(out, c);
      }
    }
    return capped(std::move(out));
  }

  std::optional<Constants> binding(const Binding& b, int depth) {
    if (b.kind == BindingKind::Parameter) {
      return parameter(b, depth);
    }
    if (b.kind == BindingKind::Import) {
      if (b.qualified.empty() || b.qualified.starts_with(".")) {
        return std::nullopt;
      }
      return Constants{Constant{Kind::Path, canonical_path(b.qualified), b.target}};
    }
    if ((b.kind != BindingKind::Assign && b.kind != BindingKind::Walrus) || !b.has_value() || b.element == -2) {
      return std::nullopt;
    }
    TSNode value = m_impl.unparen(b.value);
    if (b.element >= 0) {
      const TSSymbol s = ts_node_symbol(value);
      if ((s != m_g.sym.tuple && s != m_g.sym.expression_list && s != m_g.sym.list) ||
          static_cast<std::uint32_t>(b.element) >= ts_node_named_child_count(value)) {
        return std::nullopt;
      }
      value = ts_node_named_child(value, static_cast<std::uint32_t>(b.element));
    }
    return eval(value, m_impl.m.scope_at(ts_node_start_byte(value)), depth + 1);
  }

  static std::optional<Constants> capped(Constants values) {
    if (values.size() > kMaxValues) {
      return std::nullopt;
    }
    return values;
  }

  const Model::Impl& m_impl;
  const syntax::Grammar& m_g;
  ConstantAssumption m_assume;
  std::unordered_set<BindingId> m_busy;
};

} // namespace

std::optional<std::vector<Constant>> Model::possible_constants(TSNode expr, ConstantAssumption assume) const {
  if (ts_node_is_null(expr)) {
    return std::nullopt;
  }
  return ConstantEvaluator(*m_impl, assume).eval(expr, scope_at(ts_node_start_byte(expr)), 0);
}

std::optional<bool> Model::constant_truth(TSNode expr, ConstantAssumption assume) const {
  if (ts_node_is_null(expr)) {
    return std::nullopt;
  }
  return ConstantEvaluator(*m_impl, assume).truth(expr, scope_at(ts_node_start_byte(expr)), 0);
}

bool Model::ruled_out_by_constants(TSNode node, ConstantAssumption assume) const {
  const std::uint32_t at = ts_node_start_byte(node);
  for (const auto& [condition, body] : m_impl->if_guards) {
    if (body.contains(at) && constant_truth(condition, assume) == false) {
      return true;
    }
  }
  for (const auto& [condition, branch] : m_impl->else_branches) {
    if (branch.contains(at) && constant_truth(condition, assume) == true) {
      return true;
    }
  }
  // `a if c else b`: the branch `node` is in, when `c` decides against it.
  const syntax::Grammar& g = m_impl->g;
  TSNode child = node;
  for (TSNode p = ts_node_parent(node); !ts_node_is_null(p); child = p, p = ts_node_parent(p)) {
    const TSSymbol s = ts_node_symbol(p);
    if (s == g.sym.block || s == g.sym.module || s == g.sym.function_definition || s == g.sym.lambda) {
      break; // a statement: `if` statements are answered above
    }
    if (s != g.sym.conditional_expression || ts_node_named_child_count(p) != 3) {
      continue;
    }
    const bool in_then = ts_node_eq(child, ts_node_named_child(p, 0));
    const bool in_else = ts_node_eq(child, ts_node_named_child(p, 2));
    if (in_then || in_else) {
      const auto t = constant_truth(ts_node_named_child(p, 1), assume);
      if (t && *t != in_then) {
        return true;
      }
    }
  }
  return false;
}

} // namespace oomlint::model
