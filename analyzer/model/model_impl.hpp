#pragma once
// Internal state of the semantic model, shared by the builder (one traversal), the value
// evaluator and the post-traversal analyses. Not part of the rule-facing interface.
#include <algorithm>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <tree_sitter/api.h>

#include "analyzer/model/library.hpp"
#include "analyzer/model/model.hpp"
#include "analyzer/syntax/python_grammar.hpp"

namespace oomlint::model {

struct GradRegion {
  std::uint32_t start = 0;
  std::uint32_t end = 0;
  bool disabled = true;
};

struct ByteRange {
  std::uint32_t start = 0;
  std::uint32_t end = 0;
  [[nodiscard]] bool contains(std::uint32_t b) const { return b >= start && b < end; }
};

// A `.eval()` / `.train()` call on a module, in statement position.
struct ModeSwitch {
  TSNode statement{};
  TSNode call{};
  ScopeId scope = kNone;
  bool to_eval = true;
  std::uint32_t block_end = 0; // end of the block holding the statement
};

// A statement (a node directly in a block or the module), with the statement around it.
struct StatementSpan {
  std::uint32_t start = 0;
  std::uint32_t end = 0;
  std::uint32_t row = 0;
  std::int32_t parent = -1;
};

struct AccumulationCandidate {
  Accumulation acc;
};

struct StoreCandidate {
  Store store;
};

struct CallEdge {
  ScopeId caller = kNone;
  ScopeId callee = kNone;
  std::uint32_t at = 0;
  bool disabled_here = false;
  size_t call = 0; // the call making the edge, an index into the model's calls
};

// The class of a module value: one of this file (`scope`) or another module's (`qualified`).
struct ModuleClass {
  ScopeId scope = kNone;
  std::string qualified;
};

// Values are memoized only once final. A recursive evaluation that meets a binding (or function)
// still being evaluated is cut short with `unknown`; what is built on that cut depends on which
// question came first, so it is kept only once the evaluation that was cut short (the head of
// the cycle) finishes. A cut for depth leaves everything above it provisional.
struct EvaluationStack {
  static constexpr int kNoCut = std::numeric_limits<int>::max();
  static constexpr int kDepthCut = -1;
  int depth = 0;          // evaluations in progress
  int cut_below = kNoCut; // the shallowest evaluation in progress that a cut result depends on

  int push() { return depth++; }
  void cut_at(int frame) { cut_below = std::min(cut_below, frame); }
  // Ends `frame`'s evaluation; true where its value is final and may be memoized.
  bool pop(int frame) {
    --depth;
    const bool final_value = cut_below >= frame;
    if (final_value || depth == 0) {
      cut_below = kNoCut;
    }
    return final_value;
  }
};

struct Model::Impl {
  Impl(Model& model, const ModelOptions& opts);

  Model& m;
  const syntax::Grammar& g;
  std::string_view src;
  ModelOptions options;
  const ProjectContext* project = nullptr;

