#include "analyzer/model/model.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>

#include "analyzer/model/model_impl.hpp"
#include "analyzer/support/strings.hpp"
#include "analyzer/syntax/parser.hpp"
#include "analyzer/syntax/walk.hpp"

namespace oomlint::model {

Model::Model(const SourceFile& source, TSNode root, const ModelOptions& options, std::optional<SyntaxProblem> problem,
             const ProjectContext* project)
    : m_source(source), m_impl(std::make_unique<Impl>(*this, options)) {
  m_impl->project = project;
  m_impl->build(root);
  if (problem) {
    m_syntax_problem = problem;
  }
  m_impl->index_for_queries();
  m_impl->analyse();
}

Model::~Model() = default;

std::string_view Model::text(TSNode node) const {
  return syntax::node_text(node, m_source.text());
}

std::string Model::qualified_name(TSNode expr) const {
  return m_impl->resolve_qualified(expr, scope_at(ts_node_start_byte(expr)));
}

std::optional<std::string> Model::import_alias(std::string_view module) const {
  for (const Binding& b : m_impl->bindings) {
    if (b.kind == BindingKind::Import && b.scope == 0 && b.qualified == module) {
      return b.name;
    }
  }
  return std::nullopt;
}

namespace {

// Names every module and tensor answers to (`forward`, `eval`, `to`, `size`, dunders): a call by
// one of them says nothing about which method runs, so none links the run's names.
bool names_no_method_in_particular(std::string_view name) {
  static constexpr std::array<std::string_view, 17> kGeneric = {
      "forward", "eval", "train", "to",  "cuda",   "cpu",  "size",  "view",    "item",
      "float",   "half", "apply", "get", "update", "step", "model", "backward"};
  return name.empty() || name.starts_with("__") || std::find(kGeneric.begin(), kGeneric.end(), name) != kGeneric.end();
}

} // namespace

// `policy.predict_action(obs)` on a parameter or attribute of no known class (the caller has found
// none), calling no function of this file: a call site, by name, of whichever class of the run
// defines the method.
bool Model::is_untyped_method_call(const Call& c) const {
  if (!c.is_method_call() || !c.qualified.empty() || names_no_method_in_particular(c.method)) {
    return false;
  }
  const ScopeId callee = m_impl->local_callee(c.function, c.scope);
  if (text(c.receiver).starts_with("super(")) {
    return false; // `super().sample(...)`: the base class's method, not any class's of that name
  }
  return text(c.receiver) != "self" && callee == kNone;
}

// `self.validate_on_batch(batch)` in a base class that leaves the method to its subclasses (no
// definition here, or `raise NotImplementedError`): a call site of `module.Base.validate_on_batch`,
// which subclasses in other modules override.
void Model::add_call_left_to_subclasses(const Call& c, const std::string& module, ModuleSummary& out) const {
  if (!c.is_method_call() || text(c.receiver) != "self") {
    return;
  }
  const ScopeId fn = m_impl->enclosing_function(c.scope);
  const ScopeId cls = fn == kNone ? kNone : m_scopes[static_cast<size_t>(fn)].class_scope;
  if (cls == kNone || m_scopes[static_cast<size_t>(cls)].parent != 0) {
    return;
  }
  // A method defined here runs here; a subclass elsewhere that overrides it is still called from
  // this site (Dassl's `test()` under `no_grad` calling `self.model_inference(x)`), but what that
  // override does changes nothing in this module, so only a call left to subclasses is per-step
  // work for this module's second look.
  const ScopeId callee = m_impl->local_callee(c.function, c.scope);
  const bool left_to_subclasses = callee == kNone || m_impl->is_stub(callee);
  for (size_t i = 1; i < m_scopes.size(); ++i) {
    const Scope& sub = m_scopes[i];
    if (sub.kind != ScopeKind::Class || sub.parent != 0 || !m_impl->derives_here_from(static_cast<ScopeId>(i), cls)) {
      continue;
    }
    out.external_calls.push_back(CallSite{module + "." + sub.name + "." + std::string(c.method), c.grad_disabled,
                                          left_to_subclasses && c.loop != kNone});
  }
}

// Which functions and methods take gradients themselves (`torch.autograd.grad`, `enable_grad`: a
// guidance step inside a sampler), and which method names each calls on an object: the run's
// facts close the first over the second.
void Model::summarize_calls_by_name(ModuleSummary& out) const {
  std::vector<bool> takes(m_scopes.size(), false);
  std::map<ScopeId, std::vector<std::uint64_t>> calls;
  for (const Call& c : m_calls) {
    const ScopeId fn = m_impl->enclosing_function(c.scope);
    if (c.qualified == "torch.autograd.grad" || c.qualified == "torch.enable_grad" ||
        c.qualified == "torch.autograd.enable_grad") {
      if (fn != kNone) {
        takes[static_cast<size_t>(fn)] = true;
      }
      continue;
    }
    if (!c.is_method_call() || names_no_method_in_particular(c.method) ||
        (fn != kNone && names_no_method_in_particular(m_scopes[static_cast<size_t>(fn)].name))) {
      continue;
    }
    std::vector<std::uint64_t>& names = calls[fn];
    const std::uint64_t key = name_key(c.method);
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      names.push_back(key);
    }
  }
  for (size_t i = 1; i < m_scopes.size(); ++i) {
    if (takes[i] && !names_no_method_in_particular(m_scopes[i].name)) {
      out.grad_taking.push_back(name_key(m_scopes[i].name));
    }
  }
  for (auto& [fn, names] : calls) {
    const std::string_view caller =
        fn == kNone ? std::string_view() : std::string_view(m_scopes[static_cast<size_t>(fn)].name);
    out.calls_by_name.emplace_back(name_key(caller), std::move(names));
  }
}

