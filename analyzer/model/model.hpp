#pragma once
// The semantic model of one Python file (DESIGN §5). One cursor traversal records scopes,
// bindings, loops, grad-mode regions, calls and the statements rules care about; the
// questions rules ask (what does this call resolve to, does this value carry an autograd
// graph, does this loop run once per training step, ...) are answered from those indexes.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <tree_sitter/api.h>

#include "analyzer/diagnostics/finding.hpp"
#include "analyzer/model/project.hpp"
#include "analyzer/model/value.hpp"
#include "analyzer/source/source_file.hpp"

namespace oomlint::model {

using ScopeId = std::int32_t;
using LoopId = std::int32_t;
using BindingId = std::int32_t;
inline constexpr std::int32_t kNone = -1;

namespace names {
// pytest's and unittest's case names: `test_*`, `testFoo` (not a bare `test`, a script's test phase).
bool is_test_case_name(std::string_view name);
} // namespace names

// Names a project can add to the model's vocabularies (`[tool.oomlint]` options).
struct ModelOptions {
  std::vector<std::string> extra_loss_functions; // callables whose result is a loss
  std::vector<std::string> extra_model_names;    // names that hold an nn.Module
  std::vector<std::string> extra_grad_disabled_decorators;
  // The start bytes of the top-level statements to build, sorted; empty: the whole module. The
  // language server re-analyses only what an edit can reach (analyzer/driver/relint_scope.hpp).
  std::vector<std::uint32_t> focus;
};

enum class ScopeKind : std::uint8_t { Module, Class, Function, Lambda, Comprehension };

struct FunctionFacts {
  bool per_step_method = false;     // forward, training_step, *_step, on_*_batch_end, compute_loss
  bool framework_eval_step = false; // Lightning validation_step/test_step/predict_step & co.
  bool decorated_grad_disabled = false;
  bool grad_disabled = false;   // decorated, framework-disabled, or only called grad-disabled
  bool backprops = false;       // runs a backward (itself or through a local helper)
  bool loss_for_caller = false; // a method whose result its caller back-propagates (`compute_G_loss`)
  bool steps_optimizer = false;
  bool needs_grad = false;                // backward, autograd.grad, requires_grad_, enable_grad
  bool calls_train_mode = false;          // `.train()` on a module
  bool empties_cache = false;             // each call empties the allocator's cache (a wrapper of empty_cache)
  bool initialises_cuda = false;          // calling it starts CUDA (`.cuda()`, `torch.cuda.set_device`, ...)
  bool returns_only_without_grad = false; // every value it returns is computed under `no_grad`
  bool freezes_itself = false;            // a class whose `__init__` turns its parameters' `requires_grad` off
  // A factory (`def get_model(path): ...; return FrozenAutoencoderKL(...)`): the class every return
  // builds, this file's (`returned_class_scope`) or another module's (qualified).
  ScopeId returned_class_scope = kNone;
  std::string returned_class;
  int call_sites = 0;
  int disabled_call_sites = 0;
  Value returns; // join of its return statements' values
  bool returns_seen = false;
};

struct Scope {
  ScopeKind kind = ScopeKind::Module;
  ScopeId parent = kNone;
  TSNode node{};
  TSNode body{};
  std::string name;
  ScopeId class_scope = kNone; // for methods: the class they belong to
  std::vector<TSNode> decorators;
  std::vector<std::string> bases; // class bases as written
  std::unordered_set<std::string> globals;
  std::unordered_set<std::string> backprop_names; // names whose value is back-propagated here
  std::vector<TSNode> returns;
  FunctionFacts facts;
  [[nodiscard]] bool is_function() const { return kind == ScopeKind::Function; }
};

enum class LoopKind : std::uint8_t { For, While, Comprehension };

struct Loop {
  LoopKind kind = LoopKind::For;
  LoopId parent = kNone;         // enclosing loop in the same function
  LoopId lexical_parent = kNone; // enclosing loop in the source, across function boundaries
  ScopeId scope = kNone;
  TSNode node{};
  TSNode iterable{}; // for: the iterated expression; while: the condition
  std::uint32_t body_start = 0;
  std::uint32_t body_end = 0;
  std::vector<std::string> targets;
  bool is_step = false;       // runs once per training/eval step
  bool is_phase = false;      // epochs or phases: its body calls train/eval code
  bool backprops = false;     // a backward runs in each iteration
  bool iterates_data = false; // over a loader or a count of steps, not over a few boxes or tokens
};

enum class BindingKind : std::uint8_t {
  Assign,
  AugAssign,
  ForTarget,
  WithTarget,
  Parameter,
  Import,
  FunctionDef,
  ClassDef,
  Walrus,
  Other
};

struct Binding {
  std::string name; // identifier, or a dotted attribute path such as `self.criterion`
  BindingKind kind = BindingKind::Other;
  ScopeId scope = kNone;
  LoopId loop = kNone;
  std::uint32_t stmt_start = 0;
  std::uint32_t visible_from = 0; // uses at or after this byte see the binding
  TSNode value{};                 // the right-hand side / iterable / context expression
  int element = -1;               // index into a tuple value on the right, -1 for the whole
  std::string qualified;          // imports: the dotted module path it names
  ScopeId defines = kNone;        // function and class definitions
  TSNode op{};                    // augmented assignment: the target (for `t += v`)
  TSNode target{};                // the bound name or attribute as written
  TSNode default_value{};         // parameters: the default value, as written
  TSNode annotation{};            // parameters: the type annotation, as written (`model: SentenceTransformer`)
  // An annotation without a value (`self.h: Tensor`) binds nothing to fix.
  [[nodiscard]] bool has_value() const { return !ts_node_is_null(value); }
};

// An argument as a call passes it: `node` is the whole `name=value` for a keyword argument.
struct Argument {
  TSNode node{};
  TSNode value{};
};

struct Call {
  TSNode node{};
  TSNode function{};
  TSNode arguments{};
  TSNode receiver{};       // `x` in `x.m(...)`
  std::string_view method; // `m` in `x.m(...)`, the name in `f(...)`
  std::string qualified;   // the import path it resolves to, e.g. `torch.cuda.empty_cache`
  ScopeId scope = kNone;
  LoopId loop = kNone;
  bool grad_disabled = false;
  bool in_except = false;   // inside an `except` handler
  bool is_forward = false;  // an nn.Module forward pass
  bool is_backward = false; // a backward pass
  // Empties the caching allocator: `torch.cuda.empty_cache()` through any alias,
  // `getattr(torch, device).empty_cache()`, or a project function that does (`via` names it).
  bool empties_cache = false;
  std::string empties_via;
  [[nodiscard]] std::optional<TSNode> keyword(std::string_view name, std::string_view source) const;
  [[nodiscard]] std::optional<TSNode> positional(std::size_t index) const;
  [[nodiscard]] bool has_star_args() const;
  // The parameter `name` as passed: by keyword if the call names it, else at `position`.
  [[nodiscard]] std::optional<Argument> argument(std::string_view name, std::size_t position,
                                                 std::string_view source) const;
  [[nodiscard]] bool is_method_call() const { return !ts_node_is_null(receiver); }
  // False only where error recovery left the call without its parentheses.
  [[nodiscard]] bool has_argument_list() const { return !ts_node_is_null(arguments); }
};

enum class AccumulationKind : std::uint8_t { AugmentedAdd, SelfAdd, MeterUpdate };

// `t += v`, `t = t + v`, `meter.update(v)` where `t` outlives one pass of the loop (or step).
struct Accumulation {
  AccumulationKind kind = AccumulationKind::AugmentedAdd;
  TSNode statement{};
  TSNode target{};
  TSNode value{};
  std::string target_key;
  ScopeId scope = kNone;
  LoopId loop = kNone; // the loop whose iterations the target outlives; kNone: a step method
  bool grad_disabled = false;
  // MeterUpdate: the receiver's name says meter (`loss_meter.update(v)`); otherwise it must be
  // built by a meter class (`losses = AverageMeter("Loss")`), as `dict.update` is not one.
  bool named_as_meter = true;
};

enum class StoreKind : std::uint8_t { Append, Extend, Insert, ListAugment, SubscriptAssign, Concat };

// A value put into a container that outlives one pass of the loop (or step).
struct Store {
  StoreKind kind = StoreKind::Append;
  TSNode statement{};
  TSNode container{};
  TSNode value{};
  std::string container_key;
  ScopeId scope = kNone;
  LoopId loop = kNone;
  bool grad_disabled = false;
};

// Evaluation or generation code that runs with autograd on.
struct EvalRegion {
  ScopeId scope = kNone;
  std::uint32_t start = 0;
  std::uint32_t end = 0;
  std::string reason;                     // "`evaluate` is evaluation code" / "after `model.eval()`"
  TSNode anchor{};                        // where the region starts (function name or the eval() call)
  std::vector<std::size_t> forward_calls; // indices into calls(): forward passes with autograd on
  bool whole_function = false;            // the function is evaluation code by its name: all of its body
};

// What keeps a `torch.no_grad()` region from running under `torch.inference_mode()`, whose
// tensors can never re-enter autograd.
enum class InferenceModeBlocker : std::uint8_t {
  None,
  // Its function back-propagates, needs gradients, steps an optimizer or switches to `.train()`
  // (other than to restore the mode after evaluating).
  FunctionNeedsAutograd,
  // It updates tensors in place, reaches parameters, buffers, gradients, state dicts or
  // `requires_grad`, steps an optimizer or EMA, or writes into `self.` or a subscript.
  TouchesAutogradState,
  // What its function computes is back-propagated: a per-step method, a module's forward, or a
  // helper whose caller in this file trains with what it returns.
  ResultsReachTraining,
};

// `with torch.no_grad():` (one of the statement's own context managers, `with torch.no_grad(),
// torch.autocast(...):` too) or `@torch.no_grad()` / `@torch.no_grad` on a function. Module-level
// code is judged by the module's own facts.
struct NoGradRegion {
  TSNode site{};                // the `torch.no_grad()` of a `with`; the whole decorator expression
  std::optional<TSNode> rename; // the `no_grad` of `torch.no_grad`; none when imported by name
  ScopeId function = kNone;     // the decorated function, or the function holding the `with`
  TSNode body{};                // the `with` body, or the decorated function's body
  TSNode function_name{};       // the name in `function`'s `def`
  bool decorator = false;
  InferenceModeBlocker blocker = InferenceModeBlocker::None;
  // Its function returns values to callers not seen here and is not evaluation code by name:
  // nothing proves that they never train with them, so no rewrite is offered.
  bool results_leave_unseen = false;
  // The function switches back to `.train()` after the region, having switched to `.eval()`
  // before it (evaluation code restoring the mode, not training).
  bool restores_train_mode = false;
  // Where this file calls the function (filled in unless its own facts already block), and
  // whether it returns values at all.
  std::vector<const Call*> call_sites;
  bool returns_values = false;
};

// `self.x = v` (one attribute deep) or `g = v` for a `global g`, in code that runs every step
// with autograd on: state that outlives the step.
struct StepStateStore {
  BindingId binding = kNone;   // `self.x = v` / `g = v`; none for a slot
  const Store* slot = nullptr; // `self.state["loss"] = v`: one fixed slot of a container kept on `self.` or global
  TSNode slot_target{};        // the slot's `self.state["loss"]`
  std::string_view attribute;  // `x` of `self.x` (`state` of `self.state`); the global's name
  bool on_self = false;
};

// A forward/backward hook that keeps what it is given beyond the call: each call stores the
// activation or gradient in a container that lives on (a global, an enclosing function's list,
// a `self.` attribute), so the container grows by a whole tensor per forward or backward.
struct HookRetention {
  const Call* registration = nullptr;   // `layer.register_forward_hook(hook)`
  std::string_view registration_method; // `register_forward_hook`, `register_hook`, ...
  std::string_view stored_kind;         // "activation", "input" or "gradient"
  TSNode hook{};                        // the `def` or `lambda` (a hook object's `__call__`) that runs on every call
  TSNode statement{};                   // the append, extend, insert or `+= [...]` that stores it
  std::string container;                // where it goes, as written (`self.features`, `acts[name]`)
  std::string parameter;                // the hook parameter kept (`output`, `grad_input`)
  bool detached = false;                // stored through `.detach()`: the graph goes, the tensor stays
};

// `.backward(retain_graph=True)` or `autograd.backward(..., retain_graph=True)` with a literal
// `True` (or a name that always holds it: a constant the file shows, or a parameter defaulting to
// `True` that no call in the file overrides), and what decides whether retaining the graph costs
// a step's activations.
struct RetainedGraphBackward {
  const Call* call = nullptr;
  TSNode flag{}; // the `retain_graph=True` keyword argument
  // In per-step code, and not in an inner loop of a step loop (over several losses or heads,
  // whose next pass back-propagates through the same step's graph again).
  bool repeats_every_step = false;
  // A backward or `autograd.grad` after it in the same iteration (or call): the retained graph
  // is used again. Null when none follows.
  const Call* later_backward = nullptr;
  // The back-propagated tensor is computed in this iteration (or call); a graph built once
  // before the loop and back-propagated on every pass needs the flag.
  bool graph_built_each_pass = false;
  // `alpha_loss.backward(retain_graph=True)` in a helper whose returned loss the caller then
  // back-propagates: that later backward runs through the same step's graph.
  bool caller_back_propagates_result = false;
  // For the finding's notes. The tensor back-propagated (`loss` of `loss.backward()`), and what
  // repeats every step: the loop's header (`for x, y in loader`) or, for a per-step method, its
  // name (an empty range when neither is known).
  std::optional<TSNode> tensor;
  std::uint32_t repeat_start = 0;
  std::uint32_t repeat_end = 0;
  bool repeats_in_loop = false;
  // The flag is a name that holds `True` (`RETAIN = True`, a parameter defaulting to it): where
  // that `True` is written.
  std::optional<TSNode> flag_origin;
};

// A value that one pass of a back-propagating step loop (or one call of a per-step method, or of
// a method whose own body back-propagates, for `self.` state) hands to the next with its autograd
// graph: read in the pass before it is re-assigned from a call whose result carries a graph
// (directly, or through a name the pass bound from one), and not detached in between (truncated
// back-propagation through time without repackaging), so every step's graph chains onto the last.
struct CarriedState {
  BindingId rebinding = kNone; // the pass's last assignment of the state
  // Where the pass first reads the state, before re-assigning it: the previous step's value.
  std::uint32_t read_start = 0;
  std::uint32_t read_end = 0;
  bool across_calls = false; // `self.` state of a per-step (or back-propagating) method, not a loop's variable
  bool tuple_state = false;  // an LSTM's `(h, c)`: detached element by element
  // A rollout: the loop's function never back-propagates and returns only numbers, so nothing
  // frees the chained graph until it returns.
  bool without_backward = false;
};

struct SyntaxProblem {
  TSNode node{};
  bool missing = false;
};

// Where a program sets the CUDA caching allocator's configuration (`PYTORCH_CUDA_ALLOC_CONF`, or
// the newer `PYTORCH_ALLOC_CONF`).
enum class AllocConfTarget : std::uint8_t {
  ProcessEnvironment, // this process's environment: the allocator reads it once, when CUDA starts
  ChildEnvironment,   // another mapping (an env dict literal or a copy of os.environ), for a process this one starts
  RuntimeSetting,     // `torch.cuda.memory._set_allocator_settings`: applies at any time
};

struct AllocConfOption {
  std::string_view name; // `max_split_size_mb` in `max_split_size_mb:128`
  std::string_view value;
};

// The call that had started CUDA, and where it is.
struct CudaStart {
  const Call* call = nullptr;
  std::uint32_t start = 0;
  std::uint32_t end = 0;
};

struct AllocConfSetting {
  TSNode statement{};                   // the assignment, call or dict entry that sets it
  TSNode value{};                       // the configuration; null where the code does not show it
  std::string_view value_text;          // its source; empty when null
  std::vector<AllocConfOption> options; // its `name:value` pairs, in order
  AllocConfTarget target = AllocConfTarget::ProcessEnvironment;
  std::optional<CudaStart> cuda_started_by; // process environment only: CUDA started before this ran
  [[nodiscard]] bool has_option(std::string_view name) const;
};

// A constant an expression may evaluate to, as the file writes it (constants.cpp).
struct Constant {
  enum class Kind : std::uint8_t {
    String, // `text` holds the contents, without prefix or quotes
    Number, // as written: `128`, `0.8`
    Bool,   // `True` / `False`
    None,
    Path, // an import path such as `torch.bfloat16` (aliases spelled canonically: `torch.half` -> `torch.float16`)
  };
  Kind kind = Kind::None;
  std::string text;
  TSNode node{}; // where it is written (the literal, or the expression that builds it); null when imported
  [[nodiscard]] bool same_as(const Constant& other) const { return kind == other.kind && text == other.text; }
};

// What the constant evaluator may take for granted.
enum class ConstantAssumption : std::uint8_t {
  None,              // only what holds on every run
  ParameterDefaults, // a parameter holds its default: what the function does when called as written
};

class Model {
public:
  // `problem`, when given, is the first syntax problem of the original parse (the tree passed
  // here may be a recovered re-parse, see syntax/recovery.hpp).
  // `project`, when given, names this file's module and carries the run's other modules' facts.
  Model(const SourceFile& source, TSNode root, const ModelOptions& options,
        std::optional<SyntaxProblem> problem = std::nullopt, const ProjectContext* project = nullptr);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  Model(Model&&) = delete;
  Model& operator=(Model&&) = delete;

