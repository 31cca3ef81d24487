// OOM202 prefer-inference-mode: `torch.no_grad()` where nothing computed re-enters autograd, so
// `torch.inference_mode()` would do the same with less bookkeeping.
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
    .what = "Finds `with torch.no_grad():` blocks and `@torch.no_grad()` functions whose tensors never go back "
            "into autograd: the function runs no backward and needs no gradients, and the block changes no "
            "parameters or buffers in place.",
    .why = "`inference_mode` is `no_grad` without the version counters and view tracking autograd would need if "
           "the tensors came back into a graph: slightly faster and a little leaner in evaluation and serving "
           "code. Both free the activations the same way; this is a tidy-up, not a leak.",
    .example = "with torch.no_grad():\n    logits = model(x)\n",
    .use_instead = "with torch.inference_mode():\n    logits = model(x)\n",
    .fine_when = "The block updates parameters or buffers in place (EMA weights, weight init, clipping), iterates "
                 "`parameters()`, sets `requires_grad`, calls `torch.enable_grad()`, or its function "
                 "back-propagates or needs gradients (module-level code of a training script too); the function "
                 "is an optimizer's `step`, a per-step method (`compute_loss`, `training_step`) or a module's "
                 "`forward`, or a caller in the file trains with what it returns (text embeddings for a trained "
                 "UNet, a teacher's logits for a distillation loss): tensors made under `inference_mode` cannot "
                 "be saved for backward later.",
    .fix_safety = "Unsafe: a tensor created under `inference_mode` raises when it is later used in autograd or "
                  "modified in place outside it. The rewrite is offered only where the values stay in code that "
                  "never trains: not when the function returns them to callers the file does not show, unless "
                  "its name says it evaluates (`evaluate`, `validate`, `predict`, `inference`).",
    .options = {},
    .measured = "",
    .references = "https://pytorch.org/docs/stable/generated/torch.autograd.grad_mode.inference_mode.html",
};

std::optional<Fix> rename_fix(const model::NoGradRegion& region) {
  if (!region.rename) {
    return std::nullopt; // `no_grad()` imported by name: the import would need changing too
  }
  if (region.results_leave_unseen) {
    return std::nullopt; // a caller we cannot see might train with what it returns
  }
  return replace_node(*region.rename, "inference_mode", Applicability::Unsafe, "Use `torch.inference_mode()`");
}

void check(RuleContext& ctx) {
  for (const model::NoGradRegion& region : ctx.model.no_grad_regions()) {
    if (region.blocker != model::InferenceModeBlocker::None) {
      continue;
    }
    ctx.reporter.report(kMeta, region.site,
                        "nothing computed here goes back into autograd: `torch.inference_mode()` disables the same "
                        "graph recording and also skips version counting and view tracking",
                        rename_fix(region));
  }
}

} // namespace

Rule make_OOM202_prefer_inference_mode() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