ModuleSummary Model::summarize(const ProjectContext& project) const {
  ModuleSummary out;
  out.module = project.module;
  for (size_t i = 1; i < m_scopes.size(); ++i) {
    const Scope& sc = m_scopes[i];
    if (sc.parent != 0) {
      continue;
    }
    FunctionSummary f;
    if (sc.kind == ScopeKind::Class) {
      f.module_class = m_impl->class_is_module_like(static_cast<ScopeId>(i));
      if (!f.module_class) {
        m_impl->add_external_bases(static_cast<ScopeId>(i), project, out.external_bases);
      }
      const ScopeId call = f.module_class ? kNone : m_impl->method_of(static_cast<ScopeId>(i), "__call__");
      if (call != kNone) {
        f = m_impl->returns_summary(call);
        f.callable_class = true;
      }
      out.grad_disabled_methods[sc.name] = m_impl->grad_disabled_methods(static_cast<ScopeId>(i));
      if (f.module_class) {
        // A trainer module whose `forward` back-propagates and returns `loss.item()`: its callers get a number.
        const ScopeId forward = m_impl->method_of(static_cast<ScopeId>(i), "forward");
        const FunctionSummary r = forward == kNone ? FunctionSummary{} : m_impl->returns_summary(forward);
        if (r.returns == Grad::No && r.returns_kind == Kind::Number && r.elements.empty()) {
          f.returns = Grad::No;
          f.returns_kind = Kind::Number;
        }
        f.may_return_a_number = forward != kNone && m_impl->returns_a_number_somewhere(forward, 0);
        f.parameter_free = m_impl->class_holds_no_parameters(static_cast<ScopeId>(i));
        f.frozen_class = sc.facts.freezes_itself;
      }
      f.plain_class = !f.module_class && !f.callable_class && m_impl->derives_from_nothing(static_cast<ScopeId>(i));
      if (!f.plain_class && !f.callable_class &&
          !m_impl->derives_only_from_the_run(static_cast<ScopeId>(i), project, f.bases_elsewhere)) {
        f.bases_elsewhere.clear();
      }
      if (f.module_class || f.callable_class || f.plain_class || !f.bases_elsewhere.empty()) {
        out.functions[sc.name] = f;
      }
      continue;
    }
    if (sc.kind != ScopeKind::Function) {
      continue;
    }
    f = m_impl->returns_summary(static_cast<ScopeId>(i));
    f.grad_disabled = sc.facts.grad_disabled;
    f.backprops = sc.facts.backprops;
    f.steps_optimizer = sc.facts.steps_optimizer;
    f.needs_grad = sc.facts.needs_grad;
    f.per_step_method = sc.facts.per_step_method;
    f.empties_cache = sc.facts.empties_cache;
    f.has_loop = static_cast<size_t>(i) < m_impl->function_has_loop.size() && m_impl->function_has_loop[i];
    if (sc.facts.returned_class_scope != kNone) {
      const Scope& cls = m_scopes[static_cast<size_t>(sc.facts.returned_class_scope)];
      f.returns_instance_of = cls.parent == 0 ? project.module + "." + cls.name : std::string();
    } else {
      f.returns_instance_of = sc.facts.returned_class;
    }
    out.functions[sc.name] = f;
  }
  std::map<std::uint64_t, std::pair<int, int>> untyped; // method name -> sites, grad-disabled ones
  std::set<std::uint64_t> trained;                      // eval-named methods whose results are back-propagated
  for (const Call& c : m_calls) {
    // `agent.act(x)` on `agent = Agent()` of another module is a use of that class here: what
    // the class is (an nn.Module) decides what `act` returns.
    const std::string target = c.qualified.empty() ? m_impl->class_of_instance(c) : c.qualified;
    if (target.empty()) {
      if (is_untyped_method_call(c)) {
        auto& [sites, disabled] = untyped[name_key(c.method)];
        ++sites;
        disabled += c.grad_disabled ? 1 : 0;
      }
    }
    if (c.is_method_call() && !c.grad_disabled) {
      if (names::names_an_evaluation_of_inputs(c.method) && m_impl->local_callee(c.function, c.scope) == kNone &&
          m_impl->result_flows_into_backward(c)) {
        trained.insert(name_key(c.method));
      }
    }
    add_call_left_to_subclasses(c, project.module, out);
    if (target.empty()) {
      continue;
    }
    const std::string root = target.substr(0, target.find('.'));
    if (!project.is_local_root(root) || target.starts_with(project.module + ".")) {
      continue;
    }
    // A call in a per-step method runs once per step, like one in a loop.
    const ScopeId fn = m_impl->enclosing_function(c.scope);
    const bool per_step = fn != kNone && m_scopes[static_cast<size_t>(fn)].facts.per_step_method;
    out.external_calls.push_back(CallSite{target, c.grad_disabled, c.loop != kNone || per_step});
    if (c.qualified.empty() && c.is_method_call()) {
      // `solver = DPM_Solver(...)` then `solver.sample(x)`: a call site of that class's method too.
      out.external_calls.push_back(
          CallSite{target + "." + std::string(c.method), c.grad_disabled, c.loop != kNone || per_step});
    }
  }
  out.untyped_method_calls.assign(untyped.begin(), untyped.end());
  out.trained_method_names.assign(trained.begin(), trained.end());
  // `def __init__(self, model: Transformer)`: what that class's methods do decides its calls here.
  for (const Binding& b : m_impl->bindings) {
    if (b.kind != BindingKind::Parameter || ts_node_is_null(b.annotation)) {
      continue;
    }
    TSNode type = b.annotation;
    if (ts_node_symbol(type) == m_impl->g.sym.type && ts_node_named_child_count(type) == 1) {
      type = ts_node_named_child(type, 0);
    }
    const std::string target = m_impl->resolve_qualified(type, b.scope);
    const std::string root = target.substr(0, target.find('.'));
    if (!target.empty() && project.is_local_root(root) && !target.starts_with(project.module + ".")) {
      out.external_calls.push_back(CallSite{target, false, false});
    }
  }
  for (size_t i = 1; i < m_scopes.size(); ++i) {
    const Scope& sc = m_scopes[i];
    if (sc.kind == ScopeKind::Function && sc.class_scope != kNone && sc.parent == sc.class_scope &&
        m_scopes[static_cast<size_t>(sc.class_scope)].parent == 0 && sc.facts.call_sites == 0 &&
        !sc.facts.grad_disabled) {
      out.uncalled_methods.push_back(m_scopes[static_cast<size_t>(sc.class_scope)].name + "." + sc.name);
    }
  }
  if (project.is_package) {
    m_impl->summarize_reexports(project, out);
  }
  summarize_calls_by_name(out);
  out.value_sensitive = !m_accumulations.empty() || !m_stores.empty();
  for (const Loop& l : m_loops) {
    out.value_sensitive = out.value_sensitive || l.is_step;
  }
  out.loop_sensitive = !m_impl->accumulation_candidates.empty() || !m_impl->store_candidates.empty();
  for (const Call& c : m_calls) {
    if (out.loop_sensitive) {
      break;
    }
    out.loop_sensitive = c.method == "empty_cache" || c.method == "backward";
  }
  // Per-step methods matter when they keep something on `self.` or in a global (OOM103, OOM106).
  for (const Binding& b : m_impl->bindings) {
    if (out.value_sensitive) {
      break;
    }
    if (b.kind == BindingKind::Assign && (b.name.starts_with("self.") || b.scope != 0)) {
      const ScopeId fn = function_at(b.stmt_start);
      const bool kept =
          b.name.starts_with("self.") || (fn != kNone && m_scopes[static_cast<size_t>(fn)].globals.count(b.name) != 0);
      out.value_sensitive = kept && fn != kNone && m_scopes[static_cast<size_t>(fn)].facts.per_step_method &&
                            m_scopes[static_cast<size_t>(fn)].name != "__init__";
    }
  }
  return out;
}