  [[nodiscard]] const SourceFile& source() const { return m_source; }
  [[nodiscard]] std::string_view text(TSNode node) const;

  [[nodiscard]] const std::vector<Scope>& scopes() const { return m_scopes; }
  [[nodiscard]] const Scope& scope(ScopeId id) const { return m_scopes.at(static_cast<size_t>(id)); }
  [[nodiscard]] const std::vector<Loop>& loops() const { return m_loops; }
  [[nodiscard]] const Loop& loop(LoopId id) const { return m_loops.at(static_cast<size_t>(id)); }
  [[nodiscard]] const std::vector<Call>& calls() const { return m_calls; }
  [[nodiscard]] const std::vector<Accumulation>& accumulations() const { return m_accumulations; }
  [[nodiscard]] const std::vector<Store>& stores() const { return m_stores; }
  [[nodiscard]] const std::vector<EvalRegion>& eval_regions() const { return m_eval_regions; }
  // Whether byte `at` is in evaluation code that runs with autograd on (an EvalRegion), in the
  // region's own function rather than one nested in it.
  [[nodiscard]] bool in_eval_region(std::uint32_t at) const;
  [[nodiscard]] const std::optional<SyntaxProblem>& first_syntax_problem() const { return m_syntax_problem; }
  [[nodiscard]] const std::vector<TSNode>& comments() const { return m_comments; }
  // Every binding in source order: assignments, loop targets, parameters, imports, definitions.
  [[nodiscard]] const std::vector<Binding>& bindings() const;
  // The abstract value a binding gives its name (the element of a tuple value where it unpacks).
  [[nodiscard]] Value binding_value(BindingId id) const;
  // The function a callee expression names: a local `def`, or `self.method` of the enclosing class.
  [[nodiscard]] ScopeId callee_scope(TSNode function_expr) const;
  // The scope a `def`, `lambda` or class node opens.
  [[nodiscard]] ScopeId scope_of_node(TSNode definition) const;