  std::vector<Binding> bindings;
  std::vector<std::unordered_map<std::string, std::vector<BindingId>>> scope_names;
  std::vector<GradRegion> regions;
  std::vector<std::int32_t> region_parent; // regions nest; built by index_for_queries()
  std::vector<StatementSpan> statements;   // in document order
  std::vector<ByteRange> periodic_guards;
  std::vector<std::pair<TSNode, ByteRange>> if_guards;     // condition, consequence
  std::vector<std::pair<TSNode, ByteRange>> else_branches; // condition, everything after the consequence
  std::vector<std::uint32_t> except_clauses;               // starts of `except` clauses, in document order
  std::vector<ModeSwitch> mode_switches;
  std::vector<Accumulation> accumulation_candidates;
  std::vector<Store> store_candidates;
  // Indices into store_candidates by the container's dotted name (`log_probs`, `self.buf`).
  std::unordered_map<std::string, std::vector<size_t>> stores_by_container;
  std::vector<CallEdge> edges;
  std::vector<std::vector<size_t>> edges_by_callee; // scope -> indices into edges
  std::vector<bool> function_has_loop;              // scope -> has a for/while loop (classify_loops)
  std::unordered_set<std::string> bound_anywhere;
  // Receivers of `.eval()`, `.parameters()`, ... : whatever they are bound to, they are modules.
  std::unordered_set<std::string> module_receivers;
  // The file imports another array framework (JAX, TensorFlow, ...) and not torch: its calls
  // are not torch forwards, and the model says nothing about its values.
  bool foreign_framework = false;
  bool imports_torch = false;
  bool imports_foreign = false;
  void note_framework(std::string_view qualified) {
    auto root_is = [&](std::string_view root) {
      return qualified == root ||
             (qualified.starts_with(root) && qualified.size() > root.size() && qualified[root.size()] == '.');
    };
    // transformers and diffusers serve JAX and TensorFlow too: they say nothing about the framework,
    // nor do torchvision's image transforms, which an MXNet script may borrow for its data.
    const bool transforms_only = qualified.starts_with("torchvision.transforms");
    if (root_is("torch") || root_is("lightning") || root_is("pytorch_lightning") || root_is("accelerate") ||
        root_is("timm") || (root_is("torchvision") && !transforms_only)) {
      imports_torch = true;
    } else if (root_is("jax") || root_is("flax") || root_is("tensorflow") || root_is("keras") || root_is("mlx") ||
               root_is("paddle") || root_is("optax") || root_is("haiku") || root_is("mxnet") || root_is("megengine") ||
               root_is("oneflow") || root_is("jittor") || root_is("mindspore") || root_is("chainer") ||
               root_is("tinygrad")) {
      imports_foreign = true;
    }
    foreign_framework = imports_foreign && !imports_torch;
  }
  std::vector<std::uint32_t> needs_grad_points; // requires_grad=True, requires_grad_(), ...

  mutable std::unordered_map<BindingId, Value> binding_memo;
  mutable std::unordered_map<ScopeId, Value> returns_memo;
  // Evaluations in progress (bindings and function returns), each with its place on the stack of
  // evaluations: a value computed while one of them was cut short for recursion is provisional.
  mutable std::unordered_map<BindingId, int> binding_busy;
  mutable std::unordered_map<ScopeId, int> returns_busy;
  mutable EvaluationStack evaluation_stack;
  mutable std::unordered_map<ScopeId, std::vector<bool>> params_memo;
  // While params_reaching_return() evaluates a function: the parameter taken as graph-carrying.
  mutable BindingId tainted_param = -1;
  mutable std::optional<bool> saves_from_cpu_memo;
  mutable std::unordered_map<ScopeId, bool> parameter_free_memo;         // classes, by scope
  mutable std::unordered_map<const Binding*, bool> frozen_argument_memo; // parameters, by binding
  bool has_self_freezing_class = false; // some class of this file freezes itself in `__init__`
  // Paths this module `torch.save`s to, when nothing in it puts tensors on an accelerator.
  mutable std::optional<std::unordered_set<std::string>> cpu_only_saves_memo;
  // Attribute names read in back-propagating code, found on the first question (step_state.cpp).
  mutable std::optional<std::unordered_set<std::string>> backprop_attribute_reads;
  [[nodiscard]] bool find_saves_from_cpu() const; // checkpoints.cpp
  // Built on first use by alloc_conf.cpp: most rules never ask.
  mutable std::optional<std::vector<AllocConfSetting>> alloc_conf_memo;

  // Modules whose parameters the code freezes (frozen_modules.cpp): found on the first question.
  struct FreezeMark {
    std::uint32_t at = 0;
    ScopeId owner = 0; // the function (0: the module) that freezes or unfreezes it
    bool frozen = false;
  };
  mutable std::optional<std::unordered_map<std::string, std::vector<FreezeMark>>> freeze_memo;
  [[nodiscard]] const std::unordered_map<std::string, std::vector<FreezeMark>>& freeze_marks() const;
  [[nodiscard]] std::string module_key(TSNode expr) const;
  [[nodiscard]] bool frozen_module(TSNode expr, std::uint32_t at) const;
  [[nodiscard]] bool forward_of_a_frozen_module(TSNode fn, std::uint32_t at) const;
  [[nodiscard]] bool unpickled(TSNode value) const;

  [[nodiscard]] bool uncalled_test_helper(ScopeId fn) const; // checkpoints.cpp
  mutable std::optional<bool> defines_test_cases;            // a test file with a test case in it

