// What the model derives after its one traversal: function facts (with the in-file call
// graph), step and phase loops, accumulations and stores that outlive an iteration, and
// evaluation code that runs with autograd on.
#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <set>

#include "analyzer/model/model_impl.hpp"
#include "analyzer/support/strings.hpp"
#include "analyzer/syntax/walk.hpp"

namespace oomlint::model {

namespace {

constexpr int kMaxFixpointRounds = 32;

// The device allocators' own cache-emptying calls, and library helpers documented to call them.
bool empties_cache_directly(std::string_view q) {
  return q == "torch.cuda.empty_cache" || q == "torch.cuda.memory.empty_cache" || q == "torch.mps.empty_cache" ||
         q == "torch.xpu.empty_cache" || q == "torch.npu.empty_cache" || q == "torch.mlu.empty_cache" ||
         q == "diffusers.training_utils.free_memory";
}

bool is_disabling_qualified(std::string_view q) {
  return q == "torch.no_grad" || q == "torch.inference_mode" || q == "torch.autograd.no_grad" ||
         q == "torch.autograd.grad_mode.no_grad" || q == "torch.autograd.inference_mode" ||
         q == "torch.autograd.grad_mode.inference_mode";
}

} // namespace

void Model::Impl::index_for_queries() {
  std::stable_sort(regions.begin(), regions.end(), [](const GradRegion& a, const GradRegion& b) {
    return a.start != b.start ? a.start < b.start : a.end > b.end;
  });
  region_parent.assign(regions.size(), kNone);
  std::vector<std::int32_t> open;
  for (size_t i = 0; i < regions.size(); ++i) {
    while (!open.empty() && regions[static_cast<size_t>(open.back())].end <= regions[i].start) {
      open.pop_back();
    }
    region_parent[i] = open.empty() ? kNone : open.back();
    open.push_back(static_cast<std::int32_t>(i));
  }
  for (auto& table : scope_names) {
    for (auto& [name, ids] : table) {
      std::stable_sort(ids.begin(), ids.end(), [&](BindingId a, BindingId b) {
        return bindings[static_cast<size_t>(a)].visible_from < bindings[static_cast<size_t>(b)].visible_from;
      });
    }
  }
  std::sort(needs_grad_points.begin(), needs_grad_points.end());
  for (size_t i = 0; i < store_candidates.size(); ++i) {
    stores_by_container[dotted(store_candidates[i].container)].push_back(i);
  }
}

// Where each method of this file's classes is called as `x.name(...)` on a receiver other than
// `self` that resolves to no function here (positions of the calls).
std::unordered_map<std::string_view, std::vector<std::size_t>> Model::Impl::method_calls_by_name() const {
  std::unordered_map<std::string_view, std::vector<std::size_t>> out;
  for (const Scope& sc : m.m_scopes) {
    if (sc.kind == ScopeKind::Function && sc.class_scope != kNone && !names::is_forward_method(sc.name) &&
        sc.name != "__call__" && sc.name != "__init__") {
      out.emplace(sc.name, std::vector<std::size_t>{});
    }
  }
  if (out.empty()) {
    return out;
  }
  for (size_t i = 0; i < m.m_calls.size(); ++i) {
    const Call& c = m.m_calls[i];
    if (null(c.receiver) || c.method.empty() || text(c.receiver) == "self") {
      continue;
    }
    // `self.embedder.eval()` switches a module's mode; it is no call of the class's own
    // `def eval(self)` that runs the evaluation.
    const bool switches_mode = (c.method == "eval" || c.method == "train") &&
                               (null(c.arguments) || ts_node_named_child_count(c.arguments) == 0);
    auto it = out.find(c.method);
    if (it != out.end() && !switches_mode && local_callee(c.function, c.scope) == kNone) {
      it->second.push_back(i);
    }
  }
  return out;
}

namespace {

bool is_splat_parameter(const syntax::Grammar& g, TSNode p) {
  const TSSymbol s = ts_node_symbol(p);
  if (s == g.sym.typed_parameter && ts_node_named_child_count(p) > 0) {
    return is_splat_parameter(g, ts_node_named_child(p, 0));
  }
  return s == g.sym.list_splat_pattern || s == g.sym.dictionary_splat_pattern;
}

} // namespace

// `self.embedder.eval()` is no call of `def eval(self, split)`: a call by name is a call of a
// method only where the arguments it passes fit the method's parameters.
bool Model::Impl::arguments_fit(const Scope& method, const Call& c) const {
  TSNode params = field(method.node, g.field.parameters);
  if (null(params) || null(c.arguments)) {
    return true;
  }
  int required = 0;
  int positional_slots = 0;
  bool open_ended = false;
  bool keyword_only = false;
  const uint32_t n = ts_node_named_child_count(params);
  for (uint32_t i = 0; i < n; ++i) {
    TSNode p = ts_node_named_child(params, i);
    const TSSymbol s = ts_node_symbol(p);
    if (i == 0 && (s == g.sym.identifier || s == g.sym.typed_parameter)) {
      continue; // self
    }
    if (is_splat_parameter(g, p)) {
      open_ended = true;
      keyword_only = true;
      continue;
    }
    if (s == g.sym.keyword_separator) {
      keyword_only = true;
      continue;
    }
    if (s == g.sym.positional_separator) {
      continue;
    }
    const bool has_default = s == g.sym.default_parameter || s == g.sym.typed_default_parameter;
    required += has_default ? 0 : 1;
    positional_slots += keyword_only ? 0 : 1;
  }
  int given = 0;
  int positional = 0;
  const uint32_t an = ts_node_named_child_count(c.arguments);
  for (uint32_t i = 0; i < an; ++i) {
    TSNode a = ts_node_named_child(c.arguments, i);
    const TSSymbol s = ts_node_symbol(a);
    if (s == g.sym.list_splat || s == g.sym.dictionary_splat) {
      return true; // `f(*args)`: any count
    }
    if (s == g.sym.comment) {
      continue;
    }
    ++given;
    positional += s == g.sym.keyword_argument ? 0 : 1;
  }
  return given >= required && (open_ended || positional <= positional_slots);
}

// A method that back-propagates and steps an optimizer once, with no loop of its own (a DQN
// agent's `learn`, a trainer's `update`), is one training step whatever it is called.
void Model::Impl::mark_structural_step_methods() {
  std::vector<bool> has_loop(m.m_scopes.size(), false);
  for (const Loop& l : m.m_loops) {
    const ScopeId fn = enclosing_function(l.scope);
    if (fn != kNone && l.kind != LoopKind::Comprehension) {
      has_loop[static_cast<size_t>(fn)] = true;
    }
  }
  for (size_t i = 0; i < m.m_scopes.size(); ++i) {
    Scope& sc = m.m_scopes[i];
    if (sc.kind == ScopeKind::Function && sc.class_scope != kNone && !has_loop[i] && sc.facts.backprops &&
        sc.facts.steps_optimizer && !sc.facts.grad_disabled && !is_test_function(static_cast<ScopeId>(i))) {
      sc.facts.per_step_method = true;
    }
  }
}

// `loss = self.step_loss(batch); loss.backward()`: a method whose result its caller
// back-propagates computes the step's loss, so it runs once per step whatever it is called.
void Model::Impl::mark_loss_methods() {
  std::unordered_map<std::uint32_t, ScopeId> methods_called_at;
  for (const CallEdge& e : edges) {
    const Scope& callee = m.m_scopes[static_cast<size_t>(e.callee)];
    if (callee.class_scope != kNone && !callee.facts.per_step_method && !callee.facts.grad_disabled &&
        !function_has_loop[static_cast<size_t>(e.callee)] && !e.disabled_here) {
      methods_called_at.emplace(e.at, e.callee);
    }
  }
  if (methods_called_at.empty()) {
    return;
  }
  auto mark = [&](ScopeId method) {
    m.m_scopes[static_cast<size_t>(method)].facts.per_step_method = true;
    m.m_scopes[static_cast<size_t>(method)].facts.loss_for_caller = true;
  };
  // `self.compute_D_loss().backward()`: the method's result is back-propagated where it is called.
  for (const auto& [at, method] : methods_called_at) {
    const TSNode call = ts_node_descendant_for_byte_range(m.m_scopes[0].node, at, at);
    for (TSNode n = call; !null(n) && ts_node_start_byte(n) == at; n = ts_node_parent(n)) {
      if (ts_node_symbol(n) == g.sym.attribute && text(field(n, g.field.attribute)) == "backward") {
        mark(method);
        break;
      }
    }
  }
  for (const Binding& b : m.bindings()) {
    // `loss = self.compute_loss()`, `self.loss_G = self.compute_G_loss()`, then a backward of it.
    const bool plain_or_self = b.name.find('.') == std::string::npos ||
                               (b.name.starts_with("self.") && b.name.find('.', 5) == std::string::npos);
    if (b.kind != BindingKind::Assign || null(b.value) || !plain_or_self) {
      continue;
    }
    const auto it = methods_called_at.find(ts_node_start_byte(unparen(b.value)));
    if (it == methods_called_at.end()) {
      continue;
    }
    const ScopeId fn = enclosing_function(b.scope);
    const ScopeId owner = fn == kNone ? 0 : fn;
    if (flows_into_backward(b.name, owner, 2)) {
      mark(it->second);
    }
  }
}

void Model::Impl::analyse() {
  for (size_t i = 0; i < m.m_scopes.size(); ++i) {
    if (m.m_scopes[i].kind == ScopeKind::Class) {
      m.m_scopes[i].facts.freezes_itself = class_freezes_itself(static_cast<ScopeId>(i));
      has_self_freezing_class = has_self_freezing_class || m.m_scopes[i].facts.freezes_itself;
    }
  }
  for (size_t i = 0; i < m.m_scopes.size(); ++i) {
    Scope& sc = m.m_scopes[i];
    if (sc.kind == ScopeKind::Function && sc.parent == 0 && !sc.returns.empty()) {
      ModuleClass cls = class_every_return_builds(static_cast<ScopeId>(i));
      sc.facts.returned_class_scope = cls.scope;
      sc.facts.returned_class = std::move(cls.qualified);
    }
  }
  compute_function_facts();
  resolve_calls();
  const auto by_name = method_calls_by_name();
  // Grad mode through callers: a helper only ever called grad-disabled runs grad-disabled.
  for (int round = 0; round < kMaxFixpointRounds; ++round) {
    bool changed = false;
    for (size_t i = 0; i < m.m_scopes.size(); ++i) {
      Scope& sc = m.m_scopes[i];
      if (sc.kind != ScopeKind::Function || sc.facts.grad_disabled) {
        continue;
      }
      int disabled_sites = 0;
      const auto& incoming = edges_by_callee[i];
      for (size_t e : incoming) {
        if (disabled_at(edges[e].at, m.scope_at(edges[e].at))) {
          ++disabled_sites;
        }
      }
      int sites = static_cast<int>(incoming.size());
      if (sc.class_scope != kNone) {
        // `module.validation_step(b)` on a receiver the model cannot type: the calls by name,
        // beside the ones resolved (`self.pi(x)` under no_grad in `act`, `model.pi(s)` elsewhere).
        if (auto it = by_name.find(sc.name); it != by_name.end()) {
          for (const std::size_t call : it->second) {
            // `def evaluate_actions(...): self.actor.evaluate_actions(...)` delegates to a member.
            if (!arguments_fit(sc, m.m_calls[call]) ||
                enclosing_function(m.m_calls[call].scope) == static_cast<ScopeId>(i)) {
              continue;
            }
            const std::uint32_t at = ts_node_start_byte(m.m_calls[call].node);
            ++sites;
            disabled_sites += disabled_at(at, m.scope_at(at)) ? 1 : 0;
          }
        }
      }
      if (project != nullptr && project->facts != nullptr && sc.parent == 0) {
        // Calls from the run's other modules count as call sites too.
        const ProjectFacts::Incoming external = project->facts->incoming(project->module + "." + sc.name);
        sites += external.sites;
        disabled_sites += external.disabled;
      } else if (project != nullptr && project->facts != nullptr && sites == 0 && sc.class_scope != kNone &&
                 sc.parent == sc.class_scope && m.m_scopes[static_cast<size_t>(sc.class_scope)].parent == 0) {
        // A method nothing here calls, called on instances of its class in other modules.
        const ProjectFacts::Incoming external = project->facts->incoming(
            project->module + "." + m.m_scopes[static_cast<size_t>(sc.class_scope)].name + "." + sc.name);
        sites += external.sites;
        disabled_sites += external.disabled;
        if (sites == 0) {
          // `self.validate_on_batch(b)` in a base class of another module that leaves it to us.
          const ProjectFacts::Incoming from_bases = incoming_from_bases(sc);
          sites += from_bases.sites;
          disabled_sites += from_bases.disabled;
        }
        if (sites == 0) {
          // Nor on instances of the class: called by name on receivers of no known class. Such a
          // call's own grad mode is read without its callers', so only calls that are all
          // grad-disabled say anything; the others leave the method to callers not seen.
          const ProjectFacts::Incoming untyped = project->facts->incoming_by_name(sc.name);
          if (untyped.sites > 0 && untyped.disabled == untyped.sites) {
            sites += untyped.sites;
            disabled_sites += untyped.disabled;
          }
        }
      }
      sc.facts.call_sites = sites;
      sc.facts.disabled_call_sites = disabled_sites;
      if (sites > 0 && disabled_sites == sites) {
        sc.facts.grad_disabled = true;
        changed = true;
      }
    }
    if (!changed) {
      break;
    }
  }
  // Backward, optimizer steps and the need for gradients flow from callees to callers.
  for (int round = 0; round < kMaxFixpointRounds; ++round) {
    bool changed = false;
    for (const CallEdge& e : edges) {
      const ScopeId caller = e.caller == kNone ? 0 : e.caller;
      FunctionFacts& to = m.m_scopes[static_cast<size_t>(caller)].facts;
      const FunctionFacts& from = m.m_scopes[static_cast<size_t>(e.callee)].facts;
      if ((from.backprops && !to.backprops) || (from.steps_optimizer && !to.steps_optimizer) ||
          (from.needs_grad && !to.needs_grad)) {
        to.backprops |= from.backprops;
        to.steps_optimizer |= from.steps_optimizer;
        to.needs_grad |= from.needs_grad;
        changed = true;
      }
    }
    if (!changed) {
      break;
    }
  }
  mark_structural_step_methods();
  for (size_t i = 0; i < m.m_scopes.size(); ++i) {
    if (m.m_scopes[i].is_function() && !m.m_scopes[i].facts.grad_disabled) {
      m.m_scopes[i].facts.returns_only_without_grad = returns_only_without_grad(static_cast<ScopeId>(i));
    }
  }
  const std::unordered_set<std::string> forward_methods = methods_running_a_forward();
  for (Call& c : m.m_calls) {
    c.grad_disabled = disabled_at(ts_node_start_byte(c.node), c.scope);
    if (c.is_backward || null(c.function)) {
      continue;
    }
    TSNode fn = unparen(c.function);
    if (c.method == "generate" || names::is_module_returning_method(c.method) || c.method == "eval" ||
        c.method == "train" || c.method == "parameters" || c.method == "named_parameters" || c.method == "state_dict" ||
        c.method == "load_state_dict" || c.method == "zero_grad" || c.method == "apply" ||
        (c.is_method_call() && names::names_a_tensor_type(c.method))) {
      continue;
    }
    const TSSymbol fs = ts_node_symbol(fn);
    // A head of this file's model called by the code that drives it (`model.pi(s)`); inside a
    // class, `self.net.head(x)` is that class's own composition, and its callers decide.
    const bool head_of_a_model =
        forward_methods.count(std::string(c.method)) != 0 && !null(c.receiver) && !text(c.receiver).starts_with("self");
    if (fs == g.sym.attribute && (names::is_forward_like_method(c.method) || head_of_a_model)) {
      c.is_forward = eval(c.receiver, c.scope, 0).kind == Kind::Module;
      continue;
    }
    if (fs == g.sym.identifier || fs == g.sym.attribute) {
      // Cheap exclusions first (this runs for every call): an imported name is a function or a
      // class, never a module instance; `x.attr` outside `self` only names a submodule when
      // `attr` does, which is what eval() would conclude after resolving `x`.
      if (!c.qualified.empty() || local_callee(fn, c.scope) != kNone || builds_by_class_style(fn, c.scope)) {
        continue;
      }
      if (fs == g.sym.attribute && !null(c.receiver) && text(c.receiver) != "self" && c.method != "module" &&
          c.method != "_orig_mod" && !names::is_model_name(c.method, options)) {
        continue;
      }
      c.is_forward = eval(fn, c.scope, 0).kind == Kind::Module;
    }
  }
  // A forward (or `encode`) that its class runs without autograd builds no graph; a layer without
  // parameters (`nn.CosineSimilarity()`, `nn.Upsample(...)`) keeps only its inputs' graph, if any.
  for (Call& c : m.m_calls) {
    if (c.is_forward && (calls_a_grad_disabled_method(c) || calls_a_parameter_free_layer(c) ||
                         tokenizer_keyword_in(c.arguments) != nullptr)) {
      c.is_forward = false;
    }
  }
  classify_loops();
  mark_loss_methods();
  finish_accumulations_and_stores();
  find_eval_regions();
}

// `def pi(self, x): x = F.relu(self.fc1(x)); return F.softmax(self.fc_pi(x), dim=-1)` in an
// nn.Module of this file: a head of the model, so `model.pi(s)` runs a forward like `model(s)`.
// Not a method that turns autograd off itself, nor one that only reads or builds.
std::unordered_set<std::string> Model::Impl::methods_running_a_forward() const {
  std::unordered_set<std::string> out;
  for (const Scope& sc : m.m_scopes) {
    if (!sc.is_function() || sc.class_scope == kNone || null(sc.body) || sc.name.starts_with("_") ||
        names::is_forward_method(sc.name) || sc.facts.grad_disabled || !class_is_module_like(sc.class_scope) ||
        sc.returns.empty()) {
      continue;
    }
    // `self.fc1(x)` where `self.fc1 = nn.Linear(...)` (or any class built into the attribute).
    auto is_layer = [&](const Call& c, ScopeId scope) {
      if (null(c.receiver) || text(c.receiver) != "self" || !c.qualified.empty()) {
        return false;
      }
      for (const Binding* b : self_attribute_bindings("self." + std::string(c.method), scope)) {
        const TSNode v = null(b->value) ? TSNode{} : unparen(b->value);
        if (!null(v) && ts_node_symbol(v) == g.sym.call) {
          const std::string_view built = last_name(field(v, g.field.function));
          if (!built.empty() && std::isupper(static_cast<unsigned char>(built.front())) != 0) {
            return true;
          }
        }
      }
      return false;
    };
    bool runs_a_layer = false;
    bool turns_autograd_off = false;
    const auto [first, last] = calls_in(ts_node_start_byte(sc.body), ts_node_end_byte(sc.body));
    for (size_t i = first; i < last; ++i) {
      const Call& c = m.m_calls[i];
      turns_autograd_off =
          turns_autograd_off || c.qualified == "torch.no_grad" || c.qualified == "torch.inference_mode";
      runs_a_layer = runs_a_layer || is_layer(c, c.scope);
    }
    if (runs_a_layer && !turns_autograd_off) {
      out.insert(sc.name);
    }
  }
  return out;
}

// `class DialogueTask(BaseTask): def valid_step(self, model, samples)`: a hook of a framework
// base class, whose validation loop (fairseq's and LAVIS's trainers, Lightning) runs it with
// autograd off. The loop is not in sight, so the grad mode is not this method's to choose.
// `def forward(self, x): self.module.eval(); return self.module(x)` in an nn.Module class (a
// wrapper forcing eval mode on a target network): a module's forward computes, its callers choose
// the grad mode.
bool Model::Impl::forward_of_a_module_class(ScopeId fn) const {
  const Scope& sc = m.m_scopes[static_cast<size_t>(fn)];
  return sc.name == "forward" && sc.parent == sc.class_scope && m.in_module_method(fn);
}

bool Model::Impl::overrides_a_validation_hook(ScopeId fn) const {
  const Scope& sc = m.m_scopes[static_cast<size_t>(fn)];
  static constexpr std::array<std::string_view, 4> kHooks = {"valid_step", "validation_step", "test_step",
                                                             "predict_step"};
  if (sc.class_scope == kNone || std::find(kHooks.begin(), kHooks.end(), sc.name) == kHooks.end()) {
    return false;
  }
  const Scope& cls = m.m_scopes[static_cast<size_t>(sc.class_scope)];
  const bool has_a_base = !cls.bases.empty() && !(cls.bases.size() == 1 && cls.bases.front() == "object");
  return has_a_base && !class_is_plain_torch_module(sc.class_scope);
}

// A class whose only bases are `torch.nn.Module` (or `object`) is no Lightning module: nothing
// but its own callers runs its `validation_step`, under whatever grad mode they have.
bool Model::Impl::class_is_plain_torch_module(ScopeId cls) const {
  const Scope& sc = m.m_scopes[static_cast<size_t>(cls)];
  if (sc.bases.empty()) {
    return false;
  }
  const std::uint32_t at = null(sc.node) ? 0 : ts_node_start_byte(sc.node);
  return std::all_of(sc.bases.begin(), sc.bases.end(), [&](const std::string& base) {
    if (base == "object") {
      return true;
    }
    const size_t dot = base.find('.');
    const std::string root = base.substr(0, dot);
    const std::string rest = dot == std::string::npos ? std::string() : base.substr(dot);
    const Binding* b = lookup(root, sc.parent, at);
    const std::string qualified = b != nullptr && b->kind == BindingKind::Import ? b->qualified + rest
                                  : b == nullptr && root == "torch"              ? base
                                                                                 : std::string();
    return qualified == "torch.nn.Module" || qualified == "torch.nn.modules.module.Module";
  });
}

void Model::Impl::compute_function_facts() {
  for (size_t i = 0; i < m.m_scopes.size(); ++i) {
    Scope& sc = m.m_scopes[i];
    if (sc.kind != ScopeKind::Function) {
      continue;
    }
    // pytest runs a test once, whatever it is named (`test_fsdp_training_step`).
    sc.facts.per_step_method = names::is_per_step_method(sc.name) && !is_test_function(static_cast<ScopeId>(i));
    sc.facts.framework_eval_step = sc.class_scope != kNone && names::is_framework_eval_step(sc.name) &&
                                   !class_is_plain_torch_module(sc.class_scope);
    for (TSNode d : sc.decorators) {
      TSNode callee = unparen(d);
      if (!null(callee) && ts_node_symbol(callee) == g.sym.call) {
        callee = field(callee, g.field.function);
      }
      const std::string q = resolve_qualified(callee, sc.parent);
      if (is_disabling_qualified(q) || names::is_grad_disabling_decorator_name(last_name(callee), options)) {
        sc.facts.decorated_grad_disabled = true;
      }
    }
    sc.facts.grad_disabled = sc.facts.decorated_grad_disabled || sc.facts.framework_eval_step;
  }
}

void Model::Impl::resolve_calls() {
  for (Call& c : m.m_calls) {
    c.qualified = resolve_qualified(c.function, c.scope);
    if (c.qualified == "torch.autograd.backward" || c.qualified == "torch.autograd.grad") {
      c.is_backward = c.qualified == "torch.autograd.backward";
      Scope& o = m.m_scopes[static_cast<size_t>(owner_scope(c.scope))];
      o.facts.needs_grad = true;
      needs_grad_points.push_back(ts_node_start_byte(c.node));
      if (c.is_backward) {
        o.facts.backprops = true;
      }
      if (auto first = c.positional(0)) {
        const std::string d = dotted(*first);
        if (!d.empty()) {
          o.backprop_names.insert(d);
        }
      }
    }
    if (c.qualified == "torch.enable_grad" || c.qualified == "torch.autograd.enable_grad") {
      needs_grad_points.push_back(ts_node_start_byte(c.node));
    }
    const ScopeId callee = local_callee(c.function, c.scope);
    if (callee != kNone) {
      edges.push_back(CallEdge{enclosing_function(c.scope), callee, ts_node_start_byte(c.node), false,
                               static_cast<size_t>(&c - m.m_calls.data())});
    } else if (std::vector<ScopeId> picked = local_callees_picked(c.function, c.scope);
               !picked.empty() || !(picked = methods_reached_through_self(c.function, c.scope)).empty()) {
      for (const ScopeId one : picked) {
        edges.push_back(CallEdge{enclosing_function(c.scope), one, ts_node_start_byte(c.node), false,
                                 static_cast<size_t>(&c - m.m_calls.data())});
      }
    } else if (const FunctionSummary* f = project_function(c.qualified)) {
      // A helper in another module of the run: its effects are the caller's.
      FunctionFacts& o = m.m_scopes[static_cast<size_t>(owner_scope(c.scope))].facts;
      o.backprops |= f->backprops;
      o.steps_optimizer |= f->steps_optimizer;
      o.needs_grad |= f->needs_grad;
    }
  }
  mark_cache_emptying_calls();
  edges_by_callee.assign(m.m_scopes.size(), {});
  for (size_t i = 0; i < edges.size(); ++i) {
    edges_by_callee[static_cast<size_t>(edges[i].callee)].push_back(i);
  }
  mark_cuda_initialising_functions();
}

// `getattr(torch, device_type)`: the receiver of `getattr(torch, d).empty_cache()`.
bool Model::Impl::is_torch_device_module(TSNode receiver, ScopeId scope) const {
  receiver = unparen(receiver);
  if (null(receiver) || ts_node_symbol(receiver) != g.sym.call) {
    return false;
  }
  TSNode fn = unparen(field(receiver, g.field.function));
  TSNode args = field(receiver, g.field.arguments);
  if (null(fn) || ts_node_symbol(fn) != g.sym.identifier || text(fn) != "getattr" || null(args) ||
      ts_node_named_child_count(args) < 1) {
    return false;
  }
  return resolve_qualified(ts_node_named_child(args, 0), scope) == "torch";
}

void Model::Impl::mark_cache_emptying_calls() {
  // Direct calls first; a function whose own body empties the cache outside any loop empties it
  // on every call, so calls to it do too (one level: the wrappers real projects write).
  for (Call& c : m.m_calls) {
    c.empties_cache = empties_cache_directly(c.qualified) ||
                      (c.method == "empty_cache" && is_torch_device_module(c.receiver, c.scope));
    const ScopeId fn = enclosing_function(c.scope);
    if (c.empties_cache && fn != kNone && c.loop == kNone && !c.in_except && !m.option_guarded(c.node, kNone)) {
      m.m_scopes[static_cast<size_t>(fn)].facts.empties_cache = true;
    }
  }
  for (Call& c : m.m_calls) {
    if (c.empties_cache) {
      continue;
    }
    const ScopeId callee = local_callee(c.function, c.scope);
    if (callee != kNone && m.m_scopes[static_cast<size_t>(callee)].facts.empties_cache) {
      c.empties_cache = true;
      c.empties_via = m.m_scopes[static_cast<size_t>(callee)].name;
    } else if (const FunctionSummary* f = project_function(c.qualified); f != nullptr && f->empties_cache) {
      c.empties_cache = true;
      c.empties_via = c.qualified;
    }
  }
}

// `while batch_size: try: return run(batch_size) except ...: batch_size = smaller(batch_size)`:
// each pass is a whole run retried at another size (an out-of-memory retry), not a step.
bool Model::Impl::is_retry_loop(const Loop& l) const {
  const TSNode condition = unparen(l.iterable);
  if (l.kind != LoopKind::While || null(condition)) {
    return false;
  }
  const bool handles = std::any_of(except_clauses.begin(), except_clauses.end(),
                                   [&](std::uint32_t at) { return at >= l.body_start && at < l.body_end; });
  if (!handles) {
    return false;
  }
  // `while not done:` / `while not results and batch_size >= 1:`: a name the condition reads is
  // set again in the body, around the attempt the except clause catches. A step counter
  // (`while step < max_steps:` around `try: batch = next(it)`) makes a step loop.
  const auto& table = scope_names[static_cast<size_t>(l.scope)];
  bool rebound = false;
  syntax::walk_named(condition, [&](TSNode n) {
    if (rebound || ts_node_symbol(n) != g.sym.identifier) {
      return !rebound;
    }
    if (!ts_node_eq(n, condition) && names::is_step_count_name(text(n))) {
      return true;
    }
    const auto it = table.find(std::string(text(n)));
    rebound = it != table.end() && std::any_of(it->second.begin(), it->second.end(), [&](BindingId id) {
                const Binding& b = bindings[static_cast<size_t>(id)];
                return b.stmt_start >= l.body_start && b.stmt_start < l.body_end;
              });
    return !rebound;
  });
  return rebound;
}

// `range(batch_size)` walks the samples of one batch; `range(0, n, batch_size)` walks the data
// a batch at a time, and `range(num_batches)` the batches.
bool Model::Impl::counts_within_one_batch(TSNode range_call) const {
  const TSNode args = field(range_call, g.field.arguments);
  if (null(args) || ts_node_named_child_count(args) != 1) {
    return false;
  }
  const auto words = identifier_words(text(ts_node_named_child(args, 0)));
  return words.contains("size") || words.contains("bs");
}

// `range(0, batch_size, chunk)` splits one batch into micro-batches (generation or a forward in
// chunks): the pieces are gathered and joined for that batch, so it is neither a step loop nor
// one that outlives steps. `range(0, len(data), batch_size)` is not: it walks the data.
bool Model::Impl::chunks_one_batch(TSNode range_call) const {
  const TSNode args = field(range_call, g.field.arguments);
  if (null(args) || ts_node_named_child_count(args) != 3) {
    return false;
  }
  const TSNode stop = unparen(ts_node_named_child(args, 1));
  if (ts_node_symbol(stop) != g.sym.identifier && ts_node_symbol(stop) != g.sym.attribute) {
    return false;
  }
  const auto words = identifier_words(last_name(stop));
  return (words.contains("batch") && words.contains("size")) || words.contains("bs");
}

namespace {

// A mapping's entries or a module's parts: `d.items()`, `model.named_parameters()`.
bool walks_no_data(std::string_view method) {
  static constexpr std::array<std::string_view, 10> kNotData = {
      "items",   "keys",     "values",        "named_parameters", "parameters",
      "modules", "children", "named_modules", "named_children",   "named_buffers"};
  return std::find(kNotData.begin(), kNotData.end(), method) != kNotData.end();
}

// `enumerate(batch["continuation_indices"])`, `zip(batch.images, batch.labels)`: the parts of
// the one batch a step was given, not the data.
bool walks_one_batch(const Model::Impl& impl, TSNode iterable) {
  TSNode it = impl.unparen(iterable);
  if (ts_node_symbol(it) == impl.g.sym.call) {
    const std::string_view wrapper = impl.last_name(impl.field(it, impl.g.field.function));
    const TSNode args = impl.field(it, impl.g.field.arguments);
    if ((wrapper != "enumerate" && wrapper != "zip") || impl.null(args) || ts_node_named_child_count(args) == 0) {
      return false;
    }
    it = impl.unparen(ts_node_named_child(args, 0));
  }
  const TSSymbol s = ts_node_symbol(it);
  if (s != impl.g.sym.subscript && s != impl.g.sym.attribute) {
    return false;
  }
  while (ts_node_symbol(it) == impl.g.sym.subscript || ts_node_symbol(it) == impl.g.sym.attribute) {
    it = impl.field(it, ts_node_symbol(it) == impl.g.sym.subscript ? impl.g.field.value : impl.g.field.object);
  }
  const std::string_view root = impl.text(it);
  return root == "batch" || root == "minibatch" || root == "mini_batch";
}

} // namespace

// Whether a loop goes over the data, by the names it iterates: `for b in loader`, `range(num_steps)`,
// `range(0, len(dataset), bs)`. A range cut into batch-sized pieces of one batch or one tensor
// (`range(0, x.shape[0], chunk_size)`, `range(0, batch_size, micro_bs)`) does not.
bool Model::Impl::iterates_data_by_name(const Loop& l) const {
  if (null(l.iterable)) {
    return false;
  }
  const TSNode it = unparen(l.iterable);
  // `self.opt["val"]["metrics"].items()`: a mapping's entries, whatever the keys that reach it say.
  if (ts_node_symbol(it) == g.sym.call && walks_no_data(last_name(field(it, g.field.function)))) {
    return false;
  }
  if (l.kind == LoopKind::For && ts_node_symbol(it) == g.sym.call && text(field(it, g.field.function)) == "range") {
    const TSNode args = field(it, g.field.arguments);
    if (!null(args) && ts_node_named_child_count(args) == 3) {
      const TSNode stop = ts_node_named_child(args, 1);
      return !chunks_one_batch(it) && !sizes_what_the_outer_pass_drew(l, stop) &&
             (names::is_loader_name(text(stop)) || names::is_step_count_name(text(stop)));
    }
    if (counts_within_one_batch(it)) {
      return false;
    }
  }
  const std::string_view t = text(l.iterable);
  return names::is_loader_name(t) || names::is_step_count_name(t);
}

// `range(0, batch.shape[0], chunk)` where `batch` is what the enclosing pass drew (its loop target
// or a name bound in its body): the range walks that one batch.
bool Model::Impl::sizes_what_the_outer_pass_drew(const Loop& l, TSNode stop) const {
  if (l.parent == kNone) {
    return false;
  }
  const Loop& outer = m.m_loops[static_cast<size_t>(l.parent)];
  const auto& table = scope_names[static_cast<size_t>(l.scope)];
  bool drawn = false;
  syntax::walk_named(stop, [&](TSNode n) {
    if (drawn || ts_node_symbol(n) != g.sym.identifier) {
      return !drawn;
    }
    const std::string name(text(n));
    if (std::find(outer.targets.begin(), outer.targets.end(), name) != outer.targets.end()) {
      drawn = true;
      return false;
    }
    const auto found = table.find(name);
    if (found != table.end()) {
      drawn = std::any_of(found->second.begin(), found->second.end(), [&](BindingId id) {
        const Binding& b = bindings[static_cast<size_t>(id)];
        return b.stmt_start >= outer.body_start && b.stmt_start < l.body_start;
      });
    }
    return false;
  });
  return drawn;
}

// `range(len(dataset))`, `range(rank, len(val_set), world_size)`, and through the names they are
// kept in (`num_text = len(texts)` with `texts = data_loader.dataset.text`): one item, or one
// slice, of the dataset per pass.
bool Model::Impl::walks_a_dataset(TSNode range_call, ScopeId scope) const {
  const TSNode args = field(range_call, g.field.arguments);
  if (null(args) || ts_node_named_child_count(args) == 0) {
    return false;
  }
  const uint32_t count = ts_node_named_child_count(args);
  TSNode stop = unparen(ts_node_named_child(args, count == 1 ? 0 : 1));
  if (ts_node_symbol(stop) == g.sym.identifier) {
    const Binding* b = lookup(text(stop), scope, ts_node_start_byte(stop));
    if (b == nullptr || b->kind != BindingKind::Assign || b->element != -1 || !b->has_value()) {
      return false;
    }
    stop = unparen(b->value);
  }
  if (ts_node_symbol(stop) != g.sym.call || text(field(stop, g.field.function)) != "len") {
    return false;
  }
  const TSNode len_args = field(stop, g.field.arguments);
  if (null(len_args) || ts_node_named_child_count(len_args) != 1) {
    return false;
  }
  TSNode measured = unparen(ts_node_named_child(len_args, 0));
  static constexpr std::array<std::string_view, 5> kWords = {"dataset", "datasets", "loader", "dataloader", "set"};
  const auto words = identifier_words(last_name(measured));
  if (std::any_of(kWords.begin(), kWords.end(), [&](std::string_view w) { return words.contains(w); })) {
    return true;
  }
  // `texts = data_loader.dataset.text`: what is measured was read from a loader's dataset.
  if (ts_node_symbol(measured) != g.sym.identifier) {
    return false;
  }
  const Binding* b = lookup(text(measured), scope, ts_node_start_byte(measured));
  if (b == nullptr || b->kind != BindingKind::Assign || b->element != -1 || !b->has_value()) {
    return false;
  }
  TSNode source = unparen(b->value);
  if (ts_node_symbol(source) != g.sym.attribute) {
    return false;
  }
  const std::string chain = dotted(source);
  return chain.find(".dataset.") != std::string::npos;
}

// Loops whose own body draws the next batch from a loader's iterator (`data = next(train_iter)`):
// each pass is one step over the data, whatever loops run inside it.
std::vector<bool> Model::Impl::loops_drawing_a_batch() const {
  std::vector<bool> draws(m.m_loops.size(), false);
  for (const Call& c : m.m_calls) {
    if (c.loop != kNone && draws_a_batch(c)) {
      draws[static_cast<size_t>(c.loop)] = true;
    }
  }
  return draws;
}

// `next(train_iter)`: the next batch from a loader's iterator.
bool Model::Impl::draws_a_batch(const Call& c) const {
  if (c.is_method_call() || c.method != "next") {
    return false;
  }
  const std::optional<TSNode> source = c.positional(0);
  return source && names::is_loader_name(text(*source)) && !names::is_phase_name(text(*source));
}

void Model::Impl::classify_loops() {
  function_has_loop.assign(m.m_scopes.size(), false);
  for (const Loop& l : m.m_loops) {
    if (l.kind != LoopKind::Comprehension) {
      const ScopeId fn = enclosing_function(l.scope);
      if (fn != kNone) {
        function_has_loop[static_cast<size_t>(fn)] = true;
      }
    }
  }
  const size_t count = m.m_loops.size();
  std::vector<bool> direct_step_work(count, false);
  std::vector<bool> calls_phase_work(count, false);
  std::vector<bool> nested_loop(count, false);
  // A pass over the data loader is one step even with loops inside it, unless one of them goes
  // over data too (`for batch in loader: for _ in range(ppo_epochs): ...` steps once per batch).
  // So is a pass that draws its batch itself (`for update in range(n): data = next(it)`).
  const std::vector<bool> draws_a_batch = loops_drawing_a_batch();
  for (const Loop& l : m.m_loops) {
    if (l.parent == kNone || l.kind == LoopKind::Comprehension) {
      continue;
    }
    const Loop& outer = m.m_loops[static_cast<size_t>(l.parent)];
    const bool over_the_loader =
        (outer.kind == LoopKind::For && !null(outer.iterable) && names::is_loader_name(text(outer.iterable)) &&
         !names::is_phase_name(text(outer.iterable))) ||
        draws_a_batch[static_cast<size_t>(l.parent)];
    if (!over_the_loader || iterates_data_by_name(l)) {
      nested_loop[static_cast<size_t>(l.parent)] = true;
    }
  }
  // One pass over the calls: each speaks for the loop it sits in directly; a backward also
  // makes every enclosing loop of its function one that back-propagates in each pass.
  for (const Call& c : m.m_calls) {
    if (c.loop == kNone) {
      continue;
    }
    const ScopeId callee = local_callee(c.function, c.scope);
    const FunctionFacts* facts = callee == kNone ? nullptr : &m.m_scopes[static_cast<size_t>(callee)].facts;
    FunctionFacts imported_facts;
    bool imported_has_loop = false;
    if (facts == nullptr) {
      if (const FunctionSummary* f = project_function(c.qualified)) {
        imported_facts.backprops = f->backprops;
        imported_facts.steps_optimizer = f->steps_optimizer;
        imported_has_loop = f->has_loop;
        facts = &imported_facts;
      }
    }
    const bool callee_has_loop =
        callee != kNone ? static_cast<bool>(function_has_loop[static_cast<size_t>(callee)]) : imported_has_loop;
    if (c.is_backward || (facts != nullptr && facts->backprops)) {
      for (LoopId l = c.loop; l != kNone; l = m.m_loops[static_cast<size_t>(l)].parent) {
        m.m_loops[static_cast<size_t>(l)].backprops = true;
      }
    }
    const auto li = static_cast<size_t>(c.loop);
    const bool optimizer_step = c.method == "step" && !null(c.receiver) && names::is_optimizer_name(text(c.receiver));
    const bool per_step_helper = facts != nullptr && (facts->backprops || facts->steps_optimizer) && !callee_has_loop;
    // Inside an nn.Module's own methods, calling submodules in a loop is composition (layers,
    // feature levels), not a training step.
    const ScopeId fn = enclosing_function(c.scope);
    const bool module_method = fn != kNone && class_is_module_like(m.m_scopes[static_cast<size_t>(fn)].class_scope);
    if ((c.is_forward && !module_method) || c.is_backward || optimizer_step || per_step_helper) {
      direct_step_work[li] = true;
    }
    const bool loop_helper = facts != nullptr && callee_has_loop;
    bool weak = false;
    if (names::is_train_function_name(c.method) || loop_helper ||
        (names::is_eval_function_name(c.method, weak) && !weak)) {
      calls_phase_work[li] = true;
    }
  }
  // Backward calls per function: a loop followed by a backward in the same function (and none
  // inside it) runs within one step -- over timesteps, heads or micro-steps -- and is no step loop.
  std::vector<std::uint32_t> last_backward(m.m_scopes.size(), 0);
  std::vector<bool> has_backward(m.m_scopes.size(), false);
  for (const Call& c : m.m_calls) {
    if (c.is_backward) {
      const ScopeId fn = enclosing_function(c.scope);
      const auto idx = static_cast<size_t>(fn == kNone ? 0 : fn);
      has_backward[idx] = true;
      last_backward[idx] = std::max(last_backward[idx], ts_node_start_byte(c.node));
    }
  }
  // A pass that runs the micro-batches of one batch through backward (`for mb in range(0,
  // args.mini_batch_size, args.micro_batch_size):`, gradient accumulation) is one optimizer step:
  // the loop around that inner loop steps once per pass.
  for (const Loop& inner : m.m_loops) {
    if (inner.parent == kNone || inner.kind != LoopKind::For || !inner.backprops || null(inner.iterable)) {
      continue;
    }
    const TSNode it = unparen(inner.iterable);
    if (ts_node_symbol(it) == g.sym.call && text(field(it, g.field.function)) == "range" && chunks_one_batch(it)) {
      direct_step_work[static_cast<size_t>(inner.parent)] = true;
    }
  }
  for (size_t li = 0; li < count; ++li) {
    Loop& l = m.m_loops[li];
    if (l.kind == LoopKind::Comprehension) {
      continue;
    }
    const std::string_view iter_text = null(l.iterable) ? std::string_view() : text(l.iterable);
    bool target_is_phase = false;
    for (const std::string& t : l.targets) {
      target_is_phase |= names::is_phase_name(t);
    }
    bool iterable_is_steps = false;
    bool chunk_loop = false;
    if (l.kind == LoopKind::While) {
      iterable_is_steps = names::is_step_count_name(iter_text);
    } else if (!null(l.iterable)) {
      TSNode it = unparen(l.iterable);
      std::string_view method;
      if (ts_node_symbol(it) == g.sym.call) {
        method = last_name(field(it, g.field.function));
      }
      if (walks_no_data(method)) {
        iterable_is_steps = false;
      } else if (method == "range" || method == "trange") {
        iterable_is_steps =
            (names::is_step_count_name(iter_text) && !counts_within_one_batch(it)) || walks_a_dataset(it, l.scope);
        chunk_loop = method == "range" && chunks_one_batch(it);
      } else {
        iterable_is_steps = names::is_loader_name(iter_text) && !names::is_setting_of_a_run(iter_text) &&
                            !walks_one_batch(*this, l.iterable);
      }
    }
    const bool iterable_is_phase = names::is_phase_name(iter_text);
    l.iterates_data = iterable_is_steps;
    const ScopeId fn = enclosing_function(l.scope);
    const auto fn_index = static_cast<size_t>(fn == kNone ? 0 : fn);
    if (!l.backprops && has_backward[fn_index] && last_backward[fn_index] >= l.body_end) {
      l.is_step = false;
      l.is_phase = false;
      continue;
    }
    // A loop inside a module's forward that runs no backward (over layers, heads, or micro-batches
    // of the one batch it was given) is part of that forward: the caller's step owns it.
    // A micro-batch loop that back-propagates and steps (gradient accumulation done per chunk)
    // is still a training step.
    if ((chunk_loop && !direct_step_work[li]) || (!l.backprops && fn != kNone && is_module_forward(fn))) {
      l.is_step = false;
      l.is_phase = false;
      continue;
    }
    if (is_retry_loop(l)) {
      l.is_step = false;
      l.is_phase = true;
      continue;
    }
    l.is_step =
        direct_step_work[li] || (iterable_is_steps && !target_is_phase && !iterable_is_phase && !nested_loop[li]);
    l.is_phase = !l.is_step && (target_is_phase || iterable_is_phase || calls_phase_work[li] || nested_loop[li]);
  }
}

LoopId Model::Impl::outlived_loop(std::string_view key, ScopeId scope, LoopId loop, std::uint32_t at) const {
  if (loop == kNone) {
    return kNone;
  }
  const Loop& l = m.m_loops[static_cast<size_t>(loop)];
  if (l.kind == LoopKind::Comprehension) {
    return kNone;
  }
  if (key.starts_with("self.")) {
    return loop;
  }
  // A name bound afresh earlier in the same iteration does not outlive it.
  const ScopeId fn_scope = l.scope;
  const auto& table = scope_names[static_cast<size_t>(fn_scope)];
  auto it = table.find(std::string(key));
  if (it != table.end()) {
    for (BindingId id : it->second) {
      const Binding& b = bindings[static_cast<size_t>(id)];
      const bool fresh_kind = b.kind == BindingKind::Assign || b.kind == BindingKind::WithTarget ||
                              b.kind == BindingKind::Walrus || b.kind == BindingKind::ForTarget;
      if (!fresh_kind) {
        continue;
      }
      if (b.kind == BindingKind::ForTarget && b.loop == loop) {
        return kNone;
      }
      if (b.stmt_start >= l.body_start && b.stmt_start < at) {
        return kNone;
      }
    }
  }
  (void)scope;
  return loop;
}

bool Model::Impl::iterates_model_output(const Loop& l) const {
  if (l.kind != LoopKind::For || null(l.iterable)) {
    return false;
  }
  return eval(l.iterable, l.scope, 0).kind == Kind::ModelOutput;
}

// A store inside a loop over one batch's items (`for det in outputs:`) outlives the step loop
// around it too when the container is not re-created in that step: the innermost enclosing step
// or phase loop that the container outlives is the one it grows across.
LoopId Model::Impl::outlived_step_loop(std::string_view key, ScopeId scope, LoopId loop, std::uint32_t at) const {
  LoopId l = outlived_loop(key, scope, loop, at);
  while (l != kNone) {
    const Loop& lp = m.m_loops[static_cast<size_t>(l)];
    if (lp.is_step || lp.is_phase || lp.parent == kNone || !iterates_model_output(lp)) {
      return l;
    }
    if (outlived_loop(key, scope, lp.parent, at) != lp.parent) {
      return l;
    }
    l = lp.parent;
  }
  return l;
}

// `log_step(history, loss)` whose body does `history.append(loss)` with both its parameters: the
// store happens at the call, into the caller's container, with the caller's value.
void Model::Impl::add_stores_through_helpers() {
  std::unordered_map<ScopeId, std::vector<std::pair<size_t, size_t>>> through; // (container, value) indices
  for (const Store& st : store_candidates) {
    if (st.kind != StoreKind::Append || st.loop != kNone || enclosing_function(st.scope) != st.scope) {
      continue;
    }
    const TSNode container = unparen(st.container);
    const TSNode value = unparen(st.value);
    if (ts_node_symbol(container) != g.sym.identifier || ts_node_symbol(value) != g.sym.identifier) {
      continue;
    }
    const std::vector<std::string_view> params = positional_parameters(st.scope);
    const auto index = [&](std::string_view name) {
      return static_cast<size_t>(std::find(params.begin(), params.end(), name) - params.begin());
    };
    const size_t ci = index(text(container));
    const size_t vi = index(text(value));
    if (ci < params.size() && vi < params.size() && ci != vi) {
      through[st.scope].emplace_back(ci, vi);
    }
  }
  if (through.empty()) {
    return;
  }
  std::vector<Store> at_calls;
  for (const Call& c : m.m_calls) {
    if (c.loop == kNone || c.is_method_call() || c.has_star_args()) {
      continue;
    }
    const auto it = through.find(local_callee(c.function, c.scope));
    if (it == through.end()) {
      continue;
    }
    for (const auto& [ci, vi] : it->second) {
      const auto container = c.positional(ci);
      const auto value = c.positional(vi);
      if (container && value && ts_node_symbol(unparen(*container)) == g.sym.identifier) {
        at_calls.push_back(Store{StoreKind::Append, c.node, *container, *value, {}, c.scope, c.loop, false});
      }
    }
  }
  store_candidates.insert(store_candidates.end(), at_calls.begin(), at_calls.end());
}

// A function's positional parameters, in order, up to `*args`.
std::vector<BindingId> Model::Impl::positional_parameter_bindings(ScopeId fn) const {
  std::vector<std::pair<std::uint32_t, BindingId>> found;
  for (size_t i = 0; i < bindings.size(); ++i) {
    if (bindings[i].kind == BindingKind::Parameter && bindings[i].scope == fn) {
      found.emplace_back(bindings[i].stmt_start, static_cast<BindingId>(i));
    }
  }
  std::sort(found.begin(), found.end());
  const std::string_view source = m.m_source.text();
  std::vector<BindingId> out;
  for (const auto& [start, id] : found) {
    if (start < source.size() && source[start] == '*') {
      break;
    }
    out.push_back(id);
  }
  return out;
}

std::vector<std::string_view> Model::Impl::positional_parameters(ScopeId fn) const {
  std::vector<std::string_view> names;
  for (BindingId id : positional_parameter_bindings(fn)) {
    names.push_back(bindings[static_cast<size_t>(id)].name);
  }
  return names;
}

void Model::Impl::finish_accumulations_and_stores() {
  add_stores_through_helpers();
  auto root_key = [&](TSNode n) {
    n = unparen(n);
    int guard = 0;
    while (!null(n) && ts_node_symbol(n) == g.sym.subscript && guard++ < 32) {
      n = unparen(field(n, g.field.value));
    }
    return dotted(n);
  };
  auto owner_allows_step_scope = [&](ScopeId scope, std::string_view key, std::uint32_t at) {
    const ScopeId fn = enclosing_function(scope);
    if (fn == kNone) {
      return false;
    }
    const Scope& sc = m.m_scopes[static_cast<size_t>(fn)];
    const Binding* module_level = key.find('.') == std::string_view::npos ? lookup(key, scope, at) : nullptr;
    const bool outlives_call = key.starts_with("self.") || sc.globals.count(std::string(key)) != 0 ||
                               (module_level != nullptr && module_level->scope == 0);
    return sc.facts.per_step_method && outlives_call;
  };
  for (Accumulation a : accumulation_candidates) {
    a.target_key = root_key(a.target);
    if (a.target_key.empty()) {
      continue;
    }
    const std::uint32_t at = ts_node_start_byte(a.statement);
    if (!a.named_as_meter && !built_by_a_meter_class(a.target_key, a.scope, at)) {
      continue; // `config.update(...)`, `seen.update(...)`: a dict's or a set's update
    }
    a.grad_disabled = disabled_at(at, a.scope);
    LoopId outlived = outlived_loop(a.target_key, a.scope, a.loop, at);
    if (outlived == kNone && !(a.loop == kNone && owner_allows_step_scope(a.scope, a.target_key, at))) {
      continue;
    }
    // A loop over heads, layers or a dict's items inside one step: the sum dies with the step,
    // unless it is a keyed container that outlives the step loop around as well (`for k, v in
    // losses.items(): meters[k] += v`); a plain sum over levels is a loss term of the step.
    const bool keyed = ts_node_symbol(unparen(a.target)) == g.sym.subscript;
    while (outlived != kNone && keyed && !m.m_loops[static_cast<size_t>(outlived)].is_step &&
           !m.m_loops[static_cast<size_t>(outlived)].is_phase) {
      const LoopId parent = m.m_loops[static_cast<size_t>(outlived)].parent;
      outlived = parent != kNone && outlived_loop(a.target_key, a.scope, parent, at) == parent ? parent : kNone;
      if (outlived == kNone) {
        break;
      }
    }
    if (outlived == kNone && a.loop != kNone) {
      continue;
    }
    if (outlived != kNone && !m.m_loops[static_cast<size_t>(outlived)].is_step &&
        !m.m_loops[static_cast<size_t>(outlived)].is_phase) {
      continue;
    }
    a.loop = outlived;
    m.m_accumulations.push_back(a);
  }
  for (Store s : store_candidates) {
    s.container_key = root_key(s.container);
    if (s.container_key.empty() || s.container_key == "self") {
      continue;
    }
    const std::uint32_t at = ts_node_start_byte(s.statement);
    s.grad_disabled = disabled_at(at, s.scope);
    const LoopId outlived = outlived_step_loop(s.container_key, s.scope, s.loop, at);
    if (outlived == kNone && !(s.loop == kNone && owner_allows_step_scope(s.scope, s.container_key, at))) {
      continue;
    }
    if (outlived != kNone && !m.m_loops[static_cast<size_t>(outlived)].is_step &&
        !m.m_loops[static_cast<size_t>(outlived)].is_phase) {
      continue;
    }
    s.loop = outlived;
    m.m_stores.push_back(s);
  }
}

// `losses = AverageMeter("Loss")`: a name bound, where it is used, to an object of a class whose
// name says meter.
bool Model::Impl::built_by_a_meter_class(const std::string& name, ScopeId scope, std::uint32_t at) const {
  const Binding* b = lookup(name, scope, at);
  if (b == nullptr || b->kind != BindingKind::Assign || b->element >= 0 || null(b->value)) {
    return false;
  }
  const TSNode value = unparen(b->value);
  if (ts_node_symbol(value) != g.sym.call) {
    return false;
  }
  const TSNode callee = unparen(field(value, g.field.function));
  const TSSymbol s = ts_node_symbol(callee);
  return (s == g.sym.identifier || s == g.sym.attribute) && names::is_meter_name(last_name(callee));
}

// Calls are recorded in document order: the ones inside [start, end) are a contiguous run.
std::pair<size_t, size_t> Model::Impl::calls_in(std::uint32_t start, std::uint32_t end) const {
  auto first = std::lower_bound(m.m_calls.begin(), m.m_calls.end(), start,
                                [](const Call& c, std::uint32_t b) { return ts_node_start_byte(c.node) < b; });
  auto last = std::lower_bound(first, m.m_calls.end(), end,
                               [](const Call& c, std::uint32_t b) { return ts_node_start_byte(c.node) < b; });
  return {static_cast<size_t>(first - m.m_calls.begin()), static_cast<size_t>(last - m.m_calls.begin())};
}

// Something in [start, end) of `fn` trains: a backward, an optimizer step, a need for gradients.
bool Model::Impl::training_signal_in(ScopeId fn, std::uint32_t start, std::uint32_t end) const {
  for (auto p = std::lower_bound(needs_grad_points.begin(), needs_grad_points.end(), start);
       p != needs_grad_points.end() && *p < end; ++p) {
    if (m.function_at(*p) == fn) {
      return true;
    }
  }
  const auto [first, last] = calls_in(start, end);
  for (size_t i = first; i < last; ++i) {
    const Call& c = m.m_calls[i];
    if (enclosing_function(c.scope) != fn) {
      continue;
    }
    if (c.is_backward || (c.method == "step" && !null(c.receiver) && names::is_optimizer_name(text(c.receiver)))) {
      return true;
    }
    const ScopeId callee = local_callee(c.function, c.scope);
    if (callee != kNone) {
      const FunctionFacts& f = m.m_scopes[static_cast<size_t>(callee)].facts;
      if (f.backprops || f.needs_grad || f.steps_optimizer) {
        return true;
      }
    }
  }
  return false;
}

// A method nothing here calls whose results other modules of the run back-propagate
// (`self.policy.evaluate_actions(...)` in a PPO update): a training forward named for evaluation.
bool Model::Impl::trained_by_other_modules(const Scope& sc) const {
  return sc.class_scope != kNone && sc.facts.call_sites == 0 && project != nullptr && project->facts != nullptr &&
         project->facts->method_trained_by_name(sc.name);
}

void Model::Impl::collect_forwards(EvalRegion& r, ScopeId fn) const {
  const auto [first, last] = calls_in(r.start, r.end);
  for (size_t i = first; i < last; ++i) {
    const Call& c = m.m_calls[i];
    if (!c.grad_disabled && enclosing_function(c.scope) == fn && (c.is_forward || runs_a_forward_for_its_caller(c)) &&
        !forward_of_a_frozen_module(unparen(c.function), ts_node_start_byte(c.node)) && !runs_patched_parts(c, fn)) {
      r.forward_calls.push_back(i);
    }
  }
}

// `monkeypatch.setattr(self.attn.indexer, "forward", fake)`, `mock.patch.object(attention,
// "flash_decode", side_effect=...)` in the same function: a test that stubs parts of the module
// it calls runs no real forward of it.
bool Model::Impl::runs_patched_parts(const Call& c, ScopeId fn) const {
  const std::string_view module = text(c.is_method_call() && c.method == "forward" ? c.receiver : c.function);
  if (fn == kNone || module.empty()) {
    return false;
  }
  const Scope& sc = m.m_scopes[static_cast<size_t>(fn)];
  const auto [first, last] = calls_in(ts_node_start_byte(sc.body), ts_node_end_byte(sc.body));
  for (size_t i = first; i < last; ++i) {
    const Call& p = m.m_calls[i];
    const bool patches = (p.method == "setattr" && !null(p.receiver) && text(p.receiver) == "monkeypatch") ||
                         (p.method == "object" && !null(p.receiver) && last_name(p.receiver) == "patch");
    const auto target = patches ? p.positional(0) : std::nullopt;
    if (!target) {
      continue;
    }
    const std::string_view patched = text(*target);
    if (patched == module ||
        (patched.starts_with(module) && patched.size() > module.size() && patched[module.size()] == '.')) {
      return true;
    }
  }
  return false;
}

// `pred, true = self._process_one_batch(batch_x, batch_y)`: a method of this class (or a
// function of this file) that runs a model's forward and returns its result, with autograd
// left to its caller, and trains nothing, runs that forward under the caller's grad mode.
bool Model::Impl::runs_a_forward_for_its_caller(const Call& c) const {
  const ScopeId callee = local_callee(c.function, c.scope);
  if (callee == kNone || callee == enclosing_function(c.scope)) {
    return false;
  }
  const Scope& sc = m.m_scopes[static_cast<size_t>(callee)];
  if (sc.facts.grad_disabled || sc.facts.backprops || sc.facts.needs_grad || sc.facts.steps_optimizer) {
    return false;
  }
  const auto [first, last] = calls_in(ts_node_start_byte(sc.body), ts_node_end_byte(sc.body));
  for (size_t i = first; i < last; ++i) {
    const Call& inner = m.m_calls[i];
    if (!inner.is_forward || inner.grad_disabled || enclosing_function(inner.scope) != callee ||
        forward_of_a_frozen_module(unparen(inner.function), ts_node_start_byte(inner.node)) ||
        calls_a_parameter_free_layer(inner) || passes_a_module_with_nothing_to_train(c, callee, inner)) {
      continue;
    }
    // The helper computes outputs for its caller: the forward's result is what it returns.
    const Model::Receiver to = m.receiver_of(inner.node);
    // `return model(x)` (the receiver of a return is the function itself), or a name it returns.
    if (to.consumer == sc.name || to.bound_name == sc.name ||
        (!to.bound_name.empty() && returned_from(to.bound_name, callee, 0, 1))) {
      return true;
    }
  }
  return false;
}

// `similarity(a, b, scorer)` with `def similarity(a, b, net): return net(a, b)`: the module the
// helper runs is the argument this call passes, here one with nothing to train (no parameters
// of its own, or only layers that freeze themselves).
bool Model::Impl::passes_a_module_with_nothing_to_train(const Call& c, ScopeId callee, const Call& inner) const {
  const TSNode module = unparen(inner.function);
  if (null(module) || ts_node_symbol(module) != g.sym.identifier) {
    return false;
  }
  const std::vector<BindingId> params = positional_parameter_bindings(callee);
  const size_t skip = c.is_method_call() && !params.empty() && bindings[static_cast<size_t>(params[0])].name == "self";
  for (size_t k = skip; k < params.size(); ++k) {
    if (bindings[static_cast<size_t>(params[k])].name != text(module)) {
      continue;
    }
    const auto arg = c.positional(k - skip);
    const ModuleClass cls = arg ? class_of_module(*arg, c.scope, 0) : ModuleClass{};
    if (cls.scope != kNone) {
      return class_holds_no_parameters(cls.scope) || m.m_scopes[static_cast<size_t>(cls.scope)].facts.freezes_itself;
    }
    const FunctionSummary* f = cls.qualified.empty() ? nullptr : project_function(cls.qualified);
    return f != nullptr && f->module_class && (f->parameter_free || f->frozen_class);
  }
  return false;
}

// Calls through `self` that base classes in other modules make of a method they leave to their
// subclasses (`BaseTrainer.validate` calling `self.validate_on_batch(b)` under `no_grad`).
ProjectFacts::Incoming Model::Impl::incoming_from_bases(const Scope& method) const {
  ProjectFacts::Incoming total;
  std::vector<std::string> bases;
  add_external_bases(method.class_scope, *project, bases);
  for (const std::string& base : bases) {
    const ProjectFacts::Incoming in = project->facts->incoming(base + "." + method.name);
    total.sites += in.sites;
    total.disabled += in.disabled;
  }
  return total;
}

// `values, log_probs, entropy = self.policy.evaluate_actions(obs, actions)` whose results make
// the loss this function back-propagates: the call is part of training, whatever its name says.
// `loss, metrics = train_step(batch); accelerator.backward(loss)`: what the function computes is
// back-propagated by a caller, so it is training code whatever modules it puts in eval mode.
bool Model::Impl::result_back_propagated_by_a_caller(ScopeId fn) const {
  if (fn == kNone || static_cast<size_t>(fn) >= edges_by_callee.size()) {
    return false;
  }
  return std::any_of(edges_by_callee[static_cast<size_t>(fn)].begin(), edges_by_callee[static_cast<size_t>(fn)].end(),
                     [&](size_t e) { return result_flows_into_backward(m.m_calls[edges[e].call]); });
}

bool Model::Impl::result_flows_into_backward(const Call& c) const {
  const ScopeId fn = enclosing_function(c.scope);
  if (fn == kNone || !m.m_scopes[static_cast<size_t>(fn)].facts.backprops) {
    return false;
  }
  const TSNode parent = ts_node_parent(c.node);
  if (null(parent) || ts_node_symbol(parent) != g.sym.assignment) {
    return false;
  }
  const TSNode left = field(parent, g.field.left);
  auto reaches = [&](TSNode target) {
    return ts_node_symbol(target) == g.sym.identifier && flows_into_backward(text(target), fn, 5);
  };
  if (ts_node_symbol(left) == g.sym.pattern_list || ts_node_symbol(left) == g.sym.tuple_pattern) {
    for (uint32_t i = 0; i < ts_node_named_child_count(left); ++i) {
      if (reaches(ts_node_named_child(left, i))) {
        return true;
      }
    }
    return false;
  }
  return reaches(left);
}

// `extra = model(x2).mean(); loss = loss + extra; loss.backward()`: `extra` reaches a backward
// through the names assigned from it (followed `depth` assignments deep).
bool Model::Impl::flows_into_backward(std::string_view name, ScopeId owner, int depth) const {
  const Scope& sc = m.m_scopes[static_cast<size_t>(owner)];
  if (sc.backprop_names.count(std::string(name)) != 0) {
    return true;
  }
  if (depth <= 0) {
    return false;
  }
  return any_binding_computed_from(name, owner, 0,
                                   [&](const Binding& b) { return flows_into_backward(b.name, owner, depth - 1); });
}

namespace {

bool is_number_literal(const syntax::Grammar& g, TSNode n) {
  const TSSymbol s = ts_node_symbol(n);
  return s == g.sym.integer || s == g.sym.float_;
}

} // namespace

// `loss = pi_loss + 0.5 * v_loss - 0.01 * ent`: the names added (or scaled by a constant and
// added) into the expression. A name multiplied by another name (a weight) is not a term.
void Model::Impl::additive_terms(TSNode expr, std::vector<std::string_view>& out, int depth) const {
  expr = unparen(expr);
  if (null(expr) || depth > 32) {
    return;
  }
  const TSSymbol s = ts_node_symbol(expr);
  if (s == g.sym.identifier) {
    out.push_back(text(expr));
    return;
  }
  if (s == g.sym.unary_operator) {
    additive_terms(field(expr, g.field.argument), out, depth + 1);
    return;
  }
  if (s != g.sym.binary_operator) {
    return;
  }
  const std::string_view op = text(field(expr, g.field.operator_));
  const TSNode left = unparen(field(expr, g.field.left));
  const TSNode right = unparen(field(expr, g.field.right));
  if (op == "+" || op == "-") {
    additive_terms(left, out, depth + 1);
    additive_terms(right, out, depth + 1);
  } else if (op == "*" && !null(left) && is_number_literal(g, left)) {
    additive_terms(right, out, depth + 1);
  } else if ((op == "*" || op == "/") && !null(right) && is_number_literal(g, right)) {
    additive_terms(left, out, depth + 1);
  }
}

// A name summed into a loss that is back-propagated here: a term of a loss has a graph (a
// constant term would have no gradient and no reason to be there).
bool Model::Impl::is_term_of_backpropagated_loss(std::string_view name, ScopeId owner) const {
  const Scope& sc = m.m_scopes[static_cast<size_t>(owner)];
  for (const std::string& loss : sc.backprop_names) {
    auto it = scope_names[static_cast<size_t>(owner)].find(loss);
    if (it == scope_names[static_cast<size_t>(owner)].end()) {
      continue;
    }
    for (BindingId id : it->second) {
      const Binding& b = bindings[static_cast<size_t>(id)];
      if (b.kind != BindingKind::Assign || b.element >= 0 || null(b.value)) {
        continue;
      }
      std::vector<std::string_view> terms;
      additive_terms(b.value, terms, 0);
      if (terms.size() >= 2 && std::find(terms.begin(), terms.end(), name) != terms.end() && name != loss) {
        return true;
      }
    }
  }
  return false;
}

const std::unordered_map<std::string_view, std::vector<BindingId>>& Model::Impl::mentions_in(ScopeId owner) const {
  if (mention_index.size() < scope_names.size()) {
    mention_index.resize(scope_names.size());
  }
  auto& slot = mention_index[static_cast<size_t>(owner)];
  if (slot) {
    return *slot;
  }
  slot.emplace();
  const auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  for (const auto& [bound, ids] : scope_names[static_cast<size_t>(owner)]) {
    for (BindingId id : ids) {
      const Binding& b = bindings[static_cast<size_t>(id)];
      if (null(b.value)) {
        continue;
      }
      const std::string_view value = text(b.value);
      for (size_t i = 0; i < value.size();) {
        if (!word(value[i])) {
          ++i;
          continue;
        }
        size_t end = i;
        while (end < value.size() && word(value[end])) {
          ++end;
        }
        if (i == 0 || value[i - 1] != '.') {
          std::vector<BindingId>& list = (*slot)[value.substr(i, end - i)];
          if (list.empty() || list.back() != id) {
            list.push_back(id);
          }
        }
        i = end;
      }
    }
  }
  return *slot;
}

// Looked up by the name's first word in an index of what each binding's value mentions, so that
// a loop with thousands of statements is not scanned once per question.
bool Model::Impl::any_binding_computed_from(std::string_view name, ScopeId owner, std::uint32_t after,
                                            const std::function<bool(const Binding&)>& test) const {
  const auto& index = mentions_in(owner);
  const auto it = index.find(name.substr(0, name.find('.')));
  if (it == index.end()) {
    return false;
  }
  for (BindingId id : it->second) {
    const Binding& b = bindings[static_cast<size_t>(id)];
    if (b.name != name && b.stmt_start >= after && mentions_identifier(text(b.value), name) && test(b)) {
      return true;
    }
  }
  return false;
}

bool Model::Impl::returned_from(std::string_view name, ScopeId owner, std::uint32_t after, int depth) const {
  const Scope& sc = m.m_scopes[static_cast<size_t>(owner)];
  for (TSNode r : sc.returns) {
    if (!null(r) && ts_node_start_byte(r) >= after && mentions_identifier(text(r), name)) {
      return true;
    }
  }
  if (depth <= 0) {
    return false;
  }
  // `total = torch.stack(terms).mean()` then `return w * total`: `terms` is returned through `total`.
  return any_binding_computed_from(
      name, owner, after, [&](const Binding& b) { return returned_from(b.name, owner, b.stmt_start, depth - 1); });
}

bool Model::Impl::is_module_forward(ScopeId fn) const {
  const Scope& sc = m.m_scopes[static_cast<size_t>(fn)];
  return names::is_forward_method(sc.name) || (sc.name == "__call__" && class_is_module_like(sc.class_scope));
}

// `def get_model_fn(model): def model_fn(x): ...; return model_fn`: whoever receives the closure
// calls it, under a grad mode this file does not show.
bool Model::Impl::escapes_as_a_closure(ScopeId fn) const {
  const Scope& sc = m.m_scopes[static_cast<size_t>(fn)];
  const ScopeId parent = sc.parent == kNone ? kNone : enclosing_function(sc.parent);
  return parent != kNone && parent != fn && returned_from(sc.name, parent, 0, 0);
}

bool Model::Impl::iterates_a_range(const Loop& l) const {
  const TSNode it = unparen(l.iterable);
  return l.kind == LoopKind::For && !null(it) && ts_node_symbol(it) == g.sym.call &&
         text(field(it, g.field.function)) == "range";
}

bool Model::feeds_its_output_back(LoopId loop_id) const {
  if (loop_id == kNone) {
    return false;
  }
  const auto& g = m_impl->g;
  const Loop& l = loop(loop_id);
  const std::string_view body = source().text().substr(l.body_start, l.body_end - l.body_start);
  for (const Store& st : m_stores) {
    if (st.loop == loop_id && !st.container_key.empty() &&
        body.find(st.container_key + "[-1]") != std::string_view::npos) {
      return true; // `inp = frames[-1]`: the last output is the next input
    }
  }
  bool recurrent = false;
  for (const Binding& b : bindings()) {
    if (b.loop != loop_id || b.kind != BindingKind::Assign || ts_node_is_null(b.value) ||
        ts_node_symbol(b.value) != g.sym.call) {
      continue;
    }
    const TSNode args = m_impl->field(b.value, g.field.arguments);
    if (!ts_node_is_null(args) && mentions_identifier(text(args), b.name)) {
      recurrent = true; // `h = cell(x, h)`
      break;
    }
  }
  if (!recurrent) {
    return false;
  }
  return m_impl->loop_breaks(l);
}

// `tokens.append(next_token)` then `hidden, cache = decode(next_token)` in a loop that stops at an
// end token: what is kept is the next step's input, the sequence being generated.
bool Model::feeds_what_it_keeps(const Store& st) const {
  const auto& g = m_impl->g;
  if (st.loop == kNone || ts_node_is_null(st.value) || ts_node_symbol(st.value) != g.sym.identifier) {
    return false;
  }
  const std::string_view kept = text(st.value);
  const bool fed_back = std::any_of(bindings().begin(), bindings().end(), [&](const Binding& b) {
    if (b.loop != st.loop || b.kind != BindingKind::Assign || ts_node_is_null(b.value) ||
        ts_node_symbol(b.value) != g.sym.call || b.stmt_start < ts_node_end_byte(st.statement)) {
      return false;
    }
    const TSNode args = m_impl->field(b.value, g.field.arguments);
    return !ts_node_is_null(args) && mentions_identifier(text(args), kept);
  });
  if (!fed_back) {
    return false;
  }
  return m_impl->loop_breaks(loop(st.loop));
}

// A sampler's trajectory: `for i in range(steps): ...; z = z - dt * v; images.append(z)`. The
// loop counts solver steps, not data, and the kept value is the state each step rebinds from
// itself: the list holds one state per step and is bounded by the step count.
bool Model::keeps_the_state_it_integrates(const Store& st) const {
  const auto& g = m_impl->g;
  if (st.loop == kNone || ts_node_is_null(st.value) || ts_node_symbol(st.value) != g.sym.identifier) {
    return false;
  }
  const Loop& l = loop(st.loop);
  TSNode it = m_impl->unparen(l.iterable);
  for (int guard = 0; guard < 3 && !ts_node_is_null(it) && ts_node_symbol(it) == g.sym.call; ++guard) {
    const std::string_view fn = m_impl->last_name(m_impl->field(it, g.field.function));
    if (fn == "range") {
      break;
    }
    const TSNode args = m_impl->field(it, g.field.arguments);
    if ((fn != "reversed" && fn != "tqdm" && fn != "enumerate") || ts_node_is_null(args) ||
        ts_node_named_child_count(args) == 0) {
      return false;
    }
    it = m_impl->unparen(ts_node_named_child(args, 0));
  }
  if (ts_node_is_null(it) || ts_node_symbol(it) != g.sym.call ||
      m_impl->last_name(m_impl->field(it, g.field.function)) != "range") {
    return false;
  }
  // A range over the dataset's length, or a pass that draws its own batch, walks the data.
  if (m_impl->walks_a_dataset(it, l.scope)) {
    return false;
  }
  for (auto [i, end] = m_impl->calls_in(l.body_start, l.body_end); i < end; ++i) {
    if (m_calls[i].loop == st.loop && m_impl->draws_a_batch(m_calls[i])) {
      return false;
    }
  }
  const auto rebinds_itself = [&](const Binding& b) {
    return b.loop == st.loop &&
           (b.kind == BindingKind::AugAssign || (b.kind == BindingKind::Assign && b.has_value() && b.element == -1 &&
                                                 mentions_identifier(text(b.value), b.name)));
  };
  const std::string_view kept = text(st.value);
  // The state itself (`z = z - dt * v`), or arithmetic on it (`x = z - t * v`, the step's
  // prediction); not a model's output for it (`logits = model(idx)`, a decoder's per-token rows).
  return std::any_of(bindings().begin(), bindings().end(), [&](const Binding& b) {
    if (b.loop != st.loop || b.name != kept || b.stmt_start >= ts_node_start_byte(st.statement)) {
      return false;
    }
    if (rebinds_itself(b)) {
      return true;
    }
    return b.kind == BindingKind::Assign && b.has_value() && b.element == -1 &&
           ts_node_symbol(m_impl->unparen(b.value)) == g.sym.binary_operator &&
           std::any_of(bindings().begin(), bindings().end(), [&](const Binding& carried) {
             return rebinds_itself(carried) && carried.name != kept && mentions_identifier(text(b.value), carried.name);
           });
  });
}

// A `break` in the loop's own body (not in a function defined there): it stops at a condition.
bool Model::Impl::loop_breaks(const Loop& l) const {
  bool stops = false;
  syntax::walk_named(l.node, [&](TSNode n) {
    stops = stops || ts_node_symbol(n) == g.sym.break_statement;
    return !stops && ts_node_symbol(n) != g.sym.function_definition;
  });
  return stops;
}

bool Model::Impl::has_callers(ScopeId fn) const {
  return fn != kNone && static_cast<size_t>(fn) < edges_by_callee.size() &&
         !edges_by_callee[static_cast<size_t>(fn)].empty();
}

bool Model::Impl::result_back_propagated_by_caller(ScopeId fn, int depth) const {
  constexpr int kMaxDepth = 4;
  if (fn == kNone || static_cast<size_t>(fn) >= edges_by_callee.size() || depth >= kMaxDepth) {
    return false;
  }
  for (size_t e : edges_by_callee[static_cast<size_t>(fn)]) {
    const ScopeId caller = edges[e].caller;
    if (caller == kNone || caller == fn) {
      continue;
    }
    const FunctionFacts& facts = m.m_scopes[static_cast<size_t>(caller)].facts;
    // A module's forward hands what it computes to the step that called the module.
    if (facts.backprops || facts.needs_grad || is_module_forward(caller) ||
        result_back_propagated_by_caller(caller, depth + 1)) {
      return true;
    }
  }
  return false;
}

bool Model::Impl::in_periodic_guard(std::uint32_t at) const {
  return std::any_of(periodic_guards.begin(), periodic_guards.end(),
                     [&](const ByteRange& guard) { return guard.contains(at); });
}

// `sample_images(...)` called only under `if step % N == 0`: a sampling pass every N steps.
bool Model::Impl::called_only_periodically(ScopeId fn) const {
  const auto& incoming = edges_by_callee[static_cast<size_t>(fn)];
  return !incoming.empty() &&
         std::all_of(incoming.begin(), incoming.end(), [&](size_t e) { return in_periodic_guard(edges[e].at); });
}

// `if i % 100 == 0: fake = netG(fixed_noise)` inside a step loop: a forward run every N steps to
// sample or log, whose result no backward uses, keeps its graph until it is rebound.
void Model::Impl::find_periodic_sampling() {
  for (const ByteRange& guard : periodic_guards) {
    const ScopeId scope = m.scope_at(guard.start);
    const LoopId loop = m.loop_at(guard.start, scope);
    const ScopeId fn = enclosing_function(scope);
    if (loop == kNone || !m.m_loops[static_cast<size_t>(loop)].is_step ||
        training_signal_in(fn, guard.start, guard.end)) {
      continue;
    }
    EvalRegion r;
    r.scope = fn == kNone ? 0 : fn;
    r.start = guard.start;
    r.end = guard.end;
    r.reason = "it runs every N steps to sample or log, and no backward uses it";
    collect_forwards(r, fn);
    const std::uint32_t iteration_end = m.m_loops[static_cast<size_t>(loop)].body_end;
    std::erase_if(r.forward_calls, [&](size_t i) {
      // A forward whose result a later backward of the same iteration uses is training, even
      // under the guard.
      const std::uint32_t after = ts_node_end_byte(m.m_calls[i].node);
      const std::string_view bound = m.receiver_of(m.m_calls[i].node).bound_name;
      return !bound.empty() && training_signal_in(fn, after, iteration_end) &&
             flows_into_backward(bound, owner_scope(scope), 3);
    });
    if (!r.forward_calls.empty()) {
      r.anchor = m.m_calls[r.forward_calls.front()].node;
      m.m_eval_regions.push_back(std::move(r));
    }
  }
}

void Model::Impl::find_eval_regions() {
  if (foreign_framework) {
    return; // a JAX or TensorFlow file: its calls are not torch forwards
  }
  std::vector<bool> function_has_step_loop(m.m_scopes.size(), false);
  for (const Loop& l : m.m_loops) {
    const ScopeId fn = enclosing_function(l.scope);
    if (fn != kNone && l.is_step) {
      function_has_step_loop[static_cast<size_t>(fn)] = true;
    }
  }
  // A loss for a backward elsewhere (`def training_loss(self, batch): output = self.predict(batch)`,
  // `def actor_loss(self, td): self.qvalue.eval(); q = self.qvalue(td)`): what it runs is for training.
  auto computes_a_loss = [&](const Scope& sc) {
    bool eval_named = false;
    return sc.facts.loss_for_caller ||
           (names::is_loss_name(sc.name, options) && !names::is_eval_function_name(sc.name, eval_named));
  };
  // `def actor_loss(self, td): self.qvalue.eval(); ...; return loss`: a loss its callers
  // back-propagate (a test named for a loss that returns nothing is not one).
  auto returns_a_loss = [&](ScopeId fn) {
    const Scope& sc = m.m_scopes[static_cast<size_t>(fn)];
    return computes_a_loss(sc) && !is_test_function(fn) &&
           std::any_of(sc.returns.begin(), sc.returns.end(),
                       [&](TSNode r) { return !null(r) && ts_node_symbol(unparen(r)) != g.sym.none; });
  };
  // A model class's `def predict(self, x): self.net.eval(); return self.net(x)` that only other
  // modules call: like a module's own `predict`, its callers choose the grad mode; so do a
  // closure, a framework's validation hook, a module's forward, and a loss for a backward.
  auto grad_mode_chosen_elsewhere = [&](ScopeId fn) {
    return m.m_scopes[static_cast<size_t>(fn)].facts.grad_disabled || escapes_as_a_closure(fn) ||
           overrides_a_validation_hook(fn) || m.grad_mode_left_to_callers(fn) || forward_of_a_module_class(fn) ||
           returns_a_loss(fn) || result_back_propagated_by_a_caller(fn);
  };
  auto called_from_training = [&](ScopeId fn) {
    for (size_t e : edges_by_callee[static_cast<size_t>(fn)]) {
      const ScopeId caller = edges[e].caller;
      if (caller == kNone) {
        continue;
      }
      const Scope& caller_scope = m.m_scopes[static_cast<size_t>(caller)];
      const FunctionFacts& f = caller_scope.facts;
      // A call every N steps from a training loop samples or logs; it is not the training.
      if ((f.backprops || f.steps_optimizer || computes_a_loss(caller_scope)) &&
          !disabled_at(edges[e].at, m.scope_at(edges[e].at)) && !in_periodic_guard(edges[e].at)) {
        return true;
      }
      // `def forward(self, batch): return _infer_with_heads(batch, ...)`: the body of a module's
      // forward, which training runs as much as evaluation does.
      if (is_module_forward(caller) && class_is_module_like(caller_scope.class_scope) &&
          !disabled_at(edges[e].at, m.scope_at(edges[e].at))) {
        return true;
      }
    }
    return false;
  };
  std::vector<bool> function_switches_to_eval(m.m_scopes.size(), false);
  for (const ModeSwitch& s : mode_switches) {
    const ScopeId fn = enclosing_function(s.scope);
    if (fn != kNone && s.to_eval) {
      function_switches_to_eval[static_cast<size_t>(fn)] = true;
    }
  }
  std::vector<bool> covered(m.m_scopes.size(), false);
  for (size_t i = 0; i < m.m_scopes.size(); ++i) {
    const Scope& sc = m.m_scopes[i];
    if (sc.kind != ScopeKind::Function || sc.facts.grad_disabled || null(sc.body)) {
      continue;
    }
    bool needs_loop = false;
    if (!names::is_eval_function_name(sc.name, needs_loop)) {
      continue;
    }
    // `def render_rays(...): def inference(...)`: a nested helper's name says what it does for the
    // function around it, whose own callers (a training step) choose the grad mode.
    const ScopeId outer = sc.parent == kNone ? kNone : enclosing_function(sc.parent);
    bool outer_needs_loop = false;
    if (outer != kNone &&
        !names::is_eval_function_name(m.m_scopes[static_cast<size_t>(outer)].name, outer_needs_loop)) {
      continue;
    }
    if (needs_loop && !function_has_step_loop[i] && !function_switches_to_eval[i] &&
        !called_only_periodically(static_cast<ScopeId>(i))) {
      continue;
    }
    // A module's own `predict`/`generate` method defines computation; its callers decide the
    // grad mode. And a helper that training code also calls is not evaluation-only.
    // A plain nn.Module's `validation_step` is evaluation by its name, whoever calls it.
    const bool own_eval_step = names::is_framework_eval_step(sc.name) && sc.class_scope != kNone &&
                               class_is_plain_torch_module(sc.class_scope);
    if ((class_is_module_like(sc.class_scope) && !own_eval_step) || called_from_training(static_cast<ScopeId>(i)) ||
        overrides_a_validation_hook(static_cast<ScopeId>(i)) || trained_by_other_modules(sc)) {
      continue;
    }
    const auto fn = static_cast<ScopeId>(i);
    const std::uint32_t start = ts_node_start_byte(sc.body);
    const std::uint32_t end = ts_node_end_byte(sc.body);
    if (sc.facts.needs_grad || sc.facts.backprops || sc.facts.steps_optimizer || sc.facts.calls_train_mode ||
        training_signal_in(fn, start, end)) {
      continue;
    }
    EvalRegion r;
    r.scope = fn;
    r.start = start;
    r.end = end;
    r.anchor = field(sc.node, g.field.name);
    r.whole_function = true;
    r.reason = "`" + sc.name + "` is evaluation code";
    collect_forwards(r, fn);
    if (!r.forward_calls.empty()) {
      covered[i] = true;
      m.m_eval_regions.push_back(std::move(r));
    }
  }
  for (const ModeSwitch& s : mode_switches) {
    if (!s.to_eval) {
      continue;
    }
    const ScopeId fn = enclosing_function(s.scope);
    if (fn != kNone && covered[static_cast<size_t>(fn)]) {
      continue;
    }
    if (fn != kNone && grad_mode_chosen_elsewhere(fn)) {
      continue;
    }
    const std::uint32_t start = ts_node_end_byte(s.statement);
    std::uint32_t end = std::max(start, s.block_end);
    for (const ModeSwitch& t : mode_switches) {
      const std::uint32_t at = ts_node_start_byte(t.statement);
      if (!t.to_eval && at > start && at < end && enclosing_function(t.scope) == fn) {
        end = at;
      }
    }
    if (training_signal_in(fn, start, end)) {
      continue; // model.eval() to freeze BatchNorm while training goes on
    }
    add_eval_region(fn, ByteRange{start, end}, s.call, "it runs after `" + std::string(text(s.call)) + "`", covered);
  }
  find_evaluation_loops(covered, grad_mode_chosen_elsewhere);
  find_periodic_sampling();
  find_inference_script();
  drop_helpers_reported_in_their_own_region();
}

// `enumerate(val_loader)`, or `pbar` where `pbar = tqdm(test_dataloader)`: the data a loop walks,
// through the wrappers that count or show its progress.
bool Model::Impl::iterates_evaluation_data(const Loop& l) const {
  TSNode it = unparen(l.iterable);
  for (int guard = 0; guard < 4 && !null(it); ++guard) {
    if (names::names_evaluation_data(text(it))) {
      return true;
    }
    if (ts_node_symbol(it) == g.sym.identifier) {
      const Binding* b = lookup(text(it), l.scope, ts_node_start_byte(it));
      it = b != nullptr && b->kind == BindingKind::Assign && b->element == -1 ? unparen(b->value) : TSNode{};
      continue;
    }
    const std::string_view wrapper = ts_node_symbol(it) == g.sym.call ? last_name(field(it, g.field.function)) : "";
    const TSNode args =
        wrapper == "tqdm" || wrapper == "enumerate" || wrapper == "iter" ? field(it, g.field.arguments) : TSNode{};
    it = null(args) || ts_node_named_child_count(args) == 0 ? TSNode{} : unparen(ts_node_named_child(args, 0));
  }
  return false;
}

// `for step, inputs in enumerate(validation_dataloader): logits = model(inputs)` with no backward
// in the loop: evaluation that nothing else marks (no `model.eval()`, no evaluation name).
void Model::Impl::find_evaluation_loops(std::vector<bool>& covered,
                                        const std::function<bool(ScopeId)>& grad_mode_chosen_elsewhere) {
  for (const Loop& l : m.m_loops) {
    if (l.kind != LoopKind::For || null(l.iterable) || l.backprops || !iterates_evaluation_data(l)) {
      continue;
    }
    const ScopeId fn = enclosing_function(l.scope);
    if (fn != kNone && (covered[static_cast<size_t>(fn)] || grad_mode_chosen_elsewhere(fn))) {
      continue;
    }
    if (training_signal_in(fn, l.body_start, l.body_end)) {
      continue;
    }
    add_eval_region(fn, ByteRange{l.body_start, l.body_end}, l.iterable,
                    "it loops over `" + std::string(text(l.iterable)) + "` and runs no backward", covered);
  }
}

// A region of `fn` (kNone: the module) that runs forwards with autograd on: kept, and the function
// marked covered, when it has any.
void Model::Impl::add_eval_region(ScopeId fn, ByteRange span, TSNode anchor, std::string reason,
                                  std::vector<bool>& covered) {
  EvalRegion r;
  r.scope = fn == kNone ? 0 : fn;
  r.start = span.start;
  r.end = span.end;
  r.anchor = anchor;
  r.reason = std::move(reason);
  collect_forwards(r, fn);
  if (!r.forward_calls.empty()) {
    if (fn != kNone) {
      covered[static_cast<size_t>(fn)] = true;
    }
    m.m_eval_regions.push_back(std::move(r));
  }
}

bool Model::Impl::file_trains() const {
  if (!needs_grad_points.empty()) {
    return true;
  }
  for (const Scope& sc : m.m_scopes) {
    if (sc.facts.backprops || sc.facts.steps_optimizer || sc.facts.needs_grad || sc.facts.calls_train_mode) {
      return true;
    }
  }
  return std::any_of(m.m_calls.begin(), m.m_calls.end(), [&](const Call& c) {
    return c.is_backward || (!c.qualified.empty() && c.qualified.starts_with("torch.optim.")) ||
           (c.method == "step" && !null(c.receiver) && names::is_optimizer_name(text(c.receiver))) ||
           c.method == "train" || c.qualified == "torch.autograd.grad";
  });
}

void Model::Impl::find_inference_script() {
  // `if __name__ == "__main__":` directly in the module.
  TSNode main_block{};
  syntax::for_each_named_child(m.m_scopes[0].node, [&](TSNode n) {
    if (ts_node_symbol(n) == g.sym.if_statement) {
      const std::string_view cond = text(field(n, g.field.condition));
      if (cond.find("__name__") != std::string_view::npos && cond.find("__main__") != std::string_view::npos) {
        main_block = field(n, g.field.consequence);
      }
    }
    return true;
  });
  if (file_trains()) {
    return;
  }
  // The models trained weights come into (`g.load_state_dict(ckpt)`, `model = torch.load(path)`,
  // `model = torch.hub.load(repo, name)`, `model = GPT2LMHeadModel.from_pretrained(name)`): calling
  // one of them is a trained model's inference. Anything else called here may be a tokenizer, a
  // pipeline or a constructor.
  // By function and name: `model` restored inside a factory is not the script's `model`.
  std::set<std::pair<ScopeId, std::string_view>> restored;
  for (const Call& c : m.m_calls) {
    if (c.method == "load_state_dict" && !null(c.receiver)) {
      restored.emplace(enclosing_function(c.scope), text(c.receiver));
    }
  }
  for (const Binding& b : m.bindings()) {
    if (b.kind != BindingKind::Assign || null(b.value) || b.element != -1 || ts_node_symbol(b.value) != g.sym.call) {
      continue;
    }
    const TSNode fn = field(b.value, g.field.function);
    const std::string_view callee = text(fn);
    const std::string_view owner =
        ts_node_symbol(fn) == g.sym.attribute ? last_name(field(fn, g.field.object)) : std::string_view();
    const bool model_class =
        owner.find("Model") != std::string_view::npos || owner.find("For") != std::string_view::npos;
    // Resolving every call-valued binding of every file is work on the hot path: `load` first.
    // `torch.hub.load(repo, name)` and `torch.jit.load(path)` hand back a trained module as well.
    std::string loader;
    if (last_name(fn) == "load") {
      loader = resolve_qualified(fn, b.scope);
    }
    const bool torch_load = loader == "torch.load" || loader == "torch.hub.load" || loader == "torch.jit.load";
    if (torch_load || (callee.ends_with(".from_pretrained") && model_class)) {
      restored.emplace(enclosing_function(b.scope), b.name);
    }
  }
  if (restored.empty()) {
    return;
  }
  const std::string reason = "a script that restores trained weights and trains nothing";
  // The module-level functions the block calls, and those they call in turn.
  std::vector<ScopeId> called;
  auto follow_calls_in = [&](ScopeId caller, std::uint32_t start, std::uint32_t end) {
    const auto [first, last] = calls_in(start, end);
    for (size_t i = first; i < last; ++i) {
      const Call& c = m.m_calls[i];
      const ScopeId callee = local_callee(c.function, c.scope);
      // `if config.test_model: test_step(model)`: a check the user turns on is not the program.
      if (callee == kNone || enclosing_function(c.scope) != caller ||
          m.m_scopes[static_cast<size_t>(callee)].parent != 0 ||
          m.m_scopes[static_cast<size_t>(callee)].class_scope != kNone || m.option_guarded(c.node, c.loop)) {
        continue;
      }
      if (std::find(called.begin(), called.end(), callee) == called.end()) {
        called.push_back(callee);
      }
      // `test_net(save_folder, net, ...)` with the restored `net`: the parameter that receives it
      // holds the trained model inside the function (its parameters looked up only then).
      std::vector<BindingId> params;
      for (size_t k = 0; c.positional(k); ++k) {
        if (restored.count({caller, text(*c.positional(k))}) == 0) {
          continue;
        }
        if (params.empty()) {
          params = positional_parameter_bindings(callee);
        }
        if (k < params.size()) {
          restored.emplace(callee, bindings[static_cast<size_t>(params[k])].name);
        }
      }
    }
  };
  if (!null(main_block)) {
    follow_calls_in(kNone, ts_node_start_byte(main_block), ts_node_end_byte(main_block));
  }
  for (size_t next = 0; next < called.size() && next < 16; ++next) {
    const Scope& sc = m.m_scopes[static_cast<size_t>(called[next])];
    follow_calls_in(called[next], ts_node_start_byte(sc.body), ts_node_end_byte(sc.body));
  }
  auto add_region = [&](ScopeId fn, std::uint32_t start, std::uint32_t end, TSNode anchor) {
    if (fn != kNone && (m.m_scopes[static_cast<size_t>(fn)].facts.grad_disabled || in_eval_region_of(fn))) {
      return;
    }
    EvalRegion r;
    r.scope = fn == kNone ? 0 : fn;
    r.start = start;
    r.end = end;
    r.anchor = anchor;
    r.whole_function = fn != kNone;
    r.reason = reason;
    const auto [first_call, last_call] = calls_in(start, end);
    for (size_t i = first_call; i < last_call; ++i) {
      const Call& c = m.m_calls[i];
      if (!c.grad_disabled && enclosing_function(c.scope) == fn && restored.count({fn, text(c.function)}) != 0 &&
          !forward_of_a_frozen_module(unparen(c.function), ts_node_start_byte(c.node)) &&
          !calls_a_grad_disabled_method(c)) {
        r.forward_calls.push_back(i);
      }
    }
    if (!r.forward_calls.empty()) {
      m.m_eval_regions.push_back(std::move(r));
    }
  };
  // A script without the guard runs its module-level code as the program.
  const TSNode program = null(main_block) ? m.m_scopes[0].node : main_block;
  add_region(kNone, ts_node_start_byte(program), ts_node_end_byte(program),
             null(main_block) ? program : ts_node_parent(main_block));
  for (const ScopeId fn : called) {
    const Scope& sc = m.m_scopes[static_cast<size_t>(fn)];
    add_region(fn, ts_node_start_byte(sc.body), ts_node_end_byte(sc.body), field(sc.node, g.field.name));
  }
}

bool Model::Impl::in_eval_region_of(ScopeId fn) const {
  return std::any_of(m.m_eval_regions.begin(), m.m_eval_regions.end(),
                     [&](const EvalRegion& r) { return r.scope == fn; });
}

// A helper that is evaluation code itself has its forwards reported there: its call sites add
// nothing (and a region left with no forward is no region).
void Model::Impl::drop_helpers_reported_in_their_own_region() {
  std::unordered_set<ScopeId> own;
  for (const EvalRegion& r : m.m_eval_regions) {
    for (size_t i : r.forward_calls) {
      if (m.m_calls[i].is_forward) {
        own.insert(enclosing_function(m.m_calls[i].scope));
      }
    }
  }
  for (EvalRegion& r : m.m_eval_regions) {
    std::erase_if(r.forward_calls, [&](size_t i) {
      const Call& c = m.m_calls[i];
      return !c.is_forward && own.count(local_callee(c.function, c.scope)) != 0;
    });
  }
  std::erase_if(m.m_eval_regions,
                [&](const EvalRegion& r) { return r.forward_calls.empty() || uncalled_test_helper(r.scope); });
}

} // namespace oomlint::model
