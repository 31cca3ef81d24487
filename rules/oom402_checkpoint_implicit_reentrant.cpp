// OOM402 checkpoint-implicit-reentrant: activation checkpointing without use_reentrant=.
#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM402",
    .name = "checkpoint-implicit-reentrant",
    .severity = Severity::Warning,
    .default_enabled = true,
    .fix = FixAvailability::Always,
    .summary = "torch.utils.checkpoint is called without use_reentrant=",
    .what = "Finds `torch.utils.checkpoint.checkpoint(...)` and `checkpoint_sequential(...)` (through any "
            "import alias) that do not pass `use_reentrant`.",
    .why = "Without the argument PyTorch falls back to the reentrant implementation (and warns). It recomputes "
           "the whole segment in a nested backward, cannot stop recomputation early, does not support "
           "`torch.autograd.grad` or keyword inputs, and silently produces no gradients for the segment's "
           "parameters when none of its inputs requires grad -- a memory optimisation that quietly stops "
           "training part of the model. PyTorch recommends `use_reentrant=False`.",
    .example = "from torch.utils.checkpoint import checkpoint\n"
               "out = checkpoint(block, x)\n",
    .use_instead = "from torch.utils.checkpoint import checkpoint\n"
                   "out = checkpoint(block, x, use_reentrant=False)\n",
    .fine_when =
        "`use_reentrant=` is passed explicitly (either value), the arguments come from `**kwargs`, or "
        "`checkpoint` is a project's own function or another library's, or the call is the fallback of a torch "
        "version test (`if is_torch_version(\">=\", \"1.11.0\"): ... else:`) for a torch without `use_reentrant`.",
    .fix_safety = "Unsafe: the non-reentrant implementation differs in edge cases (hooks, RNG state with "
                  "`preserve_rng_state`, inputs that do not require grad), so results can change.",
    .options = {},
    .measured = "",
    .references = "https://pytorch.org/docs/stable/checkpoint.html",
};

void check(RuleContext& ctx) {
  const model::Model& m = ctx.model;
  for (const model::Call& call : m.calls()) {
    if (call.qualified != "torch.utils.checkpoint.checkpoint" &&
        call.qualified != "torch.utils.checkpoint.checkpoint_sequential") {
      continue;
    }
    if (!call.has_argument_list() || call.keyword("use_reentrant", m.source().text()) || call.has_star_args() ||
        m.in_old_torch_branch(call.node)) {
      continue;
    }
    Fix fix = add_keyword_argument(m, call, "use_reentrant=False", Applicability::Unsafe, "Add `use_reentrant=False`");
    ctx.reporter.report(kMeta, call.node,
                        fmt::format("`{}(...)` without `use_reentrant=` uses the reentrant implementation, "
                                    "which recomputes whole segments and gives no gradients when no input "
                                    "requires grad; pass `use_reentrant=False`",
                                    short_text(m, call.function)),
                        std::move(fix));
  }
}

} // namespace

Rule make_OOM402_checkpoint_implicit_reentrant() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