const std::vector<Binding>& Model::bindings() const {
  return m_impl->bindings;
}

Value Model::binding_value(BindingId id) const {
  return m_impl->eval_binding(id, 0);
}

ScopeId Model::callee_scope(TSNode function_expr) const {
  return m_impl->local_callee(function_expr, scope_at(ts_node_start_byte(function_expr)));
}

ScopeId Model::scope_of_node(TSNode definition) const {
  auto it = std::lower_bound(m_scopes.begin() + 1, m_scopes.end(), ts_node_start_byte(definition),
                             [](const Scope& s, std::uint32_t b) { return ts_node_start_byte(s.node) < b; });
  for (; it != m_scopes.end() && ts_node_start_byte(it->node) == ts_node_start_byte(definition); ++it) {
    if (it->node.id == definition.id) {
      return static_cast<ScopeId>(std::distance(m_scopes.begin(), it));
    }
  }
  return kNone;
}

Value Model::value_of(TSNode expr) const {
  if (m_impl->foreign_framework) {
    return Value::unknown();
  }
  return m_impl->eval(expr, scope_at(ts_node_start_byte(expr)), 0);
}

namespace {

// The callee of a call's text, shortened for a note: `criterion` in `criterion(out, y)`.
std::string callee_text(std::string_view call) {
  std::string_view callee = call.substr(0, std::min(call.find('('), call.size()));
  std::string out(callee.substr(0, 40));
  if (callee.size() > 40) {
    out += "...";
  }
  return out;
}

std::string short_code(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 60)) {
    out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  return text.size() > 60 ? out + "..." : out;
}

} // namespace

Model::Receiver Model::receiver_of(TSNode expr) const {
  const auto& g = m_impl->g;
  TSNode n = expr;
  for (int guard = 0; guard < 8; ++guard) {
    TSNode parent = ts_node_parent(n);
    if (ts_node_is_null(parent)) {
      break;
    }
    const TSSymbol s = ts_node_symbol(parent);
    if (s == g.sym.argument_list) {
      TSNode call = ts_node_parent(parent);
      return Receiver{{},
                      ts_node_is_null(call) ? std::string_view{}
                                            : m_impl->last_name(ts_node_child_by_field_id(call, g.field.function))};
    }
    if (s == g.sym.return_statement) {
      const ScopeId fn = function_at(ts_node_start_byte(parent));
      return Receiver{fn == kNone ? std::string_view{} : std::string_view(scope(fn).name), {}};
    }
    if (s == g.sym.assignment) {
      TSNode left = ts_node_child_by_field_id(parent, g.field.left);
      const TSSymbol ls = ts_node_symbol(left);
      if (ls == g.sym.identifier || ls == g.sym.attribute) {
        return Receiver{m_impl->last_name(left), {}};
      }
      break;
    }
    // `torch.load(p)["model"]`, `model(x).mean()`: still the value, through a method chain.
    const bool chained_call = s == g.sym.call && ts_node_eq(ts_node_child_by_field_id(parent, g.field.function), n);
    if (s != g.sym.subscript && s != g.sym.attribute && s != g.sym.parenthesized_expression && !chained_call) {
      break;
    }
    n = parent;
  }
  return {};
}

bool Model::names_data_not_state(std::string_view name) {
  const auto words = identifier_words(name);
  static constexpr std::array<std::string_view, 16> kData = {
      "scaler",   "data",   "dataset",   "features", "labels",   "metadata", "meta", "vocab",
      "expected", "actual", "scheduler", "sampler",  "progress", "rng",      "seed", "dataloader"};
  return std::any_of(kData.begin(), kData.end(), [&](std::string_view w) { return words.contains(w); });
}

bool Model::is_checkpoint_name(std::string_view name) {
  if (names_data_not_state(name)) {
    return false;
  }
  const auto words = identifier_words(name);
  static constexpr std::array<std::string_view, 22> kState = {
      "checkpoint", "ckpt",     "state",  "sd",         "weights",   "weight",       "model",      "adapter",
      "adapters",   "lora",     "heads",  "embeddings", "embedding", "resume",       "pretrained", "optim",
      "optimizer",  "snapshot", "params", "net",        "generator", "discriminator"};
  for (std::string_view w : kState) {
    if (words.contains(w)) {
      return true;
    }
  }
  return false;
}

