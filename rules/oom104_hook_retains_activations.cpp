// OOM104 hook-retains-activations: a forward/backward hook that stores the activation or
// gradient it is given in a container that outlives the call.
#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "analyzer/syntax/python_grammar.hpp"
#include "analyzer/syntax/walk.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM104",
    .name = "hook-retains-activations",
    .severity = Severity::Error,
    .default_enabled = true,
    .fix = FixAvailability::Never,
    .summary = "A forward or backward hook keeps every activation (or gradient) it sees",
    .what = "Finds hooks registered with `register_forward_hook`, `register_forward_pre_hook`, "
            "`register_full_backward_hook`, `register_full_backward_pre_hook`, `register_backward_hook` or a "
            "tensor's `register_hook` (functions, methods, closures and lambdas) that append, extend, insert or "
            "concatenate the hook's `input`/`output`/`grad` into a container that outlives the call: a global, "
            "an enclosing function's list or a `self.` attribute.",
    .why = "The hook runs on every forward (or backward), and each stored tensor is a whole activation: it stays "
           "in GPU memory for as long as the list lives, 128 MiB per step measured for one layer of an MLP on an "
           "H200, and with autograd on it also keeps the graph and its saved activations (1,280 MiB per "
           "iteration in an evaluation loop without no_grad). `.detach()` drops the graph but not the "
           "activation: the list still grows by 128 MiB per step.",
    .example = "features = []\n"
               "model.layer4.register_forward_hook(lambda m, i, o: features.append(o))\n",
    .use_instead = "features = []\n"
                   "model.layer4.register_forward_hook(lambda m, i, o: features.append(o.detach().cpu()))\n"
                   "# or keep only what you need: o.mean(dim=(2, 3)).cpu(), or only the last output\n",
    .fine_when = "The hook moves the tensor off the GPU (`.cpu()`, `.numpy()`, `.tolist()`), reduces it to a "
                 "number or statistic (`.item()`, `.mean()`, `.norm()`, `.shape`), keeps only the latest one "
                 "(`self.activation = output`, `acts[name] = output`), or stores into a list created inside "
                 "the hook.",
    .fix_safety = "The right change depends on what the activations are for (move them to the CPU, "
                  "reduce them, or keep only the last); `.detach()` alone fixes nothing.",
    .options = {},
    .measured = "On an H200 (torch 2.11): a forward hook appending `output` during training grows allocated "
                "memory by 128 MiB per step, and by exactly the same with `output.detach()`; "
                "`output.detach().cpu()` stops the growth (0 per step) but makes the step 8x slower (123 vs 15 "
                "ms). Evaluating without no_grad, the hook's list grows by 1,280 MiB per iteration, 128 MiB "
                "with `.detach()`."
                " `oomlint verify` on an H200 (examples/gpu/hook_collect.py): 8.0 MiB per step as written, 8.0 MiB per "
                "step with `.detach()` (fix-ineffective), 0 with `.detach().cpu()` (step 9.8 -> 16.6 ms).",
    .references =
        "https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.register_forward_hook",
};

// Which parameters (by position) carry tensors for each registration method.
struct HookKind {
  std::string_view method;
  int first_tensor_param; // module hooks get (module, ...); tensor hooks get (grad)
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

std::vector<std::string> parameter_names(const model::Model& m, TSNode definition, int first) {
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
    const std::string text(m.text(name));
    if (position == 0 && text == "self") {
      continue; // a bound method: `self.hook`
    }
    if (position >= first && !text.empty()) {
      names.push_back(text);
    }
    ++position;
  }
  return names;
}

