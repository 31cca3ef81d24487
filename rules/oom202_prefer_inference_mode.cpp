// OOM202 prefer-inference-mode: `torch.no_grad()` where nothing computed re-enters autograd, so
// `torch.inference_mode()` would do the same with less bookkeeping.
#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM202",
    .name = "prefer-inference-mode",
    .severity = Severity::Info,
    .default_enabled = false,
    .fix = FixAvailability::Sometimes,
    .summary = "torch.no_grad() where torch.inference_mode() would do",
    .what = "Finds `with torch.no_grad():` blocks (also beside other context managers, `with torch.no_grad(), "
            "torch.autocast(...):`) and `@torch.no_grad()` / `@torch.no_grad` functions whose tensors never go "
            "back into autograd: the function runs no backward, needs no gradients and switches to `.train()` at "
            "most to restore the mode after the block, and the block changes no parameters or buffers in place.",
    .why = "`inference_mode` is `no_grad` without the version counters and view tracking autograd would need if "
           "the tensors came back into a graph: slightly faster and a little leaner in evaluation and serving "
           "code. Both free the activations the same way; this is a tidy-up, not a leak.",
    .example = "with torch.no_grad():\n    logits = model(x)\n",
    .use_instead = "with torch.inference_mode():\n    logits = model(x)\n",
    .fine_when = "The block updates parameters or buffers in place (EMA weights, weight init, clipping), moves, "
                 "swaps or rebuilds a module's state (`model.to(device)`, `register_buffer`, `w.data = ...`, a class "
                 "attribute that later forwards read (`Attention.mask = ...`, `cls.cache = ...`), block "
                 "swapping or offloading), makes a new `nn.Parameter` of what it computes, traces or exports the "
                 "model (`torch.jit.trace`, `torch.onnx.export`), iterates "
                 "`parameters()`, sets `requires_grad`, calls `torch.enable_grad()`, or its function "
                 "back-propagates, needs gradients or goes on training after `.train()` (module-level code of a "
                 "training script too); the function "
                 "is an optimizer's `step`, a per-step method (`compute_loss`, `training_step`) or a module's "
                 "`forward`, or a caller in the file trains with what it returns (text embeddings for a trained "
                 "UNet, a teacher's logits for a distillation loss): tensors made under `inference_mode` cannot "
                 "be saved for backward later. Nor when the block calls, on an object, a method whose name reaches "
                 "one that takes gradients somewhere in the run (`policy.predict_action_chunk(x)` whose guidance step "
                 "runs `torch.enable_grad()` and `torch.autograd.grad` in another module): `enable_grad` cannot "
                 "lift inference mode, and which class the object is the names do not say. Test code (every "
                 "function of a `test_*.py`, `*_test.py` or `conftest.py` that holds a test case) is left alone: a "
                 "test's `no_grad` is often what it tests.",
    .fix_safety = "Unsafe: a tensor created under `inference_mode` raises when it is later used in autograd or "
                  "modified in place outside it. The rewrite is offered only where the values stay in code that "
                  "never trains: not when the function returns them to callers the file does not show (they may "
                  "train with them or change them in place), even when its name says it evaluates; a function "
                  "named for evaluation (`evaluate`, `validate`, `predict`) whose callers are in the file, and a "
                  "framework's validation step, do get it. Not in a module that imports DeepSpeed, FSDP or fairscale "
                  "either: under ZeRO-3 or FSDP the forward gathers parameters, and parameters gathered under "
                  "`inference_mode` cannot train afterwards.",
    .options = {},
    .measured = "",
    .references = "https://pytorch.org/docs/stable/generated/torch.autograd.grad_mode.inference_mode.html",
};

std::optional<Fix> rename_fix(const model::Model& m, const model::NoGradRegion& region) {
  // Sharded parameters gathered inside the block would come back as inference tensors.
  if (!region.rename || m.imports_a_parameter_sharder()) {
    return std::nullopt; // `no_grad()` imported by name: the import would need changing too
  }
  if (region.results_leave_unseen) {
    return std::nullopt; // a caller we cannot see might train with what it returns
  }
  return replace_node(*region.rename, "inference_mode", Applicability::Unsafe, "Use `torch.inference_mode()`");
}

// At most this many call sites are named in the notes.
constexpr std::size_t kMaxCallSiteNotes = 3;

// What a call site of the region's function tells: whether its caller trains, and if it does,
// why what it gets back is still not trained through.
std::string call_site_note(const model::Model& m, const model::NoGradRegion& region, const model::Call& call) {
  const std::string_view name = m.scope(region.function).name;
  const model::ScopeId caller = m.function_at(call.node);
  const model::FunctionFacts& facts = m.scope(caller == model::kNone ? 0 : caller).facts;
  const std::string from = caller == model::kNone ? "module-level code" : fmt::format("`{}`", m.scope(caller).name);
  if (!facts.backprops && !facts.needs_grad && !facts.steps_optimizer) {
    return fmt::format("called here, from {}, which runs no backward and steps no optimizer", from);
  }
  if (!region.returns_values) {
    return fmt::format("called here, from {}; `{}` returns nothing, so what it computes stays inside it", from, name);
  }
  return fmt::format("called here, from {}, which trains; `{}` is evaluation code by its name, so what it returns "
                     "is taken for metrics, not for a loss",
                     from, name);
}

// Why nothing made here re-enters autograd, as far as the file shows: what the block does not
// touch, what its function (or the module) does not do, and who receives the results.
std::vector<Related> evidence(const model::Model& m, const model::NoGradRegion& region) {
  std::vector<Related> notes;
  notes.push_back(note_at(region.body, fmt::format("{} changes no parameter, buffer or gradient in place, sets no "
                                                   "`requires_grad`, and writes nothing into `self.` or a subscript",
                                                   region.decorator ? "the function" : "the block")));
  if (region.function == model::kNone) {
    notes.push_back(note_at(region.site, "module-level code that runs no backward and steps no optimizer"));
    return notes;
  }
  std::string facts =
      fmt::format("`{}` runs no backward, needs no gradients and steps no optimizer", m.scope(region.function).name);
  if (region.restores_train_mode) {
    facts += ", and only switches back to `.train()` after the block, as evaluation code does";
  }
  if (region.results_leave_unseen && region.call_sites.empty()) {
    facts += "; it returns its results to callers this file does not show, so no rewrite is offered";
  }
  notes.push_back(note_at(region.function_name, std::move(facts)));
  for (std::size_t i = 0; i < region.call_sites.size() && i < kMaxCallSiteNotes; ++i) {
    notes.push_back(note_at(region.call_sites[i]->node, call_site_note(m, region, *region.call_sites[i])));
  }
  return notes;
}

void check(RuleContext& ctx) {
  for (const model::NoGradRegion& region : ctx.model.no_grad_regions()) {
    // A test's `no_grad` is often what it tests (behaviour under `no_grad`, a compiled graph's
    // guards): the rewrite would change what it covers.
    if (region.blocker != model::InferenceModeBlocker::None ||
        (region.function != model::kNone && ctx.model.in_test_code(region.function))) {
      continue;
    }
    ctx.reporter.report(kMeta, region.site,
                        "nothing computed here goes back into autograd: `torch.inference_mode()` disables the same "
                        "graph recording and also skips version counting and view tracking",
                        rename_fix(ctx.model, region));
    ctx.reporter.attach(evidence(ctx.model, region));
  }
}

} // namespace

Rule make_OOM202_prefer_inference_mode() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