bool Model::names_an_object_used_as_loaded(std::string_view name) {
  const auto words = identifier_words(name);
  static constexpr std::array<std::string_view, 11> kState = {
      "state", "sd", "ckpt", "checkpoint", "weights", "weight", "dict", "snapshot", "resume", "optim", "optimizer"};
  for (std::string_view w : kState) {
    if (words.contains(w)) {
      return false;
    }
  }
  static constexpr std::array<std::string_view, 7> kObjects = {"model",     "net",        "generator", "discriminator",
                                                               "embedding", "embeddings", "heads"};
  return std::any_of(kObjects.begin(), kObjects.end(), [&](std::string_view w) { return words.contains(w); });
}

std::vector<Related> Model::evidence_of(const Value& value) const {
  std::vector<Related> notes;
  const bool graph = value.grad == Grad::Yes;
  for (std::size_t k = value.evidence_count; k-- > 0;) {
    const Evidence& e = value.evidence[k];
    const std::string_view text = m_source.text().substr(e.start, e.end - e.start);
    std::string message;
    switch (e.step) {
    case Step::Binding:
      message = fmt::format("`{}` is assigned here", short_code(text));
      break;
    case Step::Forward:
      message = graph ? fmt::format("`{}(...)` is a forward pass of a module, with autograd on", callee_text(text))
                      : fmt::format("`{}(...)` is a forward pass of a module (autograd is off here: no graph, but "
                                    "its outputs are on the model's device)",
                                    callee_text(text));
      break;
    case Step::Loss:
      message =
          fmt::format("`{}(...)` computes a loss, which holds the autograd graph of its inputs", callee_text(text));
      break;
    case Step::Helper:
      message = fmt::format("`{}(...)` returns a value that carries an autograd graph", callee_text(text));
      break;
    case Step::Output:
      message = fmt::format("`{}` comes from a model's output", short_code(text));
      break;
    case Step::Backprop:
      message = fmt::format("`{}` is back-propagated in this function, so it holds a graph", short_code(text));
      break;
    case Step::BackpropTerm:
      message = fmt::format("`{}` is a term of a loss that is back-propagated in this function, so it holds a graph",
                            short_code(text));
      break;
    case Step::Library:
      message = fmt::format("`{}`: {}", short_code(text), e.note != nullptr ? e.note : "a library fact");
      break;
    }
    notes.push_back(Related{e.start, e.end, std::move(message)});
  }
  return notes;
}

bool Model::grad_disabled_at(TSNode node) const {
  const std::uint32_t at = ts_node_start_byte(node);
  return m_impl->disabled_at(at, scope_at(at));
}

// Scopes and loops are recorded in document order and nest, so the innermost one holding a
// byte is found from the last one starting before it by walking outwards.
ScopeId Model::scope_at(std::uint32_t byte) const {
  auto it = std::upper_bound(m_scopes.begin() + 1, m_scopes.end(), byte,
                             [](std::uint32_t b, const Scope& s) { return b < ts_node_start_byte(s.node); });
  auto id = static_cast<ScopeId>(std::distance(m_scopes.begin(), it) - 1);
  while (id > 0) {
    const Scope& s = m_scopes[static_cast<size_t>(id)];
    if (byte < ts_node_end_byte(s.node)) {
      return id;
    }
    id = s.parent;
  }
  return 0;
}

LoopId Model::loop_at(std::uint32_t byte, ScopeId scope) const {
  const ScopeId fn = m_impl->enclosing_function(scope);
  auto it = std::upper_bound(m_loops.begin(), m_loops.end(), byte,
                             [](std::uint32_t b, const Loop& l) { return b < ts_node_start_byte(l.node); });
  auto id = static_cast<LoopId>(std::distance(m_loops.begin(), it) - 1);
  while (id != kNone) {
    const Loop& l = m_loops[static_cast<size_t>(id)];
    if (byte >= l.body_start && byte < l.body_end) {
      return m_impl->enclosing_function(l.scope) == fn ? id : kNone;
    }
    id = l.lexical_parent;
  }
  return kNone;
}

ScopeId Model::function_at(std::uint32_t byte) const {
  return m_impl->enclosing_function(scope_at(byte));
}

bool Model::runs_every_step(TSNode node, LoopId innermost_loop) const {
  if (innermost_loop == kNone) {
    const ScopeId fn = function_at(ts_node_start_byte(node));
    return fn != kNone && scope(fn).facts.per_step_method;
  }
  for (LoopId l = innermost_loop; l != kNone; l = loop(l).parent) {
    if (loop(l).is_step) {
      return true;
    }
  }
  return false;
}

bool Model::called_every_step(ScopeId fn) const {
  constexpr int kMaxDepth = 4;
  std::function<bool(ScopeId, int)> every_step = [&](ScopeId callee, int depth) {
    if (callee == kNone || static_cast<size_t>(callee) >= m_impl->edges_by_callee.size() || depth > kMaxDepth) {
      return false;
    }
    const auto& sites = m_impl->edges_by_callee[static_cast<size_t>(callee)];
    return !sites.empty() && std::all_of(sites.begin(), sites.end(), [&](size_t e) {
      const CallEdge& edge = m_impl->edges[e];
      if (edge.caller == callee) {
        return false; // recursion says nothing of steps
      }
      const auto [first, last] = m_impl->calls_in(edge.at, edge.at + 1);
      const Call* site = nullptr;
      for (size_t i = first; i < last && site == nullptr; ++i) {
        site = ts_node_start_byte(m_calls[i].node) == edge.at ? &m_calls[i] : nullptr;
      }
      if (site == nullptr || periodically_guarded(site->node, site->loop) || option_guarded(site->node, site->loop)) {
        return false;
      }
      for (LoopId l = site->loop; l != kNone; l = loop(l).parent) {
        if (loop(l).is_step) {
          return true;
        }
        if (loop(l).is_phase) {
          return false;
        }
      }
      return (edge.caller != kNone && scope(edge.caller).facts.per_step_method) || every_step(edge.caller, depth + 1);
    });
  };
  return every_step(fn, 0);
}