// What the stored expression keeps: the name of the hook parameter it still holds on the
// device, or empty when it is moved off the GPU or reduced.
std::string kept_parameter(const model::Model& m, TSNode expr, const std::vector<std::string>& params, bool& detached) {
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
    if (s == g.sym.call) {
      TSNode fn = ts_node_child_by_field_id(expr, g.field.function);
      if (ts_node_symbol(fn) != g.sym.attribute) {
        return {}; // f(output): a reduction or copy we cannot see into
      }
      const std::string_view method = m.text(ts_node_child_by_field_id(fn, g.field.attribute));
      if (method == "detach" || method == "clone" || method == "contiguous" || method == "float" || method == "half" ||
          method == "view" || method == "reshape" || method == "flatten" || method == "squeeze" ||
          method == "unsqueeze" || method == "permute" || method == "transpose" || method == "requires_grad_" ||
          method == "detach_") {
        detached = detached || method == "detach" || method == "detach_";
        expr = ts_node_child_by_field_id(fn, g.field.object);
        continue;
      }
      if (method == "to") {
        TSNode args = ts_node_child_by_field_id(expr, g.field.arguments);
        const std::string_view a = m.text(args);
        if (a.find("cpu") != std::string_view::npos || a.find("numpy") != std::string_view::npos) {
          return {};
        }
        expr = ts_node_child_by_field_id(fn, g.field.object);
        continue;
      }
      return {}; // .cpu(), .item(), .tolist(), .numpy(), .mean(), .norm(), ...
    }
    return {}; // .shape, arithmetic, literals
  }
  return {};
}

// Names bound inside the hook itself (a list made per call is not a leak).
bool bound_locally(const model::Model& m, model::ScopeId hook, std::string_view root) {
  for (const model::Binding& b : m.bindings()) {
    if (b.scope == hook && b.name == root && b.kind != model::BindingKind::Parameter) {
      return true;
    }
  }
  return false;
}

std::string container_root(const model::Model& m, TSNode container) {
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

struct Retention {
  TSNode statement;
  std::string container;
  std::string parameter;
  bool detached = false;
};

void find_retentions(const model::Model& m, TSNode body, model::ScopeId hook, const std::vector<std::string>& params,
                     std::vector<Retention>& out) {
  const auto& g = syntax::grammar();
  syntax::walk_named(body, [&](TSNode n) {
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.function_definition || s == g.sym.class_definition || s == g.sym.string) {
      return false;
    }
    TSNode container{};
    TSNode value{};
    if (s == g.sym.call) {
      TSNode fn = ts_node_child_by_field_id(n, g.field.function);
      if (ts_node_symbol(fn) == g.sym.attribute) {
        const std::string_view method = m.text(ts_node_child_by_field_id(fn, g.field.attribute));
        TSNode args = ts_node_child_by_field_id(n, g.field.arguments);
        const uint32_t count = ts_node_is_null(args) ? 0 : ts_node_named_child_count(args);
        if ((method == "append" || method == "extend") && count >= 1) {
          container = ts_node_child_by_field_id(fn, g.field.object);
          value = ts_node_named_child(args, 0);
        } else if (method == "insert" && count >= 2) {
          container = ts_node_child_by_field_id(fn, g.field.object);
          value = ts_node_named_child(args, 1);
        }
      }
    } else if (s == g.sym.augmented_assignment && m.text(ts_node_child_by_field_id(n, g.field.operator_)) == "+=") {
      TSNode right = ts_node_child_by_field_id(n, g.field.right);
      if (ts_node_symbol(right) == g.sym.list && ts_node_named_child_count(right) > 0) {
        container = ts_node_child_by_field_id(n, g.field.left);
        value = ts_node_named_child(right, 0);
      }
    }
    if (ts_node_is_null(container) || ts_node_is_null(value)) {
      return true;
    }
    // extend(output) / append((input, output)): look at each element of a literal.
    std::vector<TSNode> values{value};
    if (ts_node_symbol(value) == g.sym.tuple || ts_node_symbol(value) == g.sym.list) {
      values.clear();
      for (uint32_t i = 0; i < ts_node_named_child_count(value); ++i) {
        values.push_back(ts_node_named_child(value, i));
      }
    }
    const std::string root = container_root(m, container);
    if (root.empty() || bound_locally(m, hook, root)) {
      return true;
    }
    for (TSNode v : values) {
      bool detached = false;
      std::string param = kept_parameter(m, v, params, detached);
      if (!param.empty()) {
        out.push_back(Retention{n, std::string(m.text(container)), std::move(param), detached});
        break;
      }
    }
    return true;
  });
}

