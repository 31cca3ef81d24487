// The one traversal that builds the model: an iterative TSTreeCursor walk (no recursion, so
// 10,000 nested brackets cannot overflow the stack) that records scopes, bindings, loops,
// grad-mode regions, calls and the statements rules ask about.
#include <algorithm>

#include "analyzer/model/model_impl.hpp"
#include "analyzer/support/strings.hpp"
#include "analyzer/syntax/parser.hpp"

namespace oomlint::model {

namespace {

enum class GradEffect : std::uint8_t { None, Disable, Enable };

// What entering a node changed, so leaving it can undo exactly that.
struct Frame {
  TSNode node{};
  bool pops_statement = false;
  ScopeId saved_scope = kNone;
  LoopId saved_loop = kNone;
  LoopId saved_lexical_loop = kNone;
  bool restores_scope = false;
  bool restores_loop = false;
  bool pops_except = false;
  LoopId created_loop = kNone;               // for/while: the loop its body block activates
  GradEffect with_effect = GradEffect::None; // with: what its body block runs under
};

} // namespace

Model::Impl::Impl(Model& model, const ModelOptions& opts)
    : m(model), g(syntax::grammar()), src(model.source().text()), options(opts) {}

std::string_view Model::Impl::text(TSNode n) const {
  return syntax::node_text(n, src);
}

TSNode Model::Impl::unparen(TSNode n) const {
  int guard = 0;
  while (!null(n) && ts_node_symbol(n) == g.sym.parenthesized_expression && guard++ < 256) {
    n = ts_node_named_child(n, 0);
  }
  return n;
}

std::string Model::Impl::dotted(TSNode n) const {
  n = unparen(n);
  std::vector<std::string_view> parts;
  int guard = 0;
  while (!null(n) && guard++ < 64) {
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.identifier) {
      parts.push_back(text(n));
      std::string out;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (!out.empty()) {
          out += '.';
        }
        out += *it;
      }
      return out;
    }
    if (s != g.sym.attribute) {
      return {};
    }
    parts.push_back(text(field(n, g.field.attribute)));
    n = unparen(field(n, g.field.object));
  }
  return {};
}

std::string_view Model::Impl::last_name(TSNode n) const {
  n = unparen(n);
  if (null(n)) {
    return {};
  }
  const TSSymbol s = ts_node_symbol(n);
  if (s == g.sym.identifier) {
    return text(n);
  }
  if (s == g.sym.attribute) {
    return text(field(n, g.field.attribute));
  }
  return {};
}

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

