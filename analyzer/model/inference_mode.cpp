// Which `torch.no_grad()` regions could run under `torch.inference_mode()` instead, and what
// stops the others: tensors made under inference_mode can never re-enter autograd, so the
// answer depends on what the region and its function do with autograd state.
#include <algorithm>
#include <array>
#include <string_view>
#include <vector>

#include "analyzer/model/model.hpp"
#include "analyzer/model/model_impl.hpp"
#include "analyzer/support/strings.hpp"
#include "analyzer/syntax/walk.hpp"

namespace oomlint::model {

namespace {

// In-place updates, parameters, buffers, gradients, state dicts, `requires_grad`, optimizer and
// EMA steps: attribute names through which a block reaches state that lives on in autograd.
bool names_autograd_state(std::string_view attr) {
  const bool in_place = attr.size() > 1 && attr.back() == '_' && attr.front() != '_';
  return in_place || attr == "parameters" || attr == "named_parameters" || attr == "buffers" ||
         attr == "named_buffers" || attr == "data" || attr == "requires_grad" || attr == "load_state_dict" ||
         attr == "grad" || attr == "copy_" || attr == "step" || attr == "update";
}

// Writes into existing tensors or module state (`x[i] = ...`, `self.ema = ...`) count as well.
// `unet.to(device)`, `self.register_buffer(...)`, `model.prepare_block_swap_before_forward()`: the
// module's weights or buffers are moved, rebuilt or swapped here, and made under inference_mode
// they would be inference tensors when training resumes.
bool rebuilds_module_state(const Model::Impl& impl, TSNode callee) {
  const std::string_view method = impl.text(impl.field(callee, impl.g.field.attribute));
  if (method == "register_buffer" || method == "register_parameter" || method == "load_state_dict") {
    return true;
  }
  const auto words = identifier_words(method);
  if (words.contains("swap") || words.contains("offload")) {
    return true;
  }
  const bool moves = method == "to" || method == "cuda" || method == "half" || method == "bfloat16";
  return moves && names::is_model_name(impl.last_name(impl.field(callee, impl.g.field.object)), impl.options);
}

// `nn.Parameter(w.clone())` makes a parameter of what the block computes (an inference tensor
// that can never train); `torch.onnx.export`, `torch.jit.trace`: tracing and export record the
// graph and are known to fail under inference_mode.
bool makes_parameters_or_traces(const Model::Impl& impl, TSNode callee) {
  const std::string_view name = impl.last_name(callee);
  if (name == "Parameter") {
    return true;
  }
  const std::string_view text = impl.text(callee);
  return text.ends_with("onnx.export") || text.ends_with("jit.trace") || text.ends_with("jit.script") ||
         text.ends_with("jit.trace_module") || text.ends_with("export.export");
}

bool sets_a_class_attribute(const Model::Impl& impl, TSNode left) {
  if (ts_node_symbol(left) != impl.g.sym.attribute) {
    return false;
  }
  const TSNode object = impl.unparen(impl.field(left, impl.g.field.object));
  if (ts_node_symbol(object) != impl.g.sym.identifier) {
    return false;
  }
  const std::string_view name = impl.text(object);
  return name == "cls" || names::is_class_style(name);
}

// `depth`: how many calls into functions of this file have been followed to get here; what a
// helper called in the block does (`denoise()` swapping blocks) happens in the block too.
bool touches_autograd_state(const Model::Impl& impl, TSNode body, int depth = 0) {
  constexpr int kMaxCallDepth = 2;
  const auto& g = impl.g;
  bool found = false;
  syntax::walk_named(body, [&](TSNode n) {
    if (found) {
      return false;
    }
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.string || s == g.sym.comment) {
      return false;
    }
    if (s == g.sym.attribute) {
      found = names_autograd_state(impl.text(impl.field(n, g.field.attribute)));
    } else if (s == g.sym.assignment || s == g.sym.augmented_assignment) {
      const TSNode left = impl.field(n, g.field.left);
      // `m.weight += w` updates an object's tensor in place, as `m.weight.add_(w)` would.
      const bool in_place_attribute = s == g.sym.augmented_assignment && ts_node_symbol(left) == g.sym.attribute;
      // `w.data = w.data.to(device)` replaces a parameter's storage with one made here.
      // `FlexAttnFunc.attention_mask = mask`, `cls.cache = ...`: a class attribute outlives the
      // block, and a training forward reads it later.
      found = ts_node_symbol(left) == g.sym.subscript || impl.text(left).starts_with("self.") || in_place_attribute ||
              impl.text(left).ends_with(".data") || sets_a_class_attribute(impl, left);
    } else if (s == g.sym.call) {
      // `setattr(net, name, fused)` swaps a module's submodule: module state, as `self.x = ...` is.
      const TSNode fn = impl.field(n, g.field.function);
      found = impl.text(fn) == "setattr" ||
              (ts_node_symbol(fn) == g.sym.attribute && rebuilds_module_state(impl, fn)) ||
              makes_parameters_or_traces(impl, fn);
      if (!found && depth < kMaxCallDepth) {
        const ScopeId at = impl.m.function_at(ts_node_start_byte(n));
        const ScopeId callee = impl.local_callee(fn, at == kNone ? 0 : at);
        found = callee != kNone && touches_autograd_state(impl, impl.m.scope(callee).body, depth + 1);
      }
    }
    return true;
  });
  return found;
}

// `no_grad` in `torch.no_grad`; none for a bare `no_grad` imported by name.
std::optional<TSNode> renamed_part(const Model::Impl& impl, TSNode callee) {
  if (ts_node_symbol(callee) != impl.g.sym.attribute) {
    return std::nullopt;
  }
  return impl.field(callee, impl.g.field.attribute);
}

// `torch.enable_grad()` (or `requires_grad=True`) inside: under inference_mode it enables nothing,
// so an optimizer's closure or a gradient computed there would fail.
bool enables_grad_inside(const Model::Impl& impl, TSNode body) {
  const std::uint32_t start = ts_node_start_byte(body);
  const std::uint32_t end = ts_node_end_byte(body);
  return std::any_of(impl.needs_grad_points.begin(), impl.needs_grad_points.end(),
                     [&](std::uint32_t at) { return at >= start && at < end; });
}

// `policy.predict_action_chunk(...)` where a method of that name, somewhere in the run, reaches
// one that takes gradients (a guidance step's `enable_grad` and `autograd.grad`): under
// inference_mode those would fail, and which class the object is the names do not say.
bool calls_a_method_taking_gradients(const Model::Impl& impl, TSNode body) {
  if (impl.project == nullptr || impl.project->facts == nullptr) {
    return false;
  }
  for (auto [i, end] = impl.calls_in(ts_node_start_byte(body), ts_node_end_byte(body)); i < end; ++i) {
    const Call& c = impl.m.calls()[i];
    if (c.is_method_call() && !c.method.empty() && impl.project->facts->method_may_take_gradients(c.method)) {
      return true;
    }
  }
  return false;
}

// An optimizer's own `step()`: the state it creates (`exp_avg`, `step`) would be inference
// tensors, and PyTorch's optimizers run under `no_grad` for that reason.
bool is_optimizer_step(const Model& m, ScopeId function) {
  const Scope& sc = m.scope(function);
  if (sc.name != "step" || sc.class_scope == kNone) {
    return false;
  }
  const auto& bases = m.scope(sc.class_scope).bases;
  return std::any_of(bases.begin(), bases.end(), [](const std::string& b) { return b.ends_with("Optimizer"); });
}

// Evaluation code by a strong name (`evaluate`, `validate`, `predict`, `inference`) or a
// framework's evaluation step: what it computes goes to metrics, not to a loss.
bool evaluation_by_name(const Scope& sc) {
  bool needs_loop = false;
  return sc.facts.framework_eval_step || (names::is_eval_function_name(sc.name, needs_loop) && !needs_loop);
}

// What the function computes reaches a backward: a framework back-propagates what a per-step
// method (`compute_loss`, `training_step`) or a module's forward computes, and a caller in this
// file that trains (or is itself such a function) uses what it returns. Tensors made under
// inference_mode fail there as soon as autograd saves one ("Inference tensors cannot be saved
// for backward"): a text embedding fed to a trained UNet, a teacher's logits in a KD loss.
bool results_reach_training(const Model::Impl& impl, ScopeId fn, int depth) {
  constexpr int kMaxDepth = 4;
  const Scope& sc = impl.m.scope(fn);
  if (evaluation_by_name(sc)) {
    return false;
  }
  if (sc.facts.per_step_method || impl.is_module_forward(fn)) {
    return true;
  }
  if (depth >= kMaxDepth || static_cast<size_t>(fn) >= impl.edges_by_callee.size()) {
    return false;
  }
  for (size_t e : impl.edges_by_callee[static_cast<size_t>(fn)]) {
    const ScopeId caller = impl.edges[e].caller;
    if (caller == kNone || caller == fn) {
      continue;
    }
    const FunctionFacts& f = impl.m.scope(caller).facts;
    if (f.backprops || f.needs_grad || f.steps_optimizer || results_reach_training(impl, caller, depth + 1)) {
      return true;
    }
  }
  return false;
}

// The statement after `statement` in its block, skipping comments; null at the block's end.
TSNode next_statement(const Model::Impl& impl, TSNode statement) {
  TSNode next = ts_node_next_named_sibling(statement);
  while (!ts_node_is_null(next) && ts_node_symbol(next) == impl.g.sym.comment) {
    next = ts_node_next_named_sibling(next);
  }
  return next;
}

// `.train()` after the region, in a function that switched to `.eval()` before it, with at
// most a `return` after it: evaluation code putting the model back as it found it, which trains
// nothing on what the region computed.
bool restores_train_mode(const Model::Impl& impl, const ModeSwitch& to_train, ScopeId function, ByteRange region) {
  if (ts_node_start_byte(to_train.statement) < region.end) {
    return false;
  }
  const TSNode next = next_statement(impl, to_train.statement);
  if (!ts_node_is_null(next) && ts_node_symbol(next) != impl.g.sym.return_statement) {
    return false;
  }
  return std::any_of(impl.mode_switches.begin(), impl.mode_switches.end(), [&](const ModeSwitch& s) {
    return s.to_eval && ts_node_end_byte(s.statement) <= region.start &&
           impl.m.function_at(ts_node_start_byte(s.statement)) == function;
  });
}

// The function (or module-level code, for kNone) switches a module to `.train()` other than to
// restore it after the region; `restores` says whether it restores it there.
bool switches_to_training(const Model::Impl& impl, ScopeId function, ByteRange region, bool& restores) {
  bool trains = false;
  for (const ModeSwitch& s : impl.mode_switches) {
    if (s.to_eval || impl.m.function_at(ts_node_start_byte(s.statement)) != function) {
      continue;
    }
    if (restores_train_mode(impl, s, function, region)) {
      restores = true;
    } else {
      trains = true;
    }
  }
  return trains;
}

// The calls of `function` in this file, in source order.
std::vector<const Call*> call_sites(const Model::Impl& impl, ScopeId function) {
  std::vector<const Call*> sites;
  for (const Call& c : impl.m.calls()) {
    if (impl.local_callee(c.function, c.scope) == function) {
      sites.push_back(&c);
    }
  }
  return sites;
}

// `with torch.no_grad(): w = emb.weight.clone()` then `head.weight = nn.Parameter(w)`: a tensor
// made in the block becomes a parameter after it, and an inference tensor can never train.
bool made_into_a_parameter_after(const Model::Impl& impl, const NoGradRegion& region, ByteRange range) {
  const ScopeId fn = region.function == kNone ? 0 : region.function;
  const Scope& sc = impl.m.scope(fn);
  const std::uint32_t end = fn == 0 ? UINT32_MAX : ts_node_end_byte(sc.node);
  // The calls first (few, and found by position); the names bound in the block only when one of
  // them makes a parameter.
  for (auto [i, last] = impl.calls_in(range.end, end); i < last; ++i) {
    const Call& c = impl.m.calls()[i];
    if (c.method != "Parameter" && impl.last_name(c.function) != "Parameter") {
      continue;
    }
    const auto first = c.positional(0);
    if (!first) {
      continue;
    }
    const std::string_view passed = impl.text(*first);
    for (const Binding& b : impl.bindings) {
      if (b.stmt_start >= range.start && b.stmt_start < range.end && mentions_identifier(passed, b.name) &&
          impl.enclosing_function(b.scope) == region.function) {
        return true;
      }
    }
  }
  return false;
}

// What stops inference_mode in `region` (whose statement or function spans `range`), with the
// facts its finding's notes need filled in on the way.
InferenceModeBlocker inference_mode_blocker(const Model::Impl& impl, NoGradRegion& region, ByteRange range) {
  const ScopeId function = region.function;
  // Module-level code is a script's own function: its facts live on the module scope.
  const FunctionFacts& f = impl.m.scope(function == kNone ? 0 : function).facts;
  if (f.backprops || f.needs_grad || f.steps_optimizer || enables_grad_inside(impl, region.body) ||
      calls_a_method_taking_gradients(impl, region.body) ||
      switches_to_training(impl, function, range, region.restores_train_mode) ||
      (function != kNone && is_optimizer_step(impl.m, function))) {
    return InferenceModeBlocker::FunctionNeedsAutograd;
  }
  if ((function != kNone && results_reach_training(impl, function, 0)) ||
      made_into_a_parameter_after(impl, region, range)) {
    return InferenceModeBlocker::ResultsReachTraining;
  }
  if (function != kNone) {
    const Scope& sc = impl.m.scope(function);
    region.function_name = impl.field(sc.node, impl.g.field.name);
    region.call_sites = call_sites(impl, function);
    region.returns_values =
        std::any_of(sc.returns.begin(), sc.returns.end(), [](TSNode r) { return !ts_node_is_null(r); });
  }
  return touches_autograd_state(impl, region.body) ? InferenceModeBlocker::TouchesAutogradState
                                                   : InferenceModeBlocker::None;
}

// The function hands what it computes to callers this file does not show: they might train with
// it, or change it in place (`hypo["scores"].div_(...)` after fairseq's `inference_step`), and an
// inference tensor allows neither, so no rewrite is proven. A name that says evaluation vouches
// only for callers in sight (a script's `evaluate` called from its `main`), and a framework's
// validation step hands its results to the framework's own loop.
bool results_leave_unseen(const Model::Impl& impl, ScopeId function) {
  if (function == kNone) {
    return false;
  }
  const Scope& sc = impl.m.scope(function);
  const bool returns_value =
      std::any_of(sc.returns.begin(), sc.returns.end(), [](TSNode r) { return !ts_node_is_null(r); });
  if (!returns_value || sc.facts.framework_eval_step) {
    return false;
  }
  return !evaluation_by_name(sc) || !impl.has_callers(function);
}

// `with torch.no_grad():` as the statement's own context manager (not `with (torch.no_grad()):`
// or an argument of another call): the region is the `with` body.
void add_no_grad_statements(const Model::Impl& impl, std::vector<NoGradRegion>& out) {
  const auto& g = impl.g;
  const Model& m = impl.m;
  for (const Call& call : m.calls()) {
    if (call.qualified != "torch.no_grad" || ts_node_is_null(call.arguments) ||
        ts_node_named_child_count(call.arguments) != 0) {
      continue;
    }
    const TSNode item = ts_node_parent(call.node);
    if (ts_node_is_null(item) || ts_node_symbol(item) != g.sym.with_item) {
      continue;
    }
    const TSNode with = ts_node_parent(ts_node_parent(item));
    if (ts_node_is_null(with) || ts_node_symbol(with) != g.sym.with_statement) {
      continue;
    }
    NoGradRegion region;
    region.site = call.node;
    region.rename = renamed_part(impl, call.function);
    region.function = m.function_at(ts_node_start_byte(call.node));
    region.body = impl.field(with, g.field.body);
    region.blocker = inference_mode_blocker(impl, region, ByteRange{ts_node_start_byte(with), ts_node_end_byte(with)});
    region.results_leave_unseen = results_leave_unseen(impl, region.function);
    out.push_back(region);
  }
}

// `@torch.no_grad()` or a bare `@torch.no_grad` on a function: the region is the function's
// body, the site the whole decorator expression.
void add_no_grad_decorators(const Model::Impl& impl, std::vector<NoGradRegion>& out) {
  const auto& g = impl.g;
  const Model& m = impl.m;
  for (ScopeId s = 0; s < static_cast<ScopeId>(m.scopes().size()); ++s) {
    const Scope& scope = m.scope(s);
    if (!scope.is_function()) {
      continue;
    }
    for (TSNode decorator : scope.decorators) {
      const TSNode expr = impl.unparen(decorator); // Scope::decorators holds the expressions
      TSNode callee = expr;
      if (!ts_node_is_null(expr) && ts_node_symbol(expr) == g.sym.call) {
        const TSNode args = impl.field(expr, g.field.arguments);
        if (!ts_node_is_null(args) && ts_node_named_child_count(args) != 0) {
          continue;
        }
        callee = impl.field(expr, g.field.function);
      }
      if (m.qualified_name(callee) != "torch.no_grad") {
        continue;
      }
      NoGradRegion region;
      region.site = expr;
      region.rename = renamed_part(impl, callee);
      region.function = s;
      region.decorator = true;
      region.body = scope.body;
      region.blocker =
          inference_mode_blocker(impl, region, ByteRange{ts_node_start_byte(scope.node), ts_node_end_byte(scope.node)});
      region.results_leave_unseen = results_leave_unseen(impl, s);
      out.push_back(region);
    }
  }
}

} // namespace

std::vector<NoGradRegion> Model::no_grad_regions() const {
  std::vector<NoGradRegion> out;
  add_no_grad_statements(*m_impl, out);
  add_no_grad_decorators(*m_impl, out);
  return out;
}

bool Model::imports_a_parameter_sharder() const {
  static constexpr std::array<std::string_view, 4> kSharders = {"deepspeed", "torch.distributed.fsdp",
                                                                "torch.distributed._composable.fsdp", "fairscale"};
  return std::any_of(bindings().begin(), bindings().end(), [](const Binding& b) {
    if (b.kind != BindingKind::Import) {
      return false;
    }
    // `fully_shard` re-exported by a project's own package is still FSDP2.
    const std::string_view last = std::string_view(b.qualified).substr(b.qualified.rfind('.') + 1);
    return last == "fully_shard" || last == "FullyShardedDataParallel" ||
           std::any_of(kSharders.begin(), kSharders.end(), [&](std::string_view s) {
             return b.qualified == s || (b.qualified.starts_with(s) && b.qualified[s.size()] == '.');
           });
  });
}

} // namespace oomlint::model