// `make_hook(name)`: the function or lambda the factory returns.
TSNode returned_hook(const model::Model& m, TSNode factory_call) {
  const auto& g = syntax::grammar();
  const model::ScopeId factory = m.callee_scope(ts_node_child_by_field_id(factory_call, g.field.function));
  if (factory == model::kNone) {
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
bool scoped_to_one_call(const model::Model& m, const model::Call& registration, std::string_view container) {
  const model::ScopeId fn = m.function_at(ts_node_start_byte(registration.node));
  if (fn == model::kNone) {
    return false;
  }
  const std::string root(container.substr(0, container.find_first_of(".[")));
  bool local = false;
  for (const model::Binding& b : m.bindings()) {
    if (b.name == root && m.function_at(b.stmt_start) == fn && b.kind == model::BindingKind::Assign) {
      local = true;
    }
  }
  if (!local) {
    return false;
  }
  for (const model::Call& c : m.calls()) {
    if (c.method == "remove" && m.function_at(ts_node_start_byte(c.node)) == fn) {
      return true;
    }
  }
  return false;
}

void check(RuleContext& ctx) {
  const model::Model& m = ctx.model;
  const auto& g = syntax::grammar();
  std::vector<std::uint32_t> reported; // a hook registered on many modules is reported once
  for (const model::Call& call : m.calls()) {
    const HookKind* kind = hook_kind(call.method);
    if (kind == nullptr || ts_node_is_null(call.arguments)) {
      continue;
    }
    auto hook_arg = call.positional(0);
    if (!hook_arg) {
      hook_arg = call.keyword("hook", m.source().text());
    }
    if (!hook_arg) {
      continue;
    }
    TSNode hook = *hook_arg;
    // functools.partial(fn, name): the hook is fn with its first parameters bound.
    int bound_first = 0;
    if (ts_node_symbol(hook) == g.sym.call &&
        m.qualified_name(ts_node_child_by_field_id(hook, g.field.function)) == "functools.partial") {
      TSNode args = ts_node_child_by_field_id(hook, g.field.arguments);
      bound_first = static_cast<int>(ts_node_named_child_count(args)) - 1;
      hook = ts_node_named_child(args, 0);
    }
    TSNode definition{};
    TSNode body{};
    if (ts_node_symbol(hook) == g.sym.call) {
      hook = returned_hook(m, hook); // register_forward_hook(save_output(name))
    }
    if (ts_node_is_null(hook)) {
      continue;
    }
    if (ts_node_symbol(hook) == g.sym.lambda) {
      definition = hook;
      body = ts_node_child_by_field_id(hook, g.field.body);
    } else {
      const model::ScopeId fn = m.callee_scope(hook);
      if (fn == model::kNone) {
        continue;
      }
      definition = m.scope(fn).node;
      body = m.scope(fn).body;
    }
    if (std::find(reported.begin(), reported.end(), ts_node_start_byte(definition)) != reported.end()) {
      continue;
    }
    const model::ScopeId hook_scope = m.scope_of_node(definition);
    const std::vector<std::string> params =
        parameter_names(m, definition, kind->first_tensor_param + std::max(0, bound_first));
    std::vector<Retention> found;
    find_retentions(m, body, hook_scope, params, found);
    for (const Retention& r : found) {
      if (scoped_to_one_call(m, call, r.container)) {
        continue;
      }
      reported.push_back(ts_node_start_byte(definition));
      const std::string detail = r.detached ? "`.detach()` drops the graph but the tensor itself stays on the GPU"
                                            : "with autograd on it also keeps the graph and its saved activations";
      ctx.reporter.report(
          kMeta, r.statement,
          fmt::format("hook registered with `{}` stores its {} `{}` in `{}` on every call: each one stays in GPU "
                      "memory while `{}` lives (128 MiB per step measured for one layer); {}; move it off the "
                      "GPU (`.detach().cpu()`), reduce it, or keep only the last one",
                      kind->method, kind->what, r.parameter, r.container, r.container, detail));
    }
  }
}

} // namespace

Rule make_OOM104_hook_retains_activations() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
