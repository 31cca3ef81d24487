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
            "all use `dtype=torch.bfloat16`.",
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
    .fine_when = "Some autocast region uses float16 (or a dtype chosen at run time), or the scaler is created "
                 "with a computed `enabled=` flag such as `enabled=(dtype == torch.float16)`.",
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
    if (auto enabled = call.keyword("enabled", m.source().text()); enabled && m.bool_literal(*enabled) != true) {
      continue; // computed: the author switches it off for bfloat16
    }
    ctx.reporter.report(kMeta, call.node,
                        fmt::format("`{}` scales losses for float16, but every autocast region here runs in "
                                    "bfloat16, whose exponent range does not underflow: the scaler only adds a "
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