  // --- small syntax helpers (model_impl.cpp)
  [[nodiscard]] std::string_view text(TSNode n) const;
  [[nodiscard]] TSNode field(TSNode n, TSFieldId f) const { return ts_node_child_by_field_id(n, f); }
  [[nodiscard]] static bool null(TSNode n) { return ts_node_is_null(n); }
  [[nodiscard]] TSNode unparen(TSNode n) const;
  // `a.b.c` for identifier/attribute chains, empty otherwise.
  [[nodiscard]] std::string dotted(TSNode n) const;
  // The last name of a callee: `f` in `f(...)`, `m` in `x.y.m(...)`.
  [[nodiscard]] std::string_view last_name(TSNode n) const;

  // --- building: one ModelBuilder traversal (builder.hpp); bindings in builder_bindings.cpp
  void build(TSNode root);
  BindingId add_binding(Binding b);
  void bind_targets(TSNode target, TSNode value, BindingKind kind, ScopeId scope, LoopId loop, std::uint32_t stmt_start,
                    std::uint32_t visible_from, int element);

  // --- names (evaluate.cpp)
  [[nodiscard]] const Binding* lookup(std::string_view name, ScopeId scope, std::uint32_t pos) const;
  // The binding of `name` in the table of function `owner` whose statement starts last before
  // `at`; with `whole_assignment_only`, only plain `name = value` statements count (not tuple
  // elements, loops or augmented assignments). One table lookup: never a scan of every binding.
  [[nodiscard]] const Binding* last_binding_before(const std::string& name, ScopeId owner, std::uint32_t at,
                                                   bool whole_assignment_only) const;
  [[nodiscard]] std::vector<const Binding*> self_attribute_bindings(std::string_view key, ScopeId scope) const;
  [[nodiscard]] std::string resolve_qualified(TSNode n, ScopeId scope) const;
  // The qualified name of the callee that made the receiver of `x.m(...)` (`x = Agent(...)`),
  // empty when the receiver is not a name bound to a call.
  [[nodiscard]] std::string class_of_instance(const Call& call) const;
  [[nodiscard]] Value eval(TSNode n, ScopeId scope, int depth) const;
  [[nodiscard]] Value eval_binding(BindingId id, int depth) const;
  [[nodiscard]] Value eval_call(TSNode call, ScopeId scope, int depth) const;
  [[nodiscard]] Value eval_call_kind(TSNode call, ScopeId scope, int depth) const;
  [[nodiscard]] Value function_returns(ScopeId fn, int depth) const;
  [[nodiscard]] Value with_numbers_its_forward_returns(Value output, ScopeId cls, int depth) const;
  void add_stores_through_helpers();
  [[nodiscard]] std::vector<BindingId> positional_parameter_bindings(ScopeId fn) const;
  [[nodiscard]] std::vector<std::string_view> positional_parameters(ScopeId fn) const;
  [[nodiscard]] bool built_by_a_meter_class(const std::string& name, ScopeId scope, std::uint32_t at) const;
  // Per positional parameter of `fn`: whether a graph-carrying argument there makes its return
  // value carry the graph (`def soft_accuracy(logits, y): return logits.softmax(1)...`).
  [[nodiscard]] const std::vector<bool>& params_reaching_return(ScopeId fn, int depth) const;
  // The value of a call of local function `fn` whose own return is unknown, given its
  // arguments: graph-carrying when such an argument reaches the return; nullopt otherwise.
  [[nodiscard]] std::optional<Value> returned_through_arguments(ScopeId fn, TSNode args, ScopeId scope,
                                                                int depth) const;
  [[nodiscard]] Value annotated_parameter(const Binding& b) const;
  [[nodiscard]] Value name_heuristic(std::string_view name) const;
  // `Model(...)` where `Model` is a parameter or unbound: a class being built, not a forward
  // (a class-style name bound to an instance, `Enc1 = Encoder()`, is still called as a module).
  [[nodiscard]] bool builds_by_class_style(TSNode callee, ScopeId scope) const;
  [[nodiscard]] bool names_a_class_factory(const Binding& b) const;
  [[nodiscard]] bool binds_a_function(const Binding& b) const;
  [[nodiscard]] Value fetched_attribute(TSNode args, ScopeId scope, int depth) const;
  [[nodiscard]] bool fetches_a_method(const Binding& b) const;
  [[nodiscard]] std::vector<std::string> grad_disabled_methods(ScopeId cls) const;
  [[nodiscard]] ModuleClass class_built_by(TSNode value, ScopeId scope, int depth = 0) const;
  [[nodiscard]] bool builds_no_graph_for_its_caller(ScopeId fn) const;
  [[nodiscard]] bool class_freezes_itself(ScopeId cls) const;
  [[nodiscard]] ModuleClass class_returned_by(TSNode callee, ScopeId scope) const;
  [[nodiscard]] ModuleClass class_every_return_builds(ScopeId fn) const;
  [[nodiscard]] bool forward_of_a_self_freezing_class(TSNode fn, std::uint32_t at) const;
  [[nodiscard]] bool frozen_by_the_code(TSNode fn, std::uint32_t at) const;
  [[nodiscard]] bool frozen_by_every_caller(TSNode name, std::uint32_t at) const;
  [[nodiscard]] bool returns_only_without_grad(ScopeId fn) const;
  // The library fact of a tokenizer-only keyword the call passes (`return_tensors="pt"`), if any.
  [[nodiscard]] const library::Fact* tokenizer_keyword_in(TSNode args) const;
  [[nodiscard]] ModuleClass class_named(TSNode name, ScopeId scope) const;
  [[nodiscard]] ModuleClass class_of_module(TSNode expr, ScopeId scope, int depth) const;
  [[nodiscard]] bool calls_a_grad_disabled_method(const Call& c) const;
  [[nodiscard]] bool calls_a_parameter_free_layer(const Call& c) const;
  [[nodiscard]] bool loop_breaks(const Loop& l) const;
  [[nodiscard]] bool returns_a_number_somewhere(ScopeId fn, int depth) const;
  [[nodiscard]] bool forward_may_return_a_number(TSNode instance, ScopeId scope, int depth) const;
  [[nodiscard]] bool forward_returns_a_number(TSNode instance, ScopeId scope, int depth) const;
  void add_external_bases(ScopeId cls, const ProjectContext& context, std::vector<std::string>& out) const;
  [[nodiscard]] bool tests_for_a_number(TSNode condition, TSNode subject) const;
  [[nodiscard]] bool casts_to_an_integer_dtype(std::string_view method, TSNode args) const;
  // `x.sum(1)`, `x.mean(dim=0)`: a reduction along some dimensions, which leaves a tensor.
  [[nodiscard]] bool reduces_along_a_dim(TSNode args) const;
  [[nodiscard]] std::vector<const Call*> restores_after(ScopeId fn, std::uint32_t at) const;
  [[nodiscard]] bool is_test_function(ScopeId fn) const;
  [[nodiscard]] bool made_by_the_standard_library(const Binding& b) const;
  // `class Encoder:` or `class Encoder(object):`: no base that could make it a module.
  [[nodiscard]] bool derives_from_nothing(ScopeId cls, int depth = 0) const;
  // `class TrainerXU(SimpleTrainer)` over `class SimpleTrainer(TrainerBase)` in one file: `cls` is
  // `base` or derives from it through classes defined here.
  [[nodiscard]] bool derives_here_from(ScopeId cls, ScopeId base, int depth = 0) const;
  [[nodiscard]] bool derives_only_from_the_run(ScopeId cls, const ProjectContext& context,
                                               std::vector<std::string>& out, int depth = 0) const;
  // `-25`, `0.5`, `"mel"`, `True`, `None`: a default that is a plain setting, never a module.
  [[nodiscard]] bool is_literal_setting(TSNode value) const;
  void summarize_reexports(const ProjectContext& context, ModuleSummary& out) const;
  [[nodiscard]] bool overrides_a_validation_hook(ScopeId fn) const;
  [[nodiscard]] bool is_test_class(ScopeId cls) const;
  [[nodiscard]] bool disabled_at(std::uint32_t byte, ScopeId scope) const;
  [[nodiscard]] ScopeId enclosing_function(ScopeId scope) const;
  // The function holding a scope, or the module (0) at top level: where facts are recorded.
  [[nodiscard]] ScopeId owner_scope(ScopeId scope) const;
  [[nodiscard]] ScopeId local_callee(TSNode function, ScopeId scope) const;
  [[nodiscard]] std::vector<ScopeId> local_callees_picked(TSNode function, ScopeId scope) const;
  [[nodiscard]] bool class_holds_no_parameters(ScopeId cls, int depth = 0) const;
  [[nodiscard]] bool class_builds_no_parameters(ScopeId cls, int depth) const;
  [[nodiscard]] bool base_holds_no_parameters(ScopeId cls, int depth) const;
  [[nodiscard]] bool stores_on_self(TSNode node) const;
  [[nodiscard]] std::vector<ScopeId> methods_reached_through_self(TSNode function, ScopeId scope) const;
  void collect_picked_functions(TSNode value, ScopeId scope, int depth, std::vector<ScopeId>& out) const;
  // The class derives from nn.Module (or a Lightning/Hugging Face model class) by its bases.
  [[nodiscard]] bool class_is_module_like(ScopeId cls) const;
  // The method `name` defined in class `cls`, or kNone.
  [[nodiscard]] ScopeId method_of(ScopeId cls, std::string_view name) const;
  // What a function returns, as another module sees it (grad per tuple element, kind).
  [[nodiscard]] FunctionSummary returns_summary(ScopeId fn) const;
  // The value a call of another module's function (or of an object of its callable class) gives.
  [[nodiscard]] Value value_from_summary(const FunctionSummary& f) const;
  // What calling an object of a callable class returns (its `__call__`).
  [[nodiscard]] Value call_of_instance(const Value& instance, int depth) const;
  // The summary of a function in another module of the run, by its qualified name.
  [[nodiscard]] const FunctionSummary* project_function(std::string_view qualified) const;