bool Model::only_clears_caches(ScopeId fn) const {
  const TSNode body = scope(fn).body;
  bool clears = false;
  for (auto [i, end] = m_impl->calls_in(ts_node_start_byte(body), ts_node_end_byte(body)); i < end; ++i) {
    const Call& c = m_calls[i];
    if (c.empties_cache) {
      clears = true;
    } else if (c.method != "collect" && c.method != "synchronize" && c.method != "ipc_collect" &&
               !c.method.starts_with("is_") && !c.method.ends_with("_available")) {
      return false; // a device check (`torch.backends.mps.is_available()`) is no work
    }
  }
  return clears;
}

bool Model::iteration_backprops(LoopId loop_id, ScopeId scope_id) const {
  if (loop_id != kNone) {
    return loop(loop_id).backprops;
  }
  const ScopeId fn = m_impl->enclosing_function(scope_id);
  if (fn == kNone) {
    return false;
  }
  const Scope& s = scope(fn);
  // Frameworks back-propagate what these return (Lightning, Hugging Face Trainer, a forward).
  return s.facts.backprops || s.name == "training_step" || s.name == "compute_loss" || s.name == "forward";
}

bool Model::recreated_every_step(LoopId loop_id) const {
  if (loop_id == kNone) {
    return false;
  }
  for (LoopId l = loop(loop_id).parent; l != kNone; l = loop(l).parent) {
    if (loop(l).is_step) {
      return true;
    }
  }
  return false;
}

bool Model::recreated_per_outer_pass(const Store& store) const {
  const LoopId loop_id = store.loop;
  if (loop_id == kNone) {
    return false;
  }
  const LoopId outer = loop(loop_id).parent;
  // `all_samples = []` before both loops: it outlives the outer pass too.
  if (outer == kNone ||
      m_impl->outlived_loop(store.container_key, store.scope, outer, ts_node_start_byte(store.statement)) == outer) {
    return false;
  }
  const Loop& o = loop(outer);
  for (const std::string& t : o.targets) {
    if (names::is_phase_name(t)) {
      return false;
    }
  }
  // `for path in paths: feats = [] / for x in loader_of(path): feats.append(net(x))`: the inner
  // loop walks a whole dataset, so the list grows with it whatever the outer loop does. So does
  // `for loader in loaders: ... for x in tqdm(loader)`.
  const Loop& inner = loop(loop_id);
  if (inner.kind == LoopKind::For && !ts_node_is_null(inner.iterable) && names::is_loader_name(text(inner.iterable))) {
    const bool outer_walks_data = !ts_node_is_null(o.iterable) && names::is_loader_name(text(o.iterable));
    const bool walks_the_outer_target = std::any_of(o.targets.begin(), o.targets.end(), [&](const std::string& t) {
      return mentions_identifier(text(inner.iterable), t);
    });
    if (!outer_walks_data || walks_the_outer_target) {
      return false;
    }
  }
  return ts_node_is_null(o.iterable) || !names::is_phase_name(text(o.iterable));
}

bool Model::counts_a_setting_of_its_module(LoopId loop_id) const {
  if (loop_id == kNone || !in_module_method(loop(loop_id).scope)) {
    return false;
  }
  const TSNode it = loop(loop_id).iterable;
  return !ts_node_is_null(it) && !names::is_loader_name(text(it));
}

bool Model::emptied_within_its_loop(const Store& store) const {
  if (store.loop == kNone || store.container_key.starts_with("self.")) {
    return false;
  }
  const Loop& l = loop(store.loop);
  const auto& table = m_impl->scope_names[static_cast<size_t>(l.scope)];
  if (const auto it = table.find(store.container_key); it != table.end()) {
    for (const BindingId id : it->second) {
      const Binding& b = m_impl->bindings[static_cast<size_t>(id)];
      if (b.kind == BindingKind::Assign && b.stmt_start >= l.body_start && b.stmt_start < l.body_end &&
          m_impl->is_empty_list_literal(m_impl->element_node(b))) {
        return true;
      }
    }
  }
  for (auto [i, end] = m_impl->calls_in(l.body_start, l.body_end); i < end; ++i) {
    const Call& c = m_calls[i];
    if (c.method == "clear" && c.is_method_call() && text(c.receiver) == store.container_key) {
      return true;
    }
  }
  return false;
}

bool Model::iterates_a_literal(LoopId loop_id) const {
  if (loop_id == kNone || loop(loop_id).kind == LoopKind::While) {
    return false;
  }
  const auto& g = m_impl->g;
  TSNode it = m_impl->unparen(loop(loop_id).iterable);
  if (ts_node_is_null(it)) {
    return false;
  }
  // `for prompt in EXAMPLE_PROMPTS[:n_test]`: a slice of what is iterated is no more.
  if (ts_node_symbol(it) == g.sym.subscript) {
    it = m_impl->unparen(ts_node_child_by_field_id(it, g.field.value));
  }
  const TSSymbol s = ts_node_symbol(it);
  if (s == g.sym.tuple || s == g.sym.list) {
    return true;
  }
  // `def tta(model, x, flips=(False, True)): for flip in flips:` -- a few views a call; a list of
  // the module's written out (`EXAMPLE_PROMPTS = ["a photo of <obj>", ...]`).
  if (s == g.sym.identifier) {
    const Binding* b = m_impl->lookup(text(it), loop(loop_id).scope, ts_node_start_byte(it));
    TSNode given{};
    if (b != nullptr && b->kind == BindingKind::Parameter) {
      given = m_impl->unparen(b->default_value);
    } else if (b != nullptr && b->kind == BindingKind::Assign && b->scope == 0 && b->element == -1 && b->has_value()) {
      given = m_impl->unparen(b->value);
    }
    return !ts_node_is_null(given) && (ts_node_symbol(given) == g.sym.tuple || ts_node_symbol(given) == g.sym.list);
  }
  if (s == g.sym.call && text(ts_node_child_by_field_id(it, g.field.function)) == "range") {
    TSNode args = ts_node_child_by_field_id(it, g.field.arguments);
    return !ts_node_is_null(args) && ts_node_named_child_count(args) == 1 &&
           ts_node_symbol(ts_node_named_child(args, 0)) == g.sym.integer;
  }
  return false;
}

