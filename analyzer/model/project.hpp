#pragma once
// Project-wide facts (DESIGN §5, "later: per project"): each module's functions summarised once
// (returns a grad-carrying value, runs grad-disabled, back-propagates, ...) and the calls it
// makes into other modules of the run, so that a helper imported from `.losses` or `utils` is
// understood as well as one in the same file.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "analyzer/model/value.hpp"

namespace oomlint::model {

struct FunctionSummary {
  Grad returns = Grad::Unknown;
  Kind returns_kind = Kind::Unknown;
  std::vector<Grad> elements; // per element of a tuple return
  bool grad_disabled = false;
  bool backprops = false;
  bool steps_optimizer = false;
  bool needs_grad = false;
  bool per_step_method = false;
  bool has_loop = false;
  bool module_class = false; // a class deriving from nn.Module: calling it makes a model
  // A class that is not an nn.Module but defines `__call__`: calling the class makes an object,
  // and calling the object returns what `returns`/`elements` say (`ComputeLoss(model)(p, t)`).
  bool callable_class = false;
  // A class of its own (`class Encoder:`, `class Encoder(object):`), neither an nn.Module nor
  // callable: calling it makes a plain object, whose methods run no forward (`encoder.encode(line)`).
  bool plain_class = false;
  // A module class whose `__init__` builds nothing to train (settings, parameter-free layers).
  bool parameter_free = false;
  // A class whose bases are all plain here or classes of other modules of the run (`class
  // HFDecoderModel(DecoderModel, Tunable)`, each imported): their qualified names. Once the run's
  // facts are in, it is a plain class when they all are, whatever its name says.
  std::vector<std::string> bases_elsewhere;
  // A module class whose `__init__` freezes it (`self.requires_grad_(False)`): its forward builds
  // no graph of its own wherever it is called.
  bool frozen_class = false;
  // A factory function: the qualified class of the object every return builds (`return
  // FrozenAutoencoderKL(ddconfig)` in `libs.autoencoder.get_model`); empty when unknown.
  std::string returns_instance_of;
  bool empties_cache = false; // each call empties the CUDA caching allocator
  // A module class whose forward returns a Python number on some path (`return total_loss` beside
  // `return total_loss, images`): what a call gives is no known tensor.
  bool may_return_a_number = false;
};

struct CallSite {
  std::string target; // qualified name of the callee in another module
  bool disabled = false;
  bool in_loop = false;
};

struct ModuleSummary {
  std::string module;
  std::unordered_map<std::string, FunctionSummary> functions; // by top-level name
  std::vector<CallSite> external_calls;
  // Methods of this module's classes that nothing in it calls and that run with autograd on
  // (`DPM_Solver.sample`): their callers elsewhere decide their grad mode (`Class.method`).
  std::vector<std::string> uncalled_methods;
  // Every top-level class, with its methods that run without autograd themselves
  // (`@torch.inference_mode()` on `forward`, `@torch.no_grad()` on `encode`): calling them builds
  // no graph. A class with none is listed too, so that a second module of the same name can say so.
  std::map<std::string, std::vector<std::string>> grad_disabled_methods;
  // Base classes imported from other modules of the run (`class FCOS(DenseDetector)`): whether
  // they are nn.Modules decides what this module's classes are.
  std::vector<std::string> external_bases;
  // A package's `__init__.py` importing names from its own modules (`from .mask_decoder import
  // MaskDecoder`): `pkg.modeling.MaskDecoder` is `pkg.modeling.mask_decoder.MaskDecoder`.
  std::vector<std::pair<std::string, std::string>> reexports;
  // Names (hashed with `name_key`) of this module's functions and methods that take gradients
  // themselves (`torch.autograd.grad`, `backward`, `enable_grad`), and for each function or method
  // the method names it calls on objects (`self.rtc.denoise_step(...)`): a call by name of a method
  // that takes gradients, in any module of the run, may take them too.
  std::vector<std::uint64_t> grad_taking;
  std::vector<std::pair<std::uint64_t, std::vector<std::uint64_t>>> calls_by_name;
  // Calls `policy.predict_action(obs)` on receivers the model cannot type, by method name (hashed
  // with `name_key`): how many, and how many of them run grad-disabled. A method of another
  // module's class that nothing there calls takes its grad mode from them.
  std::vector<std::pair<std::uint64_t, std::pair<int, int>>> untyped_method_calls;
  // Methods named for evaluation (hashed with `name_key`) whose results a function here
  // back-propagates (`values, logp, ent = self.policy.evaluate_actions(...)` in a PPO update).
  std::vector<std::uint64_t> trained_method_names;
  // Has what values flow into (accumulations, stores, step loops, per-step methods): a helper's
  // grad-carrying result can change its findings.
  bool value_sensitive = false;
  // Has what loop kinds decide (accumulation or store candidates, empty_cache, backward calls):
  // a helper that back-propagates or loops can change its findings when called in a loop.
  bool loop_sensitive = false;
  bool had_findings = false; // set by the driver: facts that only remove findings matter then
  // Whether phase 2 could need this module's tree, judged before the run's facts are known.
  [[nodiscard]] bool may_need_second_look() const;
};

class ProjectFacts {
public:
  struct Incoming {
    int sites = 0;
    int disabled = 0;
  };
  void add(const ModuleSummary& summary);
  // The same, taking the module's function summaries rather than copying them.
  void add(ModuleSummary&& summary);
  [[nodiscard]] const FunctionSummary* function(std::string_view qualified) const;
  [[nodiscard]] Incoming incoming(std::string_view qualified) const;
  // The run's calls of `x.method(...)` on receivers of no known class.
  [[nodiscard]] Incoming incoming_by_name(std::string_view method) const;
  // `pkg.model.Transformer` and `forward`: whether that method runs without autograd in every
  // module of the run that defines the class.
  [[nodiscard]] bool method_runs_without_grad(std::string_view cls, std::string_view method) const;
  // Whether this module would be analysed differently with the project's facts than alone.
  [[nodiscard]] bool matters_for(const ModuleSummary& summary) const;
  [[nodiscard]] bool empty() const { return m_functions.empty(); }
  // Once every module is added: which method names reach one that takes gradients, through the
  // calls by name of the whole run.
  void finish();
  [[nodiscard]] bool method_may_take_gradients(std::string_view method) const;
  // Whether any class of the run freezes itself (a cheap test before resolving a call's class).
  [[nodiscard]] bool has_frozen_classes() const { return m_has_frozen_classes; }
  // Whether some module of the run back-propagates what a method of this name returns.
  [[nodiscard]] bool method_trained_by_name(std::string_view method) const;
  // Names that modules outside any package are imported by (`decision_transformer.evaluation.
  // evaluate_episodes` for `evaluate_episodes`, run from the folder above): each maps to the
  // module's own name. Set before modules are added; names two modules share are left out.
  void set_namespace_aliases(std::unordered_map<std::string, std::string> aliases);

private:
  std::unordered_map<std::string, FunctionSummary> m_functions;
  std::unordered_map<std::string, std::string> m_reexports;                   // `pkg.Name` -> where `Name` is defined
  std::unordered_map<std::string, std::vector<std::string>> m_star_reexports; // `pkg` -> `from .x import *` targets
  std::unordered_map<std::string, Incoming> m_incoming;
  std::unordered_map<std::uint64_t, Incoming> m_incoming_by_name;
  std::unordered_set<std::uint64_t> m_trained_by_name;
  std::unordered_map<std::string, std::vector<std::string>> m_grad_disabled_methods;
  std::unordered_set<std::uint64_t> m_grad_taking;
  std::unordered_map<std::uint64_t, std::vector<std::uint64_t>> m_callers_by_name; // callee -> callers, until finish()
  std::unordered_map<std::string, std::string> m_aliases;
  bool m_has_frozen_classes = false;
  std::unordered_set<std::string> m_alias_roots; // first components of the aliases
  // `decision_transformer.evaluation.evaluate_episodes.evaluate_episode` ->
  // `evaluate_episodes.evaluate_episode`; other names unchanged.
  [[nodiscard]] std::string canonical(std::string_view qualified) const;
  // Where the function or class `qualified` names is defined, through re-exports; empty if unknown.
  [[nodiscard]] std::string defining_key(std::string_view qualified) const;
  void fold_incoming_through_reexports();
  void add_calls_by_name(const ModuleSummary& summary);
  void settle_plain_classes();
  void add_function(std::string qualified, FunctionSummary f);
  void add_grad_disabled_methods(const ModuleSummary& summary);
  void add_reexports(const ModuleSummary& summary);
};

// What a model needs to know about the run it is part of.
struct ProjectContext {
  std::string module;      // this file's dotted module name (`pkg.train`)
  bool is_package = false; // an `__init__.py`
  // First components of the run's module names: one set shared by every module of the run (a
  // copy each would grow with the square of the number of files).
  std::shared_ptr<const std::unordered_set<std::string>> local_roots;
  const ProjectFacts* facts = nullptr;
  [[nodiscard]] bool is_local_root(const std::string& root) const {
    return local_roots != nullptr && local_roots->count(root) != 0;
  }
};

// A function or method name as the run's facts key it.
std::uint64_t name_key(std::string_view name);

// The dotted module name of a file: its path below the first folder without `__init__.py`.
std::string module_name_for(const std::filesystem::path& file, bool& is_package);

// For a module outside any package (`gym/decision_transformer/evaluation/evaluate_episodes.py`,
// no `__init__.py`): the names a script in a folder above imports it by, nearest first
// (`evaluation.evaluate_episodes`, `decision_transformer.evaluation.evaluate_episodes`, ...).
std::vector<std::string> namespace_aliases(const std::filesystem::path& file);

// `.losses` seen from `pkg.train` -> `pkg.losses`.
std::string absolute_import(std::string_view relative, const ProjectContext& context);

} // namespace oomlint::model