  // The import path an identifier or attribute chain names (`th.cuda.empty_cache` ->
  // `torch.cuda.empty_cache`), or empty.
  [[nodiscard]] std::string qualified_name(TSNode expr) const;
  // The module-level name bound to `import <module>` (`torch`, or `th` for `import torch as th`).
  [[nodiscard]] std::optional<std::string> import_alias(std::string_view module) const;
  // The abstract value of an expression: does it carry an autograd graph, what is it.
  [[nodiscard]] Value value_of(TSNode expr) const;
  // A value's provenance as notes for a finding, from the use back to where it came from
  // (`loss` is assigned here <- `criterion(...)` computes a loss <- ...).
  [[nodiscard]] std::vector<Related> evidence_of(const Value& value) const;
  [[nodiscard]] bool grad_disabled_at(TSNode node) const;
  [[nodiscard]] ScopeId scope_at(std::uint32_t byte) const;
  [[nodiscard]] LoopId loop_at(std::uint32_t byte, ScopeId scope) const;
  // The function (not lambda/comprehension) whose body holds the byte; kNone at module level.
  [[nodiscard]] ScopeId function_at(std::uint32_t byte) const;
  // The node runs once per training/evaluation step: inside a step loop (at any depth within its
  // function), or in a per-step method (`training_step`, `forward`, `*_step`).
  [[nodiscard]] bool runs_every_step(TSNode node, LoopId innermost_loop) const;
  // A backward runs in each pass of `loop`; for kNone, in each call of the step method `scope`.
  [[nodiscard]] bool iteration_backprops(LoopId loop, ScopeId scope) const;
  // The value bound to `key` (a name or `self.x` path) is back-propagated, or returned after
  // `after` by a helper that sums differentiable terms (a loop that is not a step loop, in a
  // function that runs no backward itself): a sum meant for a backward, not a leak.
  [[nodiscard]] bool consumed_differentiably(std::string_view key, ScopeId scope, LoopId loop,
                                             std::uint32_t after) const;
  // The name `key` may be used as a tensor after `after` in its function: a method call on it,
  // an argument of torch or of a collective, or returned to a caller that may. Decides whether
  // turning it into a Python float (`.item()`) is a fix or a breakage.
  [[nodiscard]] bool may_be_used_as_tensor_after(std::string_view key, ScopeId scope, std::uint32_t after) const;
  // The same, or passed after `after` to a call other than Python's or NumPy's own reductions
  // (`list_mean(losses)`): whoever receives it may need tensors.
  [[nodiscard]] bool handed_to_unknown_code_after(std::string_view key, ScopeId scope, std::uint32_t after) const;
  // `loop` runs inside a step loop: what outlives only `loop` (a list bound in the outer loop's
  // body) is re-created in every step.
  [[nodiscard]] bool recreated_every_step(LoopId loop) const;
  // The container outlives only `loop`, and `loop` runs inside another loop of the function that
  // is not over epochs or phases (denoising steps, test-time views, chunks of one batch): it is
  // re-created on every outer pass, so it does not grow with the data.
  [[nodiscard]] bool recreated_per_outer_pass(const Store& store) const;
  // The loop runs over a literal (`for flip in (False, True)`, `range(4)`): a fixed, small count.
  [[nodiscard]] bool iterates_a_literal(LoopId loop) const;
  // A loop in a method of an nn.Module over anything but a loader (`range(self.config.num_
  // proposal_iterations)`, a sampler's noise levels): it counts a setting of the module, which
  // runs one batch, not the data.
  [[nodiscard]] bool counts_a_setting_of_its_module(LoopId loop) const;
  // The loop the store grows across also empties the container (`feats = []`, `a, b = [], []`,
  // `feats.clear()`), every pass or every few (a gradient cache flushed each accumulation
  // cycle): what it holds is bounded by that cycle.
  [[nodiscard]] bool emptied_within_its_loop(const Store& store) const;
  // Every call of the function in this file runs every step, directly from a step loop (not behind
  // an every-N or opt-in guard) or from a function itself called every step: `train()` calls
  // `rollout(batch)` per batch, and `rollout` loops over chunks calling `generate(chunk)`.
  [[nodiscard]] bool called_every_step(ScopeId fn) const;
  // A function whose only work is emptying the cache (`def clear_device_cache(): if mps: ... else:
  // torch.cuda.empty_cache()`, with `gc.collect()` or a synchronize at most): its callers decide.
  [[nodiscard]] bool only_clears_caches(ScopeId fn) const;
  // The node sits under an `if` whose condition tests a step counter with `%` (runs every N steps).
  [[nodiscard]] bool periodically_guarded(TSNode node, LoopId loop) const;
  // Inside `loop`, under an `if` that a user opts into (`if args.clear_cache:`, `if flag and ...`).
  [[nodiscard]] bool option_guarded(TSNode node, LoopId loop) const;
  // In the fallback branch of a torch version test (`if is_torch_version(">=", "1.11"): ... else:`),
  // code written for a torch that lacks the newer API.
  [[nodiscard]] bool in_old_torch_branch(TSNode node) const;
  // Where an expression's value goes: the name its statement binds it to (`state` in
  // `state = torch.load(p)["model"]`), or the method of the call it is passed to
  // (`load_state_dict` in `net.load_state_dict(torch.load(p))`). Both empty when neither.
  struct Receiver {
    std::string_view bound_name;
    std::string_view consumer;
  };
  [[nodiscard]] Receiver receiver_of(TSNode expr) const;
  // The value bound to `name` by the statement at `at` reaches a `load_state_dict` later in its
  // function: passed itself, or a part of it (`obj["weights"]`, `obj.pop("weights")`), or through a
  // name bound from it (`params, weights = obj["hparams"], obj["weights"]`).
  [[nodiscard]] bool reaches_load_state_dict(std::string_view name, ScopeId scope, std::uint32_t at) const;
  [[nodiscard]] bool reads_state_entries(std::string_view name, ScopeId scope, std::uint32_t at) const;
  // A name that says it holds a model's or optimizer's state (`ckpt`, `state_dict`, `weights`).
  [[nodiscard]] static bool is_checkpoint_name(std::string_view name);
  // A name that says it holds data or a helper's small state (`scaler_state`, `features`), not a model's.
  [[nodiscard]] static bool names_data_not_state(std::string_view name);
  // `model = torch.load(f)`, `uncond_embeddings = torch.load(p)`: a whole module or tensors used
  // as they come back, not a state that `load_state_dict` copies onto the model's device.
  [[nodiscard]] static bool names_an_object_used_as_loaded(std::string_view name);
  // A call that has started CUDA (and so the caching allocator) before the byte `at` runs: earlier
  // in the same function, in module code before it, or in a caller before it calls it. Null
  // when the file shows none.
  [[nodiscard]] const Call* cuda_initialised_before(std::uint32_t at) const;
  // Every place the file sets the CUDA allocator's configuration, in document order.
  [[nodiscard]] const std::vector<AllocConfSetting>& alloc_conf_settings() const;
  // The call whose node is `expr`, or null when `expr` is not a call.
  [[nodiscard]] const Call* call_at(TSNode expr) const;
  // The module shows it writes checkpoints from the CPU: FSDP state gathered with
  // `offload_to_cpu=True`, or a model moved with `.cpu()` before its `state_dict()` is saved.
  [[nodiscard]] bool saves_checkpoints_from_cpu() const;
  // `scope` is (inside) a test case that runs no backward: it exercises an API, it trains nothing.
  [[nodiscard]] bool tests_an_api_without_training(ScopeId scope) const;
  // Test code: in a `test_*.py`, `*_test.py` or `conftest.py` file, a test case (`test_*` of the module, or of a
  // `Test*` class or a `TestCase`), a test class's helpers, or a function nested in either.
  [[nodiscard]] bool in_test_code(ScopeId scope) const;
  [[nodiscard]] bool in_module_method(ScopeId scope) const;
  // A method of a model class that only other modules call, and that trains nothing itself.
  [[nodiscard]] bool grad_mode_left_to_callers(ScopeId scope) const;
  // The value bound to `name` at `at` is restored into a scheduler, a scaler or a sampler
  // (`lr_scheduler.load_state_dict(state_dict)`), or, restored nowhere, is loaded by a function
  // that says it loads random states (`load_random_states`): numbers, not a model's tensors.
  [[nodiscard]] bool loads_straight_into_small_state(const Call& load) const;
  [[nodiscard]] bool restores_only_small_state(std::string_view name, ScopeId scope, std::uint32_t at) const;
  // `c` empties the cache through a function of this file (`self.grpo_step()`) whose own
  // `empty_cache()` runs every step: that call is where it is reported.
  [[nodiscard]] bool empties_through_a_per_step_function(const Call& c) const;
  // The load reads a path this module saves to with `torch.save`, and nothing in the module
  // puts tensors on an accelerator (no `.cuda()`, `.to(device)`, `device=`, CUDA init).
  // `convert_zero_checkpoint_to_fp32_state_dict(src, out)` earlier in the function, then
  // `torch.load(out)`: a file of CPU tensors.
  [[nodiscard]] bool reads_back_a_cpu_conversion(const Call& load) const;
  [[nodiscard]] bool reads_back_a_cpu_only_save(const Call& load) const;
  // The load reads a published file fetched on first use: its path is a download's result
  // (`path = hf_hub_download(...)`), or an earlier `if not os.path.exists(path):` downloads it.
  [[nodiscard]] bool loads_a_published_download(const Call& load) const;
  [[nodiscard]] bool loads_an_engine_module(const Call& load) const;
  // The load reads back a run's settings, not tensors: its result is named for them
  // (`train_args = torch.load(path)`) or its file is (`os.path.join(ckpt, "model_args.pth")`).
  [[nodiscard]] bool loads_saved_settings(const Call& load, std::string_view bound_name) const;
  // The file holds weights converted from Caffe (`resnet101_caffe.pth`, `opt.caffe_pretrain_path`):
  // a conversion builds its tensors on the CPU.
  [[nodiscard]] bool loads_converted_caffe_weights(const Call& load) const;
  // The weights are read from `["params"]` or `["params_ema"]`: BasicSR's layout, saved from the CPU.
  [[nodiscard]] bool loads_a_basicsr_checkpoint(const Call& load, std::string_view bound_name) const;
  [[nodiscard]] bool restored_into_a_module(TSNode entry) const;
  [[nodiscard]] bool may_place_on_a_device(const Call& c) const;
  // First line (0-based) of the statement that holds the node: where `# noqa` works.
  [[nodiscard]] std::uint32_t statement_row(TSNode node) const;
  // Every hook that keeps its activation or gradient beyond the call (hooks.cpp). A hook function
  // registered on many modules is listed once, at the first registration that keeps something;
  // a container that the registering function binds and whose hook it removes again collects
  // one forward's tensors and is not listed.
  [[nodiscard]] std::vector<HookRetention> hook_retentions() const;
  // Every backward with `retain_graph=True` (retained_graphs.cpp), in source order.
  [[nodiscard]] std::vector<RetainedGraphBackward> retained_graph_backwards() const;
  // Every state carried across step-loop passes or per-step calls with its graph
  // (carried_state.cpp): loops first, then per-step methods, each by name.
  [[nodiscard]] std::vector<CarriedState> carried_states() const;
  // This module's facts for the rest of the run: top-level functions and module classes, and
  // the calls it makes into the run's other modules.
  [[nodiscard]] ModuleSummary summarize(const ProjectContext& project) const;