bool Model::handed_to_unknown_code_after(std::string_view key, ScopeId scope_id, std::uint32_t after) const {
  if (may_be_used_as_tensor_after(key, scope_id, after)) {
    return true;
  }
  // Python's and NumPy's own reductions take numbers as well as tensors; anything else (a project's
  // `list_mean(losses)` feeding a meter that calls `.detach()`) may need tensors.
  static constexpr std::array<std::string_view, 16> kNumeric = {"sum",   "len", "min",   "max",       "sorted", "print",
                                                                "float", "int", "round", "enumerate", "zip",    "list",
                                                                "tuple", "str", "any",   "all"};
  const ScopeId owner = m_impl->owner_scope(scope_id);
  const std::uint32_t end =
      owner == 0 ? static_cast<std::uint32_t>(m_source.text().size()) : ts_node_end_byte(scope(owner).node);
  const auto [first, last] = m_impl->calls_in(after, end);
  for (size_t i = first; i < last; ++i) {
    const Call& c = m_calls[i];
    if (m_impl->owner_scope(c.scope) != owner || ts_node_is_null(c.arguments) ||
        !mentions_identifier(text(c.arguments), key)) {
      continue;
    }
    const bool numeric =
        (!c.is_method_call() && std::find(kNumeric.begin(), kNumeric.end(), c.method) != kNumeric.end()) ||
        c.qualified.starts_with("numpy.") || c.qualified.starts_with("statistics.") ||
        c.qualified.starts_with("math.") || c.method == "append" || c.method == "extend";
    if (!numeric) {
      return true;
    }
  }
  return false;
}

bool Model::may_be_used_as_tensor_after(std::string_view key, ScopeId scope_id, std::uint32_t after) const {
  if (key.find('.') != std::string_view::npos || key.find('[') != std::string_view::npos) {
    return true; // an attribute or an entry lives on: its later uses are not all in this function
  }
  const ScopeId owner = m_impl->owner_scope(scope_id);
  const Scope& owner_sc = scope(owner);
  const std::uint32_t end =
      owner == 0 ? static_cast<std::uint32_t>(m_source.text().size()) : ts_node_end_byte(owner_sc.node);
  const auto [first, last] = m_impl->calls_in(after, end);
  for (size_t i = first; i < last; ++i) {
    const Call& c = m_calls[i];
    if (m_impl->owner_scope(c.scope) != owner) {
      continue;
    }
    if (!ts_node_is_null(c.receiver) && mentions_identifier(text(c.receiver), key)) {
      return true; // `total.detach()`, `(total / n).item()`: a float has no such methods
    }
    const bool tensor_callee = c.qualified.starts_with("torch.") || c.method == "all_reduce" || c.method == "reduce" ||
                               c.method == "all_gather" || c.method == "gather" || c.method == "gather_for_metrics" ||
                               c.method == "backward" || c.method == "reduce_mean";
    if (tensor_callee && !ts_node_is_null(c.arguments) && mentions_identifier(text(c.arguments), key)) {
      return true;
    }
  }
  for (TSNode r : scope(owner).returns) {
    if (!ts_node_is_null(r) && ts_node_start_byte(r) >= after && mentions_identifier(text(r), key)) {
      return true; // the caller decides what it is
    }
  }
  return false;
}

bool Model::consumed_differentiably(std::string_view key, ScopeId scope_id, LoopId loop_id, std::uint32_t after) const {
  ScopeId owner = m_impl->enclosing_function(scope_id);
  if (owner == kNone) {
    owner = 0;
  }
  const Scope& s = scope(owner);
  // Back-propagated itself, or read back into a name that is (`loss = losses[i]` then
  // `accelerator.backward(loss)`: several forwards first, then one backward per stored loss).
  if (s.backprop_names.count(std::string(key)) != 0 || m_impl->flows_into_backward(key, owner, 1)) {
    return true;
  }
  // Returned to the caller: a differentiable sum that the caller back-propagates.
  const bool returned = m_impl->returned_from(key, owner, after, 2);
  if (s.facts.backprops) {
    return false; // a training loop returning its running statistics
  }
  if (loop_id != kNone && loop(loop_id).is_step) {
    // An evaluation loop over batches returns what it gathered; a loop over a few boxes or
    // tokens returns per-call terms, and a caller that back-propagates frees them.
    // A forward's outputs (skip connections, per-layer states) belong to the caller's step.
    // A module's forward (a loss module's too) returns its terms' reduction for the caller's step,
    // as does an object's `__call__` (`ComputeLoss(model)(preds, targets)`).
    // Micro-batches of one call (`for i in range(ceil(bs / mbs))`) returned with no caller in sight
    // (a library calls it: an override, an API): what becomes of them is unknown.
    return returned && !loop(loop_id).iterates_data &&
           (m_impl->is_module_forward(owner) || scope(owner).name == "__call__" ||
            m_impl->result_back_propagated_by_caller(owner, 0) ||
            (!m_impl->has_callers(owner) && m_impl->iterates_a_range(loop(loop_id))));
  }
  return returned;
}

bool Model::empties_through_a_per_step_function(const Call& c) const {
  if (c.empties_via.empty()) {
    return false;
  }
  const ScopeId callee = m_impl->local_callee(c.function, c.scope);
  if (callee == kNone) {
    return false;
  }
  const TSNode body = scope(callee).body;
  for (auto [i, end] = m_impl->calls_in(ts_node_start_byte(body), ts_node_end_byte(body)); i < end; ++i) {
    const Call& inner = m_calls[i];
    if (inner.empties_cache && inner.empties_via.empty() &&
        (runs_every_step(inner.node, inner.loop) || (called_every_step(callee) && !only_clears_caches(callee)))) {
      return true;
    }
  }
  return false;
}

