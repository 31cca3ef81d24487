// OOM701 zero-grad-keeps-buffers: `zero_grad(set_to_none=False)` keeps every gradient buffer
// allocated between steps.
#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM701",
    .name = "zero-grad-keeps-buffers",
    .severity = Severity::Info,
    .default_enabled = true,
    .fix = FixAvailability::Always,
    .summary = "zero_grad(set_to_none=False) keeps gradient buffers allocated between steps",
    .what = "Finds `optimizer.zero_grad(set_to_none=False)` and `model.zero_grad(set_to_none=False)` (also the "
            "positional `zero_grad(False)`).",
    .why = "Zeroing keeps one gradient tensor per parameter allocated through the forward pass, when memory "
           "peaks: as much memory as the parameters themselves (554 MB for a 138.5M-parameter fp32 model), and a "
           "memset kernel per parameter. `set_to_none=True`, the default since PyTorch 2.0, frees them until the "
           "backward writes new ones.",
    .example = "optimizer.zero_grad(set_to_none=False)\n",
    .use_instead = "optimizer.zero_grad()\n",
    .fine_when = "Code reads or updates `.grad` between `zero_grad` and the next backward (e.g. `p.grad.add_()` "
                 "for a custom accumulation, or a parameter server's `p.grad += g`) and needs zero tensors, not "
                 "`None`: a file that adds or copies into `.grad` in place is not reported. Nor is a unit test that "
                 "runs no backward "
                 "(it checks that a wrapper passes the flag on), nor a file that captures CUDA graphs "
                 "(`torch.cuda.graph(g)`, `make_graphed_callables`): a captured backward writes into the gradient "
                 "tensors it recorded, which must stay allocated.",
    .fix_safety = "Safe: the default behaviour since PyTorch 2.0; gradients read before the next backward are "
                  "`None` instead of zeros, which optimizers handle.",
    .options = {},
    .measured = "",
    .references = "https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html",
};

void check(RuleContext& ctx) {
  const model::Model& m = ctx.model;
  if (m.writes_grads_in_place() || m.captures_cuda_graphs()) {
    // `p.grad += g` elsewhere in the file needs zero tensors, not None; a captured CUDA graph
    // needs its gradients at the addresses it recorded (fine_when).
    return;
  }
  for (const model::Call& call : m.calls()) {
    if (call.method != "zero_grad" || !call.is_method_call() || !call.has_argument_list()) {
      continue;
    }
    if (m.tests_an_api_without_training(call.scope)) {
      continue; // a unit test passing the flag through a wrapper trains nothing
    }
    const auto set_to_none = call.argument("set_to_none", 0, m.source().text());
    if (!set_to_none || m.bool_literal(set_to_none->value) != false) {
      continue;
    }
    Fix fix = remove_argument(m, call, set_to_none->node, Applicability::Safe, "Use the default `set_to_none=True`");
    ctx.reporter.report(kMeta, set_to_none->node,
                        fmt::format("`{}` keeps every gradient buffer allocated (as much memory as the "
                                    "parameters) through the next forward, when memory peaks; the default "
                                    "`set_to_none=True` frees them",
                                    short_text(m, call.node)),
                        std::move(fix));
  }
}

} // namespace

Rule make_OOM701_zero_grad_keeps_buffers() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