  // --- what the rules ask, by concept. Each answers from the indexes or walks one subtree.
  [[nodiscard]] ScopeId function_at(TSNode node) const;
  // The accumulated total or the container is back-propagated or returned for a backward
  // (`consumed_differentiably` at the statement).
  [[nodiscard]] bool consumed_differentiably(const Accumulation& acc) const;
  [[nodiscard]] bool consumed_differentiably(const Store& store) const;
  // The added value is computed from the total itself in the same pass (`x = x + dt * f(x)`).
  [[nodiscard]] bool integrates_its_own_value(const Accumulation& acc) const;
  // `result[name] = {"img": img_gen[i], "noise": noise_single}` after one forward: the stored
  // value only indexes names bound before the loop, so every pass keeps the same graph.
  [[nodiscard]] bool stores_views_of_one_graph(const Store& store) const;
  [[nodiscard]] bool filled_with_outside_views(const Binding& b, const Loop& l) const;
  [[nodiscard]] bool only_views_of_outside_names(TSNode n, ScopeId scope_id, const Loop& l, bool& any_name,
                                                 int depth) const;
  // The total may be used as a tensor after the accumulation (`may_be_used_as_tensor_after`).
  [[nodiscard]] bool total_used_as_tensor_later(const Accumulation& acc) const;
  // `True`/`False` written as such; none for anything computed.
  [[nodiscard]] std::optional<bool> bool_literal(TSNode expr) const;
  // A tuple, list or dict display: a method appended to it would not reach its elements.
  [[nodiscard]] bool is_collection_literal(TSNode expr) const;
  // Inference mode (inference_mode.cpp): every `torch.no_grad()` region, in source order of the
  // `with` statements and then of the decorated functions, with what stops inference_mode.
  [[nodiscard]] std::vector<NoGradRegion> no_grad_regions() const;
  // The file adds or copies into `.grad` in place (`p.grad += g`, `p.grad.add_(g)`): it relies on
  // gradient buffers that exist, so `zero_grad(set_to_none=False)` is deliberate there.
  [[nodiscard]] bool writes_grads_in_place() const;
  // The file captures CUDA graphs (`torch.cuda.graph(g)`, `make_graphed_callables`): a captured
  // backward writes into gradient tensors at fixed addresses, which must stay allocated.
  [[nodiscard]] bool captures_cuda_graphs() const;
  // `text = ""` before `text += piece`: the total is a string, whatever is added to it.
  [[nodiscard]] bool total_starts_as_text(const Accumulation& acc) const;
  // Inside `if self.store_attn:` whose flag is off unless a caller turns it on (`False`, or a
  // constructor parameter defaulting to `False`/`None`): an opt-in debugging or analysis path.
  [[nodiscard]] bool off_by_default(TSNode node) const;
  // Devices (device_gathering.cpp). The value a method chain starts from: `model(x).logits` in
  // `model(x).logits.argmax(-1)[0].float()`; a plain function call ends the chain.
  [[nodiscard]] TSNode method_chain_origin(TSNode expr) const;
  // `.cpu()`, `.numpy()`, `.tolist()`, `.item()`, `.to("cpu")` along the method chain, or
  // `float(...)`, `int(...)`, `list(...)` around it: the value is host data, not a device tensor.
  [[nodiscard]] bool leaves_device(TSNode expr) const;
  // The module imports a parameter sharder (DeepSpeed, FSDP, fairscale): under ZeRO-3 or FSDP a
  // forward gathers parameters, and gathered under inference_mode they cannot train afterwards.
  [[nodiscard]] bool imports_a_parameter_sharder() const;
  // Autoregressive decoding: `idx = torch.cat([idx, next_token], 1)` where the loop feeds the
  // sequence (or the new token) to a forward. It is the next step's input, bounded by the tokens
  // asked for, and the result the loop exists to build.
  [[nodiscard]] bool grows_the_decoded_sequence(const Store& store) const;
  // The loop walks one tensor or batch in pieces (`batch.split(n)`, `torch.chunk(x, k)`,
  // `range(0, x.shape[0], n)`, tiles over `H, W = x.shape[-2:]`): what it gathers is the size of
  // that one input, the result of this call, not a pile that grows with the data.
  [[nodiscard]] bool walks_one_input_in_pieces(LoopId loop) const;
  // The function that fills the container also pops from it (`outputs.pop(0)` for the backward of
  // a pipeline schedule): a queue, drained as it is filled, not a pile.
  [[nodiscard]] bool drained_as_a_queue(const Store& store) const;
  // `expr` reads a tensor's shape, itself or through up to three names bound from one.
  [[nodiscard]] bool computed_from_a_shape(TSNode expr, ScopeId scope, int depth) const;
  // The store sits under an `if` testing the container's length (`if len(samples) < 8:`): it
  // stops growing.
  [[nodiscard]] bool bounded_by_length(const Store& store) const;
  // A loop that feeds each pass its own earlier output (`inp = frames[-1]`, or a state rebound from
  // a call that takes it, until a `break`): one generation, whose recurrence already holds every
  // step's graph.
  [[nodiscard]] bool feeds_its_output_back(LoopId loop) const;
  // The stored value is the next step's input in the same loop, which stops at an end token.
  [[nodiscard]] bool feeds_what_it_keeps(const Store& st) const;
  // A solver's trajectory: the state each step of a `range` loop rebinds from itself, kept per step.
  [[nodiscard]] bool keeps_the_state_it_integrates(const Store& st) const;
  // Step state (step_state.cpp): assignments to `self.x` or globals in per-step code.
  [[nodiscard]] std::vector<StepStateStore> per_step_state_stores() const;
  // Stores into one fixed slot (`self.state["loss"] = v`, a constant key) of a container kept on
  // `self.` or in a global, in per-step code with autograd on: replaced every step, never grown.
  [[nodiscard]] std::vector<StepStateStore> per_step_slot_stores() const;
  // `d["loss"] = v`, `buf[0] = v`: the key is a constant, so each pass replaces the same slot.
  [[nodiscard]] bool replaces_one_slot(const Store& store) const;
  // Code that back-propagates reads the attribute (`aux.loss` summed into the training loss):
  // it is used, not leaked. Never for a global, nor for an attribute assigned inside such code.
  [[nodiscard]] bool read_by_backprop_code(const StepStateStore& store) const;
  // `g_loss = sum(g_losses.values()); g_loss.backward(); self.g_losses = g_losses`: the function
  // keeping the value back-propagates it, which frees what its graph saved; what stays is the
  // step's own outputs until the next step replaces them.
  [[nodiscard]] bool backpropagated_where_kept(const StepStateStore& store) const;
  // `outs = []` then, per chunk, `out = loss_fn(model, chunk); outs.append(out);
  // out["loss"].backward()`: a list of the function's own whose entries it back-propagates as
  // they come; the backward frees what each graph saved and the list dies with the call.
  [[nodiscard]] bool kept_locally_after_its_backward(const Store& st) const;
  // `total = torch.zeros(n)` each optimisation step, then `total += loss` per term with each term
  // back-propagated: the running total is of one step and dies with it.
  [[nodiscard]] bool summed_locally_after_its_backward(const Accumulation& acc) const;
  [[nodiscard]] const Binding* made_where(std::string_view name, ScopeId at_scope, std::uint32_t at) const;
  [[nodiscard]] bool held_one_step_after_its_backward(TSNode holder, TSNode added, ScopeId at_scope, LoopId at_loop,
                                                      TSNode statement) const;
  // The name is read earlier in its function than this assignment: the value is carried into
  // the next call (a recurrent state), not merely kept.
  [[nodiscard]] bool read_before_assignment(const Binding& binding) const;
  [[nodiscard]] bool read_before_assignment(const StepStateStore& store) const;
  // `location = self.cum.unsqueeze(1)` ... `self.cum = self.cum + attn` in a module's forward: the
  // attribute `key`, written at `at`, is read earlier in that forward, so it is the forward's own
  // recurrent state (reset per sequence), whose graph the caller's loss back-propagates.
  [[nodiscard]] bool carried_through_forward(std::string_view key, std::uint32_t at) const;
  // `self.attn = scores; self.cum = self.cum + self.attn`: what the store keeps is read, later in
  // the same function, into such a carried state.
  [[nodiscard]] bool feeds_carried_state(const StepStateStore& store) const;
  // `self.attention_weights = alignment` in a module's method, where another method of the class
  // (`init_states`, not `__init__`) sets it to a fresh tensor (`torch.zeros(b, t)`): a state of
  // one sequence, started afresh by whoever runs the module.
  [[nodiscard]] bool reset_by_a_state_initialiser(const StepStateStore& store) const;
  // Constants (constants.cpp). Every value `expr` may take, when each is a constant the file
  // shows: literals, import paths (`torch.bfloat16`), names bound only to those (a module-level
  // constant no function rebinds, a local assigned on each branch, `self.x` set only in its own
  // class), both branches of a conditional expression (one, where its condition is decided),
  // `==`/`!=`/`not`/`and`/`or` of those, and `+` of strings. Nullopt where any possibility is
  // not: a call's result, a parameter (unless assumed at its default), an attribute of an object.
  [[nodiscard]] std::optional<std::vector<Constant>>
  possible_constants(TSNode expr, ConstantAssumption assume = ConstantAssumption::None) const;
  // The truth value `expr` has on every possibility; nullopt when undecided.
  [[nodiscard]] std::optional<bool> constant_truth(TSNode expr,
                                                   ConstantAssumption assume = ConstantAssumption::None) const;
  // `node` sits in a branch that cannot run: the body of an `if` (or a conditional expression's
  // branch) whose condition the constants decide the other way.
  [[nodiscard]] bool ruled_out_by_constants(TSNode node, ConstantAssumption assume = ConstantAssumption::None) const;
  // Precision (autocast.cpp): there is autocast, some autocast may run in `torch.bfloat16`, and
  // none may run in float16: every dtype is a constant the file shows (`constants.cpp`), each
  // bfloat16 or float32 (autocast to float32 is autocast off).
  [[nodiscard]] bool autocasts_only_to_bfloat16() const;
  // Training calls (training_calls.cpp): a call in the scope's body that fits, trains,
  // back-propagates or steps by its method's name (`trainer.fit`, `model.train()`, `.step()`),
  // whatever it resolves to.
  [[nodiscard]] bool calls_training_methods(ScopeId scope) const;

  struct Impl;

private:
  void summarize_calls_by_name(ModuleSummary& out) const;
  [[nodiscard]] bool is_untyped_method_call(const Call& c) const;
  void add_call_left_to_subclasses(const Call& c, const std::string& module, ModuleSummary& out) const;
  friend class ModelBuilder; // the one traversal records into the model (builder.hpp)
  void add_rollout_states(const std::vector<std::vector<BindingId>>& by_function,
                          std::vector<CarriedState>& result) const; // carried_state.cpp
  const SourceFile& m_source;
  std::vector<Scope> m_scopes;
  std::vector<Loop> m_loops;
  std::vector<Call> m_calls;
  std::vector<Accumulation> m_accumulations;
  std::vector<Store> m_stores;
  std::vector<EvalRegion> m_eval_regions;
  std::vector<TSNode> m_comments;
  std::optional<SyntaxProblem> m_syntax_problem;
  std::unique_ptr<Impl> m_impl;
};

} // namespace oomlint::model