bool Model::periodically_guarded(TSNode node, LoopId loop_id) const {
  const std::uint32_t at = ts_node_start_byte(node);
  const std::uint32_t floor = loop_id == kNone ? 0 : loop(loop_id).body_start;
  return std::any_of(m_impl->periodic_guards.begin(), m_impl->periodic_guards.end(),
                     [&](const ByteRange& r) { return r.contains(at) && r.start >= floor; });
}

std::uint32_t Model::statement_row(TSNode node) const {
  const auto& statements = m_impl->statements;
  const std::uint32_t byte = ts_node_start_byte(node);
  auto it = std::upper_bound(statements.begin(), statements.end(), byte,
                             [](std::uint32_t b, const StatementSpan& s) { return b < s.start; });
  auto id = static_cast<std::int32_t>(std::distance(statements.begin(), it) - 1);
  while (id != kNone) {
    const StatementSpan& s = statements[static_cast<size_t>(id)];
    if (byte < s.end) {
      return s.row;
    }
    id = s.parent;
  }
  return ts_node_start_point(node).row;
}

std::optional<TSNode> Call::keyword(std::string_view name, std::string_view source) const {
  if (ts_node_is_null(arguments)) {
    return std::nullopt;
  }
  // Most calls name no such keyword: their text says so before any child is visited.
  if (syntax::node_text(arguments, source).find(name) == std::string_view::npos) {
    return std::nullopt;
  }
  const auto& g = syntax::grammar();
  std::optional<TSNode> found;
  syntax::for_each_named_child(arguments, [&](TSNode a) {
    if (ts_node_symbol(a) == g.sym.keyword_argument &&
        syntax::node_text(ts_node_child_by_field_id(a, g.field.name), source) == name) {
      found = ts_node_child_by_field_id(a, g.field.value);
    }
    return !found;
  });
  return found;
}

std::optional<TSNode> Call::positional(std::size_t index) const {
  if (ts_node_is_null(arguments)) {
    return std::nullopt;
  }
  const auto& g = syntax::grammar();
  if (ts_node_symbol(arguments) != g.sym.argument_list) {
    return index == 0 ? std::optional<TSNode>(arguments) : std::nullopt; // f(x for x in y)
  }
  std::size_t seen = 0;
  std::optional<TSNode> found;
  syntax::for_each_named_child(arguments, [&](TSNode a) {
    const TSSymbol s = ts_node_symbol(a);
    if (s == g.sym.keyword_argument || s == g.sym.dictionary_splat || s == g.sym.comment) {
      return true;
    }
    if (s == g.sym.list_splat) {
      return false; // positions after *args are unknown
    }
    if (seen == index) {
      found = a;
      return false;
    }
    ++seen;
    return true;
  });
  return found;
}

bool Call::has_star_args() const {
  if (ts_node_is_null(arguments)) {
    return false;
  }
  const auto& g = syntax::grammar();
  bool star = false;
  syntax::for_each_named_child(arguments, [&](TSNode a) {
    const TSSymbol s = ts_node_symbol(a);
    star = s == g.sym.list_splat || s == g.sym.dictionary_splat;
    return !star;
  });
  return star;
}

bool Model::in_eval_region(std::uint32_t at) const {
  return std::any_of(m_eval_regions.begin(), m_eval_regions.end(), [&](const EvalRegion& r) {
    return r.start <= at && at < r.end && function_at(at) == function_at(r.start);
  });
}

ScopeId Model::function_at(TSNode node) const {
  return function_at(ts_node_start_byte(node));
}

bool Model::consumed_differentiably(const Accumulation& acc) const {
  return consumed_differentiably(acc.target_key, acc.scope, acc.loop, ts_node_start_byte(acc.statement));
}

// `x = x + dt * velocity` where `velocity = field(x, t)` in the same pass: an integration (an ODE
// solver, an iterative refinement), whose total is the next input, not a running sum of results.
// The total must reach a call's arguments: `ema = 0.9 * ema + 0.1 * loss` is still a running sum.
bool Model::integrates_its_own_value(const Accumulation& acc) const {
  if (acc.loop == kNone || acc.target_key.empty()) {
    return false;
  }
  const auto& g = m_impl->g;
  auto passes_the_total = [&](TSNode expr) {
    bool passes = false;
    syntax::walk_named(expr, [&](TSNode n) {
      if (!passes && ts_node_symbol(n) == g.sym.call) {
        const TSNode args = m_impl->field(n, g.field.arguments);
        passes = !ts_node_is_null(args) && mentions_identifier(text(args), acc.target_key);
      }
      return !passes;
    });
    return passes;
  };
  if (passes_the_total(acc.value)) {
    return true;
  }
  const Loop& l = loop(acc.loop);
  const std::uint32_t at = ts_node_start_byte(acc.statement);
  bool feeds = false;
  syntax::walk_named(acc.value, [&](TSNode n) {
    if (feeds || ts_node_symbol(n) != g.sym.identifier) {
      return !feeds;
    }
    const Binding* b = m_impl->lookup(text(n), acc.scope, at);
    feeds = b != nullptr && b->kind == BindingKind::Assign && !ts_node_is_null(b->value) &&
            b->stmt_start >= l.body_start && b->stmt_start < at && passes_the_total(b->value);
    return false;
  });
  return feeds;
}

bool Model::consumed_differentiably(const Store& store) const {
  return consumed_differentiably(store.container_key, store.scope, store.loop, ts_node_start_byte(store.statement));
}

// Only names, subscripts, attributes, literals and collections of them: nothing that computes
// a new tensor (a call, arithmetic). Each name must be bound outside the loop, or be a fresh list
// this loop fills with such views (`noise_single.append(noise[i : i + 1])`).
bool Model::stores_views_of_one_graph(const Store& store) const {
  if (store.loop == kNone) {
    return false;
  }
  const Loop& l = loop(store.loop);
  bool any_name = false;
  const bool views = only_views_of_outside_names(store.value, store.scope, l, any_name, 0);
  return views && any_name;
}

