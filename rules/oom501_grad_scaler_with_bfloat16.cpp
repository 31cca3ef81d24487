// OOM501 grad-scaler-with-bfloat16: a GradScaler in code whose autocast runs in bfloat16,
// where loss scaling is not needed.
#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM501",
    .name = "grad-scaler-with-bfloat16",
    .severity = Severity::Info,
    .default_enabled = true,
    .fix = FixAvailability::Never,
    .summary = "GradScaler used with bfloat16 autocast, where loss scaling is not needed",
    .what = "Finds `GradScaler(...)` (`torch.amp`, `torch.cuda.amp`, `torch`) in a file whose autocast regions "
            "run in `torch.bfloat16` (or `torch.float32`, autocast off) and never in float16: the dtype written in "
            "the call (by keyword or second positional), or a constant the file shows (a module-level "
            "`AMP_DTYPE = torch.bfloat16`, `self.amp_dtype` set only in its class, a local chosen between "
            "`torch.bfloat16` and `torch.float32`). A scaler with `enabled=` is found when the flag is on as the "
            "code is written, parameters at their defaults (`enabled=precision != \"no\"` with "
            "`precision=\"bf16\"`).",
    .why = "Loss scaling exists because float16 has a narrow exponent range and small gradients underflow. "
           "bfloat16 has float32's exponent range, so the scaler only adds work each step: an extra "
           "multiplication of the loss, an unscale pass and an inf/NaN check over every gradient, and a scale "
           "tensor kept on the GPU.",
    .example = "scaler = torch.amp.GradScaler()\n"
               "with torch.autocast(\"cuda\", dtype=torch.bfloat16):\n"
               "    loss = criterion(model(x), y)\n"
               "scaler.scale(loss).backward()\n",
    .use_instead = "with torch.autocast(\"cuda\", dtype=torch.bfloat16):\n"
                   "    loss = criterion(model(x), y)\n"
                   "loss.backward()\n",
    .fine_when = "Some autocast region uses float16 or a dtype chosen at run time (from a call, a parameter, a "
                 "configuration object), or the scaler's `enabled=` flag is off for bfloat16 "
                 "(`enabled=(dtype == torch.float16)`) or depends on something the file does not show.",
    .fix_safety = "Removing the scaler means rewriting its `scale`/`step`/`update` calls.",
    .options = {},
    .measured = "",
    .references = "https://pytorch.org/docs/stable/amp.html#gradient-scaling",
};

bool is_grad_scaler(std::string_view qualified) {
  return qualified == "torch.amp.GradScaler" || qualified == "torch.cuda.amp.GradScaler" ||
         qualified == "torch.GradScaler" || qualified == "torch.amp.grad_scaler.GradScaler";
}

void check(RuleContext& ctx) {
  const model::Model& m = ctx.model;
  if (!m.autocasts_only_to_bfloat16()) {
    return;
  }
  for (const model::Call& call : m.calls()) {
    if (!is_grad_scaler(call.qualified) || !call.has_argument_list()) {
      continue;
    }
    // A scaler built only in a branch the constants rule out is never built.
    if (m.ruled_out_by_constants(call.node)) {
      continue;
    }
    // A computed flag may switch the scaler off for bfloat16 (`enabled=dtype == torch.float16`):
    // speak only where it is on as the code is written, its parameters at their defaults.
    if (auto enabled = call.keyword("enabled", m.source().text());
        enabled && m.constant_truth(*enabled, model::ConstantAssumption::ParameterDefaults) != true) {
      continue;
    }
    ctx.reporter.report(
        kMeta, call.node,
        fmt::format("`{}` scales losses for float16, but no autocast region here runs in float16 "
                    "(they use bfloat16, whose exponent range does not underflow): the scaler only adds a "
                    "scale, unscale and inf check per step; drop it and call `backward()` and "
                    "`optimizer.step()` directly",
                    short_text(m, call.function)));
  }
}

} // namespace

Rule make_OOM501_grad_scaler_with_bfloat16() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