  // --- analyses (analysis.cpp)
  // Sorts what the builder recorded so that position queries are logarithmic, not linear.
  void index_for_queries();
  void analyse();
  void resolve_calls();
  void compute_function_facts();
  void classify_loops();
  // cuda_init.cpp
  [[nodiscard]] bool names_cuda_device(TSNode expr, ScopeId scope) const;
  [[nodiscard]] bool call_initialises_cuda(const Call& call) const;
  // Some caller of `fn` (directly, or through callers that pass its result on) runs a backward.
  // A `range(...)` over the size of one batch, not over batches.
  [[nodiscard]] bool counts_within_one_batch(TSNode range_call) const;
  [[nodiscard]] bool chunks_one_batch(TSNode range_call) const;
  [[nodiscard]] bool iterates_data_by_name(const Loop& l) const;
  [[nodiscard]] bool walks_a_dataset(TSNode range_call, ScopeId scope) const;
  [[nodiscard]] bool sizes_what_the_outer_pass_drew(const Loop& l, TSNode stop) const;
  [[nodiscard]] std::vector<bool> loops_drawing_a_batch() const;
  [[nodiscard]] bool draws_a_batch(const Call& c) const;
  [[nodiscard]] bool class_is_plain_torch_module(ScopeId cls) const;
  void mark_structural_step_methods();
  void mark_loss_methods();
  [[nodiscard]] std::unordered_map<std::string_view, std::vector<std::size_t>> method_calls_by_name() const;
  [[nodiscard]] bool arguments_fit(const Scope& method, const Call& c) const;
  [[nodiscard]] bool is_empty_list_literal(TSNode n) const;
  [[nodiscard]] TSNode element_node(const Binding& b) const;
  [[nodiscard]] Value appended_into(const Binding& b, int depth) const;
  void additive_terms(TSNode expr, std::vector<std::string_view>& out, int depth) const;
  [[nodiscard]] bool is_term_of_backpropagated_loss(std::string_view name, ScopeId owner) const;
  [[nodiscard]] bool iterates_model_output(const Loop& l) const;
  // `fn` is a module's forward: `forward`, `*_forward`, or `__call__` of an nn.Module class.
  [[nodiscard]] bool is_module_forward(ScopeId fn) const;
  [[nodiscard]] bool forward_of_a_module_class(ScopeId fn) const;
  // Some binding of `owner` after `after`, computed from `name` (other than `name` itself),
  // passes `test`.
  // Per scope: the words each binding's value mentions (not after a dot) -> those bindings.
  mutable std::vector<std::optional<std::unordered_map<std::string_view, std::vector<BindingId>>>> mention_index;
  [[nodiscard]] const std::unordered_map<std::string_view, std::vector<BindingId>>& mentions_in(ScopeId owner) const;
  [[nodiscard]] bool any_binding_computed_from(std::string_view name, ScopeId owner, std::uint32_t after,
                                               const std::function<bool(const Binding&)>& test) const;
  // `name` (bound in function `owner`) is returned after `after`, directly or through up to
  // `depth` local bindings computed from it.
  [[nodiscard]] bool returned_from(std::string_view name, ScopeId owner, std::uint32_t after, int depth) const;
  [[nodiscard]] bool has_callers(ScopeId fn) const;
  [[nodiscard]] bool runs_a_forward_for_its_caller(const Call& c) const;
  [[nodiscard]] bool runs_patched_parts(const Call& c, ScopeId fn) const;
  [[nodiscard]] bool flag_off_by_default(TSNode cond, ScopeId scope) const;
  void drop_helpers_reported_in_their_own_region();
  [[nodiscard]] bool iterates_a_range(const Loop& l) const;
  [[nodiscard]] bool escapes_as_a_closure(ScopeId fn) const;
  [[nodiscard]] bool result_back_propagated_by_caller(ScopeId fn, int depth) const;
  [[nodiscard]] bool is_parameter_of(std::string_view name, ScopeId fn) const;
  [[nodiscard]] bool reads_only_options(TSNode cond, ScopeId fn, bool through_locals) const;
  [[nodiscard]] bool set_once_from_options(std::string_view name, ScopeId fn) const;
  [[nodiscard]] bool is_option_condition(TSNode cond, ScopeId fn) const;
  void mark_cuda_initialising_functions();
  [[nodiscard]] const Call* cuda_started_before(std::uint32_t at, int depth) const;
  // The CUDA start in the `__init__` of the class of method `fn`, which has run before `fn` can.
  [[nodiscard]] const Call* started_by_constructor(ScopeId fn, int depth) const;
  [[nodiscard]] bool is_retry_loop(const Loop& l) const;
  void mark_cache_emptying_calls();
  [[nodiscard]] bool is_torch_device_module(TSNode receiver, ScopeId scope) const;
  void finish_accumulations_and_stores();
  void find_eval_regions();
  [[nodiscard]] bool iterates_evaluation_data(const Loop& l) const;
  void add_eval_region(ScopeId fn, ByteRange span, TSNode anchor, std::string reason, std::vector<bool>& covered);
  void find_evaluation_loops(std::vector<bool>& covered,
                             const std::function<bool(ScopeId)>& grad_mode_chosen_elsewhere);
  void find_periodic_sampling();
  // The `if __name__ == "__main__":` block of a script that restores trained weights and trains
  // nothing anywhere, with the functions it calls directly: inference, by what the file does.
  void find_inference_script();
  [[nodiscard]] bool file_trains() const;
  // Methods of this file's nn.Modules that run a layer of theirs and return (`pi`, `q`, `act`).
  [[nodiscard]] std::unordered_set<std::string> methods_running_a_forward() const;
  [[nodiscard]] bool in_eval_region_of(ScopeId fn) const;
  [[nodiscard]] std::pair<size_t, size_t> calls_in(std::uint32_t start, std::uint32_t end) const;
  [[nodiscard]] bool training_signal_in(ScopeId fn, std::uint32_t start, std::uint32_t end) const;
  void collect_forwards(EvalRegion& r, ScopeId fn) const;
  [[nodiscard]] bool in_periodic_guard(std::uint32_t at) const;
  [[nodiscard]] bool flows_into_backward(std::string_view name, ScopeId owner, int depth) const;
  [[nodiscard]] bool result_flows_into_backward(const Call& c) const;
  [[nodiscard]] bool result_back_propagated_by_a_caller(ScopeId fn) const;
  [[nodiscard]] bool trained_by_other_modules(const Scope& sc) const;
  [[nodiscard]] bool is_stub(ScopeId fn) const;
  [[nodiscard]] ModuleClass class_declared_in_the_class_body(TSNode attribute, ScopeId scope) const;
  [[nodiscard]] bool call_builds_no_parameter(TSNode call, ScopeId scope) const;
  [[nodiscard]] bool passes_a_module_with_nothing_to_train(const Call& c, ScopeId callee, const Call& inner) const;
  [[nodiscard]] bool returns_only_constants(ScopeId fn) const;
  [[nodiscard]] bool stored_on_self(TSNode n, TSNode body) const;
  [[nodiscard]] ProjectFacts::Incoming incoming_from_bases(const Scope& method) const;
  // `name` is read in its function before byte `at` (outside `global`/`nonlocal` declarations).
  [[nodiscard]] bool mentioned_before(std::string_view name, std::uint32_t at) const;
  [[nodiscard]] bool called_only_periodically(ScopeId fn) const;
  [[nodiscard]] LoopId outlived_loop(std::string_view key, ScopeId scope, LoopId loop, std::uint32_t at) const;
  [[nodiscard]] LoopId outlived_step_loop(std::string_view key, ScopeId scope, LoopId loop, std::uint32_t at) const;
};

// Naming vocabularies (names.cpp).
namespace names {
bool is_model_name(std::string_view name, const ModelOptions& options);
bool is_loss_name(std::string_view name, const ModelOptions& options);
bool is_optimizer_name(std::string_view name);
// `model_backward_and_update`, `backward_and_step`: a helper that back-propagates the loss it is given.
bool names_a_backward_helper(std::string_view method);
bool is_class_style(std::string_view name);
// A measurement or a count by its name (`generation_time`, `num_tokens`).
bool is_measurement_name(std::string_view name);
bool is_numeric_setting_name(std::string_view name);
bool names_an_evaluation_of_inputs(std::string_view name);
// `accuracy`, `top1_acc`, `num_correct`: a count of right answers, which no gradient flows through.
bool is_accuracy_name(std::string_view name);
bool is_meter_name(std::string_view name);
bool is_loader_name(std::string_view expr_text);
// `validation_dataloader`, `enumerate(test_loader)`, `val_dataset`: data held out for evaluation.
bool names_evaluation_data(std::string_view expr_text);
bool is_step_count_name(std::string_view expr_text);
bool is_phase_name(std::string_view name);
bool is_eval_function_name(std::string_view name, bool& needs_loop);
bool is_train_function_name(std::string_view name);
// `forward`, or a replacement such as `hacked_block_forward`.
bool is_forward_method(std::string_view name);
// The arguments of a `.to(...)` name the CPU as the target (`"cpu"`, `device="cpu"`, `cpu_device`).
bool names_the_cpu(std::string_view to_arguments);
// `is_torch_version(">=", "1.11")`, `version.parse(torch.__version__) >= ...`
bool is_torch_version_test(std::string_view condition);
bool is_per_step_method(std::string_view name);
bool is_framework_eval_step(std::string_view name);
// `args.batches`, `self.cfg.batch_sizes`: what a run was configured with (a list of settings to
// sweep), not data to step through, whatever the attribute is called.
bool is_setting_of_a_run(std::string_view dotted);
// `codecs`, `json`, `subprocess`: a module of Python's standard library that makes no models
// (`copy` and `pickle`, which can hand one back, are not listed).
bool is_standard_library_module(std::string_view root);
bool is_grad_disabling_decorator_name(std::string_view name, const ModelOptions& options);
bool is_torch_loss_function(std::string_view qualified);
bool is_torch_loss_class(std::string_view qualified);
// torch.nn layers without parameters (`Upsample`, `ReLU`, pools, dropouts): their output carries a
// graph only when their input does.
bool is_parameter_free_layer(std::string_view qualified);
// A decoder's key/value cache kept on its module (`self.cache_k`, `self.kv_cache`,
// `self.past_key_values`): carried from call to call by design while generating, bounded by the
// sequence and reset per generation.
bool is_decoding_cache_name(std::string_view name);
bool is_grad_killing_method(std::string_view method);
bool is_module_returning_method(std::string_view method);
// `self.dtype(1)`, `self.tensor_type(n)` with `dtype=torch.FloatTensor`: a legacy tensor type called
// to allocate, not a module.
bool names_a_tensor_type(std::string_view name);
bool is_forward_like_method(std::string_view method);
// `decode_first_stage`, `encode_image`, `forward_backbone`: a pass through a part of the model,
// often decorated `no_grad` where it is defined, so only its output's device is taken from it.
bool is_part_forward_method(std::string_view method);
// `log`, `logging_output`, `metrics`, `stats`: a record for logging, returned beside an output.
bool is_logging_record_name(std::string_view name);
bool is_metadata_attribute(std::string_view attr);
} // namespace names

} // namespace oomlint::model