bool Model::only_views_of_outside_names(TSNode n, ScopeId scope_id, const Loop& l, bool& any_name, int depth) const {
  const auto& g = m_impl->g;
  if (ts_node_is_null(n) || depth > 32) {
    return false;
  }
  const TSSymbol s = ts_node_symbol(n);
  if (s == g.sym.identifier) {
    any_name = true;
    const Binding* b = m_impl->lookup(text(n), scope_id, ts_node_start_byte(n));
    const bool inside = b != nullptr && b->stmt_start >= l.body_start && b->stmt_start < l.body_end;
    return !inside || filled_with_outside_views(*b, l);
  }
  if (s == g.sym.subscript) {
    return only_views_of_outside_names(m_impl->field(n, g.field.value), scope_id, l, any_name, depth + 1);
  }
  if (s == g.sym.attribute) {
    return only_views_of_outside_names(m_impl->field(n, g.field.object), scope_id, l, any_name, depth + 1);
  }
  if (s == g.sym.string || s == g.sym.integer || s == g.sym.float_ || s == g.sym.true_ || s == g.sym.false_ ||
      s == g.sym.none) {
    return true;
  }
  if (s == g.sym.dictionary || s == g.sym.pair || s == g.sym.list || s == g.sym.tuple ||
      s == g.sym.parenthesized_expression) {
    const uint32_t count = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < count; ++i) {
      TSNode child = ts_node_named_child(n, i);
      if (ts_node_symbol(child) == g.sym.comment) {
        continue;
      }
      if (!only_views_of_outside_names(child, scope_id, l, any_name, depth + 1)) {
        return false;
      }
    }
    return true;
  }
  return false;
}

// `noise_single = []` in the loop, then `noise_single.append(noise[i : i + 1])` for `noise` in a
// list bound before the loop: a fresh collection filled only with views of what was computed
// before the loop.
bool Model::filled_with_outside_views(const Binding& b, const Loop& l) const {
  const auto& g = m_impl->g;
  if (!b.has_value() || !is_collection_literal(b.value) || ts_node_named_child_count(m_impl->unparen(b.value)) != 0) {
    return false;
  }
  auto bound_outside = [&](const Binding* v) {
    return v == nullptr || v->stmt_start < l.body_start || v->stmt_start >= l.body_end;
  };
  const auto it = m_impl->stores_by_container.find(b.name);
  if (it == m_impl->stores_by_container.end()) {
    return true;
  }
  for (const size_t i : it->second) {
    const Store& st = m_impl->store_candidates[i];
    if (ts_node_start_byte(st.statement) < l.body_start || ts_node_start_byte(st.statement) >= l.body_end) {
      continue;
    }
    const TSNode value = m_impl->unparen(st.value);
    bool outside = false;
    if (ts_node_symbol(value) == g.sym.subscript || ts_node_symbol(value) == g.sym.attribute ||
        ts_node_symbol(value) == g.sym.identifier) {
      // `noise[i : i + 1]` with `noise` drawn from a list bound before the loop.
      TSNode root = value;
      while (ts_node_symbol(root) == g.sym.subscript || ts_node_symbol(root) == g.sym.attribute) {
        root = m_impl->field(root, ts_node_symbol(root) == g.sym.subscript ? g.field.value : g.field.object);
      }
      const Binding* v = ts_node_symbol(root) == g.sym.identifier
                             ? m_impl->lookup(text(root), st.scope, ts_node_start_byte(root))
                             : nullptr;
      if (v != nullptr && v->kind == BindingKind::ForTarget && v->has_value() &&
          ts_node_symbol(m_impl->unparen(v->value)) == g.sym.identifier) {
        const TSNode iterable = m_impl->unparen(v->value);
        outside = bound_outside(m_impl->lookup(text(iterable), v->scope, ts_node_start_byte(iterable)));
      } else {
        outside = bound_outside(v) && v != nullptr;
      }
    }
    if (!outside) {
      return false;
    }
  }
  return true;
}

bool Model::total_starts_as_text(const Accumulation& acc) const {
  const auto& g = m_impl->g;
  const std::uint32_t at = ts_node_start_byte(acc.statement);
  // The function's own table of the name: one lookup, not a scan of every binding of the file.
  const Binding* start = m_impl->last_binding_before(acc.target_key, m_impl->owner_scope(acc.scope), at, true);
  if (start == nullptr || ts_node_is_null(start->value)) {
    return false;
  }
  const TSSymbol s = ts_node_symbol(m_impl->unparen(start->value));
  return s == g.sym.string || s == g.sym.concatenated_string;
}

bool Model::total_used_as_tensor_later(const Accumulation& acc) const {
  return may_be_used_as_tensor_after(acc.target_key, acc.scope, ts_node_end_byte(acc.statement));
}

bool Model::writes_grads_in_place() const {
  const auto& bs = bindings();
  const bool augmented = std::any_of(bs.begin(), bs.end(), [](const Binding& b) {
    return b.kind == BindingKind::AugAssign && (b.name == "grad" || b.name.ends_with(".grad"));
  });
  return augmented || std::any_of(m_calls.begin(), m_calls.end(), [&](const Call& c) {
           const bool in_place = c.method.size() > 1 && c.method.back() == '_' && c.method.front() != '_';
           return in_place && c.is_method_call() && text(c.receiver).ends_with(".grad");
         });
}

bool Model::captures_cuda_graphs() const {
  return std::any_of(m_calls.begin(), m_calls.end(), [](const Call& c) {
    return c.qualified == "torch.cuda.graph" || c.qualified == "torch.cuda.CUDAGraph" ||
           c.qualified.ends_with("make_graphed_callables") || c.method == "capture_begin";
  });
}

} // namespace oomlint::model