void Model::Impl::build(TSNode root) {
  Scope module_scope;
  module_scope.kind = ScopeKind::Module;
  module_scope.node = root;
  module_scope.body = root;
  m.m_scopes.push_back(module_scope);
  scope_names.emplace_back();

  ScopeId scope = 0;
  LoopId loop = kNone;         // innermost loop of the current function
  LoopId lexical_loop = kNone; // innermost loop around the current node, across functions
  int except_depth = 0;
  std::uint32_t statement_call_id_start = UINT32_MAX; // start byte of a call that is a whole statement
  TSNode statement_call{};
  TSNode statement_node{};
  std::uint32_t statement_block_end = 0; // end of the block that holds statement_node
  std::vector<std::int32_t> open_statements;
  const bool tree_has_error = ts_node_has_error(root);

  auto new_scope = [&](ScopeKind kind, TSNode node, TSNode body, std::string name) {
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
    scope_names.emplace_back();
    return static_cast<ScopeId>(m.m_scopes.size() - 1);
  };

  auto new_loop = [&](LoopKind kind, TSNode node, TSNode iterable, std::uint32_t body_start, std::uint32_t body_end) {
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
  };

  auto bind_parameters = [&](TSNode params, ScopeId fn) {
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
        name_node = field(p, g.field.name);
      } else if (ps == g.sym.typed_parameter || ps == g.sym.list_splat_pattern ||
                 ps == g.sym.dictionary_splat_pattern) {
        name_node = ts_node_named_child(p, 0);
        if (!null(name_node) && ts_node_symbol(name_node) != g.sym.identifier) {
          name_node = ts_node_named_child(name_node, 0);
        }
      }
      if (!null(name_node) && ts_node_symbol(name_node) == g.sym.identifier) {
        Binding b;
        b.name = std::string(text(name_node));
        b.kind = BindingKind::Parameter;
        b.scope = fn;
        b.stmt_start = ts_node_start_byte(p);
        b.visible_from = 0;
        if (ps == g.sym.default_parameter || ps == g.sym.typed_default_parameter) {
          b.default_value = field(p, g.field.value);
        }
        add_binding(std::move(b));
      }
    }
  };

  auto classify_with_item = [&](TSNode expr) {
    expr = unparen(expr);
    if (null(expr)) {
      return GradEffect::None;
    }
    const TSSymbol s = ts_node_symbol(expr);
    if (s == g.sym.conditional_expression) {
      // `torch.no_grad() if not train else nullcontext()`: either branch may disable; oomlint
      // stays quiet rather than guess.
      GradEffect effect = GradEffect::None;
      const uint32_t count = ts_node_named_child_count(expr);
      for (uint32_t i = 0; i < count; ++i) {
        TSNode c = ts_node_named_child(expr, i);
        if (ts_node_symbol(unparen(c)) == g.sym.call) {
          TSNode fn = field(unparen(c), g.field.function);
          const std::string q = resolve_qualified(fn, scope);
          const std::string_view last = last_name(fn);
          if (q == "torch.no_grad" || q == "torch.inference_mode" || q == "torch.autograd.no_grad" ||
              names::is_grad_disabling_decorator_name(last, options) || last == "set_grad_enabled") {
            effect = GradEffect::Disable;
          }
        }
      }
      return effect;
    }
    if (s != g.sym.call) {
      return GradEffect::None;
    }
    TSNode fn = field(expr, g.field.function);
    const std::string q = resolve_qualified(fn, scope);
    const std::string_view last = last_name(fn);
    if (q == "torch.enable_grad" || q == "torch.autograd.enable_grad" || last == "enable_grad") {
      return GradEffect::Enable;
    }
    if (q == "torch.set_grad_enabled" || q == "torch.autograd.set_grad_enabled" || last == "set_grad_enabled") {
      TSNode args = field(expr, g.field.arguments);
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
        names::is_grad_disabling_decorator_name(last, options)) {
      return GradEffect::Disable;
    }
    return GradEffect::None;
  };

  // Candidates for OOM101/OOM102-style questions; the analysis keeps those that outlive a pass.
  auto add_store = [&](StoreKind kind, TSNode statement, TSNode container, TSNode value) {
    Store st;
    st.kind = kind;
    st.statement = statement;
    st.container = container;
    st.value = value;
    st.scope = scope;
    st.loop = loop;
    store_candidates.push_back(st);
  };
  auto add_accumulation = [&](AccumulationKind kind, TSNode statement, TSNode target, TSNode value) {
    Accumulation a;
    a.kind = kind;
    a.statement = statement;
    a.target = target;
    a.value = value;
    a.scope = scope;
    a.loop = loop;
    accumulation_candidates.push_back(a);
  };

  auto record_call = [&](TSNode node) {
    Call c;
    c.node = node;
    c.function = field(node, g.field.function);
    c.arguments = field(node, g.field.arguments);
    c.scope = scope;
    c.loop = loop;
    c.in_except = except_depth > 0;
    TSNode fn = unparen(c.function);
    if (!null(fn) && ts_node_symbol(fn) == g.sym.attribute) {
      c.receiver = field(fn, g.field.object);
      c.method = text(field(fn, g.field.attribute));
    } else if (!null(fn) && ts_node_symbol(fn) == g.sym.identifier) {
      c.method = text(fn);
    }
    const ScopeId owner = owner_scope(scope);
    Scope& owner_scope = m.m_scopes[static_cast<size_t>(owner)];
    if (c.method == "backward" || c.method == "manual_backward") {
      c.is_backward = true;
      auto mark = [&](TSNode expr) {
        // Every name whose value flows into the back-propagated expression.
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
            const std::string d = dotted(n);
            if (!d.empty()) {
              owner_scope.backprop_names.insert(d);
              if (s == g.sym.attribute) {
                stack.push_back(field(n, g.field.object));
              }
              continue;
            }
          }
          if (s == g.sym.call) {
            TSNode callee = unparen(field(n, g.field.function));
            if (!null(callee) && ts_node_symbol(callee) == g.sym.attribute) {
              stack.push_back(field(callee, g.field.object));
            }
            stack.push_back(field(n, g.field.arguments));
            continue;
          }
          const uint32_t count = ts_node_named_child_count(n);
          for (uint32_t i = 0; i < count && i < 32; ++i) {
            stack.push_back(ts_node_named_child(n, i));
          }
        }
      };
      TSNode first_positional{};
      if (!null(c.arguments) && ts_node_named_child_count(c.arguments) > 0) {
        TSNode first = ts_node_named_child(c.arguments, 0);
        if (ts_node_symbol(first) != g.sym.keyword_argument) {
          first_positional = first;
          mark(first);
        }
      }
      // `accelerator.backward(loss)`, `self.manual_backward(loss)`, `engine.backward(loss)`: the
      // receiver runs the backward, the argument is what is back-propagated.
      if (!null(c.receiver)) {
        const auto words = identifier_words(last_name(c.receiver));
        const bool engine = words.contains("self") || words.contains("accelerator") || words.contains("fabric") ||
                            words.contains("engine") || words.contains("trainer") || words.contains("deepspeed") ||
                            words.contains("scaler");
        if (null(first_positional) || !engine) {
          mark(c.receiver);
        }
      }
      owner_scope.facts.backprops = true;
      owner_scope.facts.needs_grad = true;
    }
    if (c.method == "requires_grad_") {
      owner_scope.facts.needs_grad = true;
      needs_grad_points.push_back(ts_node_start_byte(node));
    }
    // Child lookups are linear in tree-sitter 0.20: look for the keyword only where its name appears.
    if (!null(c.arguments) && text(c.arguments).find("requires_grad") != std::string_view::npos) {
      const uint32_t count = ts_node_named_child_count(c.arguments);
      for (uint32_t i = 0; i < count && i < 64; ++i) {
        TSNode a = ts_node_named_child(c.arguments, i);
        if (ts_node_symbol(a) == g.sym.keyword_argument && text(field(a, g.field.name)) == "requires_grad" &&
            ts_node_symbol(field(a, g.field.value)) == g.sym.true_) {
          owner_scope.facts.needs_grad = true;
          needs_grad_points.push_back(ts_node_start_byte(node));
        }
      }
    }
    if (c.method == "step" && !null(c.receiver) && names::is_optimizer_name(text(c.receiver))) {
      owner_scope.facts.steps_optimizer = true;
    }
    const bool is_statement = ts_node_start_byte(node) == statement_call_id_start &&
                              ts_node_end_byte(node) == ts_node_end_byte(statement_call);
    if (is_statement && !null(c.receiver) && (c.method == "eval" || c.method == "train")) {
      const uint32_t argc = null(c.arguments) ? 0 : ts_node_named_child_count(c.arguments);
      TSNode first = argc > 0 ? ts_node_named_child(c.arguments, 0) : TSNode{};
      const bool to_eval = c.method == "eval" ? argc == 0 : (argc == 1 && ts_node_symbol(first) == g.sym.false_);
      if (argc == 0 || c.method == "train") {
        mode_switches.push_back(ModeSwitch{statement_node, node, scope, to_eval, statement_block_end});
        if (!to_eval) {
          owner_scope.facts.calls_train_mode = true;
        }
      }
    }
    if (is_statement && (c.method == "set_grad_enabled")) {
      TSNode first = null(c.arguments) ? TSNode{} : ts_node_named_child(c.arguments, 0);
      if (!null(first) && (ts_node_symbol(first) == g.sym.false_ || ts_node_symbol(first) == g.sym.true_)) {
        regions.push_back(
            GradRegion{ts_node_end_byte(node), statement_block_end, ts_node_symbol(first) == g.sym.false_});
      }
    }
    // Containers and meters that may outlive the iteration.
    if (!null(c.receiver) && (c.method == "append" || c.method == "extend" || c.method == "insert")) {
      TSNode args = c.arguments;
      const uint32_t argc = null(args) ? 0 : ts_node_named_child_count(args);
      const uint32_t index = c.method == "insert" ? 1 : 0;
      if (argc > index) {
        const StoreKind kind = c.method == "append"   ? StoreKind::Append
                               : c.method == "extend" ? StoreKind::Extend
                                                      : StoreKind::Insert;
        add_store(kind, node, c.receiver, ts_node_named_child(args, index));
      }
    }
    if (!null(c.receiver) && ((c.method == "update" && names::is_meter_name(text(c.receiver))) || c.method == "add_")) {
      TSNode args = c.arguments;
      if (!null(args) && ts_node_named_child_count(args) > 0) {
        TSNode first = ts_node_named_child(args, 0);
        if (ts_node_symbol(first) != g.sym.keyword_argument) {
          add_accumulation(AccumulationKind::MeterUpdate, node, c.receiver, first);
        }
      }
    }
    if (!null(c.receiver) &&
        (c.method == "eval" || c.method == "parameters" || c.method == "named_parameters" || c.method == "modules" ||
         c.method == "named_modules" || c.method == "children" || c.method == "requires_grad_")) {
      const TSSymbol rs = ts_node_symbol(c.receiver);
      if ((rs == g.sym.identifier || rs == g.sym.attribute) && text(c.receiver) != "self") {
        module_receivers.emplace(text(c.receiver));
      }
    }
    m.m_calls.push_back(std::move(c));
  };

  // `stats` for `stats["loss"]`, `self.history` for `self.history[k]`.
  auto root_key = [&](TSNode n) {
    n = unparen(n);
    int depth = 0;
    while (!null(n) && ts_node_symbol(n) == g.sym.subscript && depth++ < 32) {
      n = unparen(field(n, g.field.value));
    }
    return dotted(n);
  };
  // Whether `key` (or an attribute of it) is used inside `expr`.
  auto mentions = [&](TSNode expr, const std::string& key) {
    std::vector<TSNode> stack{expr};
    int budget = 256;
    while (!stack.empty() && budget-- > 0) {
      TSNode n = stack.back();
      stack.pop_back();
      const TSSymbol s = ts_node_symbol(n);
      if (s == g.sym.identifier || s == g.sym.attribute) {
        const std::string d = dotted(n);
        if (d == key || (d.size() > key.size() && d.starts_with(key) && d[key.size()] == '.')) {
          return true;
        }
      }
      const uint32_t count = ts_node_named_child_count(n);
      for (uint32_t i = 0; i < count && i < 32; ++i) {
        stack.push_back(ts_node_named_child(n, i));
      }
    }
    return false;
  };

  auto record_assignment = [&](TSNode node) {
    TSNode left = field(node, g.field.left);
    TSNode right = field(node, g.field.right);
    int guard = 0;
    while (!null(right) && ts_node_symbol(right) == g.sym.assignment && guard++ < 64) {
      right = field(right, g.field.right); // a = b = value
    }
    if (null(right)) {
      return; // annotation without value
    }
    const std::uint32_t start = ts_node_start_byte(node);
    const std::uint32_t end = ts_node_end_byte(node);
    TSNode target = unparen(left);
    if (!null(target) && ts_node_symbol(target) == g.sym.attribute && last_name(target) == "requires_grad") {
      const ScopeId owner = owner_scope(scope);
      m.m_scopes[static_cast<size_t>(owner)].facts.needs_grad = true;
      needs_grad_points.push_back(start);
    }
    TSNode rhs = unparen(right);
    const bool subscript_target = !null(target) && ts_node_symbol(target) == g.sym.subscript;
    const std::string key = subscript_target ? root_key(target) : dotted(target);
    auto accumulate = [&](TSNode value) { add_accumulation(AccumulationKind::SelfAdd, node, target, value); };
    auto store = [&](StoreKind kind, TSNode container, TSNode value) { add_store(kind, node, container, value); };
    // preds = torch.cat([preds, logits]): a tensor used as a growing list.
    auto concat_store = [&](TSNode cat_call) {
      const std::string_view fn = last_name(field(cat_call, g.field.function));
      TSNode args = field(cat_call, g.field.arguments);
      TSNode first = null(args) ? TSNode{} : ts_node_named_child(args, 0);
      if ((fn == "cat" || fn == "stack" || fn == "concat" || fn == "concatenate" || fn == "vstack" || fn == "hstack") &&
          !null(first) && (ts_node_symbol(first) == g.sym.list || ts_node_symbol(first) == g.sym.tuple)) {
        const uint32_t count = ts_node_named_child_count(first);
        bool has_target = false;
        TSNode other{};
        for (uint32_t i = 0; i < count && i < 16; ++i) {
          TSNode item = ts_node_named_child(first, i);
          if (dotted(item) == key) {
            has_target = true;
          } else if (null(other)) {
            other = item;
          }
        }
        if (has_target && !null(other)) {
          store(StoreKind::Concat, target, other);
        }
      }
    };
    const bool arithmetic = ts_node_symbol(rhs) == g.sym.binary_operator;
    if (!key.empty() && arithmetic && text(field(rhs, g.field.operator_)) == "+" &&
        text(unparen(field(rhs, g.field.left))) == text(target)) {
      TSNode added = unparen(field(rhs, g.field.right));
      if (ts_node_symbol(added) == g.sym.tuple || ts_node_symbol(added) == g.sym.list) {
        store(StoreKind::ListAugment, target, field(rhs, g.field.right)); // t = t + (x,): a growing tuple
      } else {
        accumulate(field(rhs, g.field.right)); // t = t + v, d[k] = d[k] + v
      }
    } else if (!key.empty() && arithmetic && mentions(rhs, key)) {
      accumulate(rhs); // ema = 0.9 * ema + 0.1 * loss, d[k] = d.get(k, 0) + v
    } else if (subscript_target) {
      store(StoreKind::SubscriptAssign, field(target, g.field.value), right);
    } else if (!key.empty() && ts_node_symbol(rhs) == g.sym.conditional_expression) {
      // preds = out if preds is None else torch.cat([preds, out])
      const uint32_t count = ts_node_named_child_count(rhs);
      for (uint32_t i = 0; i < count; ++i) {
        TSNode branch = unparen(ts_node_named_child(rhs, i));
        if (ts_node_symbol(branch) == g.sym.call) {
          concat_store(branch);
        }
      }
    } else if (!key.empty() && ts_node_symbol(rhs) == g.sym.call) {
      concat_store(rhs);
    }
    bind_targets(left, right, BindingKind::Assign, scope, loop, start, end, -1);
  };

  auto record_augmented = [&](TSNode node) {
    TSNode left = unparen(field(node, g.field.left));
    TSNode right = field(node, g.field.right);
    const std::string_view op = text(field(node, g.field.operator_));
    if (null(left) || null(right)) {
      return;
    }
    TSNode rhs = unparen(right);
    const bool list_literal = ts_node_symbol(rhs) == g.sym.list || ts_node_symbol(rhs) == g.sym.tuple;
    if (op == "+=" && list_literal) {
      add_store(StoreKind::ListAugment, node, left, right);
    } else if (op == "+=" || op == "-=") {
      add_accumulation(AccumulationKind::AugmentedAdd, node, left, right);
    }
    const std::string name = dotted(left);
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
      add_binding(std::move(b));
    }
  };

  auto record_import = [&](TSNode node, bool from) {
    const uint32_t count = ts_node_named_child_count(node);
    std::string base;
    if (from) {
      TSNode module_name = field(node, g.field.module_name);
      base = std::string(text(module_name));
    }
    for (uint32_t i = 0; i < count; ++i) {
      TSNode child = ts_node_named_child(node, i);
      if (from && ts_node_start_byte(child) == ts_node_start_byte(field(node, g.field.module_name))) {
        continue;
      }
      const TSSymbol s = ts_node_symbol(child);
      std::string path;
      std::string alias;
      if (s == g.sym.dotted_name) {
        path = std::string(text(child));
        alias = from ? path : path.substr(0, path.find('.'));
        if (!from) {
          path = alias; // `import torch.nn` binds `torch`
        }
      } else if (s == g.sym.aliased_import) {
        path = std::string(text(field(child, g.field.name)));
        alias = std::string(text(field(child, g.field.alias)));
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
      b.qualified = from ? (base.ends_with(".") ? base + path : base + "." + path) : path;
      if (b.qualified.starts_with(".") && project != nullptr) {
        b.qualified = absolute_import(b.qualified, *project);
      }
      note_framework(b.qualified);
      add_binding(std::move(b));
    }
  };

  TSTreeCursor cursor = ts_tree_cursor_new(root);
  std::vector<Frame> frames;
  frames.reserve(256);
  bool done = false;
  while (!done) {
    TSNode node = ts_tree_cursor_current_node(&cursor);
    const TSSymbol sym = ts_node_symbol(node);
    // Field lookups cost a scan of the parent's field map: only blocks need theirs.
    const TSFieldId fid = sym == g.sym.block ? ts_tree_cursor_current_field_id(&cursor) : 0;
    Frame frame;
    frame.node = node;
    bool descend = ts_node_child_count(node) > 0;
    if (!frames.empty() && ts_node_is_named(node) && sym != g.sym.comment) {
      const TSSymbol parent_sym = ts_node_symbol(frames.back().node);
      if (parent_sym == g.sym.block || parent_sym == g.sym.module) {
        const std::int32_t parent_statement = open_statements.empty() ? kNone : open_statements.back();
        statements.push_back(StatementSpan{ts_node_start_byte(node), ts_node_end_byte(node),
                                           ts_node_start_point(node).row, parent_statement});
        open_statements.push_back(static_cast<std::int32_t>(statements.size() - 1));
        frame.pops_statement = true;
      }
    }

    if (tree_has_error && (sym == g.sym.error || ts_node_is_missing(node))) {
      if (!m.m_syntax_problem) {
        m.m_syntax_problem = SyntaxProblem{node, ts_node_is_missing(node)};
      }
      descend = false; // the model skips what it cannot read instead of guessing
    } else if (!ts_node_is_named(node)) {
      descend = false;
    } else if (sym == g.sym.comment) {
      m.m_comments.push_back(node);
    } else if (sym == g.sym.string || sym == g.sym.parameters || sym == g.sym.lambda_parameters ||
               sym == g.sym.decorator || sym == g.sym.type) {
      // Nothing inside strings, parameter lists (read directly by bind_parameters), decorators
      // (read by the function facts) or annotations matters to a rule: do not walk into them.
      descend = false;
    } else if (sym == g.sym.expression_statement) {
      TSNode first = ts_node_named_child(node, 0);
      if (!null(first) && ts_node_symbol(first) == g.sym.call) {
        statement_call = first;
        statement_call_id_start = ts_node_start_byte(first);
        statement_node = node;
        statement_block_end = frames.empty() ? ts_node_end_byte(node) : ts_node_end_byte(frames.back().node);
      }
    } else if (sym == g.sym.call) {
      record_call(node);
    } else if (sym == g.sym.assignment) {
      record_assignment(node);
    } else if (sym == g.sym.augmented_assignment) {
      record_augmented(node);
    } else if (sym == g.sym.function_definition) {
      TSNode name = field(node, g.field.name);
      TSNode body = field(node, g.field.body);
      Binding def;
      def.name = std::string(text(name));
      def.kind = BindingKind::FunctionDef;
      def.scope = scope;
      def.loop = loop;
      def.stmt_start = ts_node_start_byte(node);
      def.visible_from = ts_node_start_byte(node);
      const ScopeId fn = new_scope(ScopeKind::Function, node, body, def.name);
      def.defines = fn;
      add_binding(std::move(def));
      TSNode parent = frames.empty() ? TSNode{} : frames.back().node;
      if (!null(parent) && ts_node_symbol(parent) == g.sym.decorated_definition) {
        const uint32_t count = ts_node_named_child_count(parent);
        for (uint32_t i = 0; i < count; ++i) {
          TSNode d = ts_node_named_child(parent, i);
          if (ts_node_symbol(d) == g.sym.decorator) {
            m.m_scopes[static_cast<size_t>(fn)].decorators.push_back(ts_node_named_child(d, 0));
          }
        }
      }
      bind_parameters(field(node, g.field.parameters), fn);
      frame.saved_scope = scope;
      frame.saved_loop = loop;
      frame.saved_lexical_loop = lexical_loop;
      frame.restores_scope = frame.restores_loop = true;
      scope = fn;
      loop = kNone;
    } else if (sym == g.sym.class_definition) {
      TSNode name = field(node, g.field.name);
      Binding def;
      def.name = std::string(text(name));
      def.kind = BindingKind::ClassDef;
      def.scope = scope;
      def.stmt_start = ts_node_start_byte(node);
      def.visible_from = ts_node_start_byte(node);
      const ScopeId cls = new_scope(ScopeKind::Class, node, field(node, g.field.body), def.name);
      def.defines = cls;
      add_binding(std::move(def));
      TSNode bases = field(node, g.field.superclasses);
      if (!null(bases)) {
        const uint32_t count = ts_node_named_child_count(bases);
        for (uint32_t i = 0; i < count; ++i) {
          TSNode b = ts_node_named_child(bases, i);
          if (ts_node_symbol(b) != g.sym.keyword_argument) {
            m.m_scopes[static_cast<size_t>(cls)].bases.emplace_back(text(b));
          }
        }
      }
      frame.saved_scope = scope;
      frame.saved_loop = loop;
      frame.saved_lexical_loop = lexical_loop;
      frame.restores_scope = frame.restores_loop = true;
      scope = cls;
      loop = kNone;
    } else if (sym == g.sym.lambda) {
      const ScopeId fn = new_scope(ScopeKind::Lambda, node, field(node, g.field.body), "<lambda>");
      bind_parameters(field(node, g.field.parameters), fn);
      frame.saved_scope = scope;
      frame.restores_scope = true;
      scope = fn;
    } else if (sym == g.sym.list_comprehension || sym == g.sym.set_comprehension ||
               sym == g.sym.dictionary_comprehension || sym == g.sym.generator_expression) {
      frame.saved_scope = scope;
      frame.saved_loop = loop;
      frame.saved_lexical_loop = lexical_loop;
      frame.restores_scope = frame.restores_loop = true;
      const LoopId l =
          new_loop(LoopKind::Comprehension, node, TSNode{}, ts_node_start_byte(node), ts_node_end_byte(node));
      scope = new_scope(ScopeKind::Comprehension, node, node, "<comprehension>");
      m.m_loops[static_cast<size_t>(l)].scope = scope;
      loop = l;
      lexical_loop = l;
    } else if (sym == g.sym.for_in_clause) {
      bind_targets(field(node, g.field.left), field(node, g.field.right), BindingKind::ForTarget, scope, loop,
                   ts_node_start_byte(node), ts_node_start_byte(node), -1);
    } else if (sym == g.sym.for_statement || sym == g.sym.while_statement) {
      TSNode body = field(node, g.field.body);
      TSNode iterable = field(node, sym == g.sym.for_statement ? g.field.right : g.field.condition);
      const std::uint32_t body_start = null(body) ? ts_node_end_byte(node) : ts_node_start_byte(body);
      const std::uint32_t body_end = null(body) ? ts_node_end_byte(node) : ts_node_end_byte(body);
      const LoopId l =
          new_loop(sym == g.sym.for_statement ? LoopKind::For : LoopKind::While, node, iterable, body_start, body_end);
      frame.created_loop = l;
      if (sym == g.sym.for_statement) {
        TSNode left = field(node, g.field.left);
        bind_targets(left, iterable, BindingKind::ForTarget, scope, l, ts_node_start_byte(node), body_start, -1);
        const std::string target = std::string(text(left));
        m.m_loops[static_cast<size_t>(l)].targets.push_back(target);
      }
    } else if (sym == g.sym.with_statement) {
      TSNode clause{};
      const uint32_t count = ts_node_named_child_count(node);
      for (uint32_t i = 0; i < count; ++i) {
        if (ts_node_symbol(ts_node_named_child(node, i)) == g.sym.with_clause) {
          clause = ts_node_named_child(node, i);
        }
      }
      TSNode body = field(node, g.field.body);
      const uint32_t items = null(clause) ? 0 : ts_node_named_child_count(clause);
      for (uint32_t i = 0; i < items; ++i) {
        TSNode item = ts_node_named_child(clause, i);
        TSNode value = field(item, g.field.value);
        TSNode expr = value;
        if (!null(value) && ts_node_symbol(value) == g.sym.as_pattern) {
          expr = ts_node_named_child(value, 0);
          TSNode alias = field(value, g.field.alias);
          if (!null(alias)) {
            bind_targets(ts_node_named_child(alias, 0), expr, BindingKind::WithTarget, scope, loop,
                         ts_node_start_byte(node), null(body) ? 0 : ts_node_start_byte(body), -1);
          }
        }
        const GradEffect effect = classify_with_item(expr);
        if (effect == GradEffect::Disable || (effect == GradEffect::Enable && frame.with_effect == GradEffect::None)) {
          frame.with_effect = effect;
        }
      }
    } else if (sym == g.sym.block && fid == g.field.body && !frames.empty()) {
      const Frame& parent = frames.back();
      if (parent.created_loop != kNone) {
        frame.saved_loop = loop;
        frame.saved_lexical_loop = lexical_loop;
        frame.restores_loop = true;
        loop = parent.created_loop;
        lexical_loop = loop;
      }
      if (parent.with_effect != GradEffect::None) {
        regions.push_back(
            GradRegion{ts_node_start_byte(node), ts_node_end_byte(node), parent.with_effect == GradEffect::Disable});
      }
    } else if (sym == g.sym.import_statement) {
      record_import(node, false);
      descend = false;
    } else if (sym == g.sym.import_from_statement) {
      record_import(node, true);
      descend = false;
    } else if (sym == g.sym.return_statement) {
      ScopeId fn = scope;
      if (m.m_scopes[static_cast<size_t>(fn)].kind == ScopeKind::Function) {
        m.m_scopes[static_cast<size_t>(fn)].returns.push_back(ts_node_named_child(node, 0));
      }
    } else if (sym == g.sym.global_statement || sym == g.sym.nonlocal_statement) {
      const uint32_t count = ts_node_named_child_count(node);
      for (uint32_t i = 0; i < count; ++i) {
        m.m_scopes[static_cast<size_t>(scope)].globals.insert(std::string(text(ts_node_named_child(node, i))));
      }
    } else if (sym == g.sym.except_clause) {
      ++except_depth;
      frame.pops_except = true;
      except_clauses.push_back(ts_node_start_byte(node));
    } else if (sym == g.sym.if_statement) {
      TSNode condition = field(node, g.field.condition);
      TSNode consequence = field(node, g.field.consequence);
      if (!null(condition) && !null(consequence)) {
        if_guards.emplace_back(condition, ByteRange{ts_node_start_byte(consequence), ts_node_end_byte(consequence)});
        TSNode alternative = field(node, g.field.alternative);
        if (!null(alternative)) {
          else_branches.emplace_back(condition, ByteRange{ts_node_start_byte(alternative), ts_node_end_byte(node)});
        }
      }
      if (!null(condition) && !null(consequence) && text(condition).find('%') != std::string_view::npos) {
        periodic_guards.push_back(ByteRange{ts_node_start_byte(consequence), ts_node_end_byte(consequence)});
      }
    } else if (sym == g.sym.named_expression) {
      bind_targets(field(node, g.field.name), field(node, g.field.value), BindingKind::Walrus, scope, loop,
                   ts_node_start_byte(node), ts_node_end_byte(node), -1);
    }

    frames.push_back(frame);
    if (descend && ts_tree_cursor_goto_first_child(&cursor)) {
      continue;
    }
    // Leave nodes until one has a next sibling.
    while (true) {
      const Frame& f = frames.back();
      if (f.restores_scope) {
        scope = f.saved_scope;
      }
      if (f.restores_loop) {
        loop = f.saved_loop;
        lexical_loop = f.saved_lexical_loop;
      }
      if (f.pops_except) {
        --except_depth;
      }
      if (f.pops_statement) {
        open_statements.pop_back();
      }
      frames.pop_back();
      if (ts_tree_cursor_goto_next_sibling(&cursor)) {
        break;
      }
      if (!ts_tree_cursor_goto_parent(&cursor)) {
        done = true;
        break;
      }
    }
  }
  ts_tree_cursor_delete(&cursor);
}

} // namespace oomlint::model
