// OOM104 hook-retains-activations: a forward/backward hook that stores the activation or
// gradient it is given in a container that outlives the call.
#include <fmt/format.h>

#include "analyzer/rule_api.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM104",
    .name = "hook-retains-activations",
    .severity = Severity::Error,
    .default_enabled = true,
    .fix = FixAvailability::Never,
    .summary = "A forward or backward hook keeps every activation (or gradient) it sees",
    .what = "Finds hooks registered with `register_forward_hook`, `register_forward_pre_hook`, "
            "`register_full_backward_hook`, `register_full_backward_pre_hook`, `register_backward_hook` or a "
            "tensor's `register_hook` (functions, methods, closures, lambdas, and objects whose class defines "
            "`__call__`) that append, extend, insert or "
            "concatenate the hook's `input`/`output`/`grad` into a container that outlives the call: a global, "
            "an enclosing function's list or a `self.` attribute.",
    .why = "The hook runs on every forward (or backward), and each stored tensor is a whole activation: it stays "
           "in GPU memory for as long as the list lives, 128 MiB per step measured for one layer of an MLP on an "
           "H200, and with autograd on it also keeps the graph and its saved activations (1,280 MiB per "
           "iteration in an evaluation loop without no_grad). `.detach()` drops the graph but not the "
           "activation: the list still grows by 128 MiB per step.",
    .example = "features = []\n"
               "model.layer4.register_forward_hook(lambda m, i, o: features.append(o))\n",
    .use_instead = "features = []\n"
                   "model.layer4.register_forward_hook(lambda m, i, o: features.append(o.detach().cpu()))\n"
                   "# or keep only what you need: o.mean(dim=(2, 3)).cpu(), or only the last output\n",
    .fine_when = "The hook moves the tensor off the GPU (`.cpu()`, `.numpy()`, `.tolist()`), reduces it to a "
                 "number or statistic (`.item()`, `.mean()`, `.norm()`, `.shape`), keeps only the latest one "
                 "(`self.activation = output`, `acts[name] = output`), or stores into a list created inside "
                 "the hook. Test code (every function of a `test_*.py`, `*_test.py` or `conftest.py` that holds a "
                 "test case) is left alone: a test's spy hook captures a few tensors and dies with the test.",
    .fix_safety = "The right change depends on what the activations are for (move them to the CPU, "
                  "reduce them, or keep only the last); `.detach()` alone fixes nothing.",
    .options = {},
    .measured = "On an H200 (torch 2.11): a forward hook appending `output` during training grows allocated "
                "memory by 128 MiB per step, and by exactly the same with `output.detach()`; "
                "`output.detach().cpu()` stops the growth (0 per step) but makes the step 8x slower (123 vs 15 "
                "ms). Evaluating without no_grad, the hook's list grows by 1,280 MiB per iteration, 128 MiB "
                "with `.detach()`."
                " `oomlint verify` on an H200 (examples/gpu/hook_collect.py): 8.0 MiB per step as written, 8.0 MiB per "
                "step with `.detach()` (fix-ineffective), 0 with `.detach().cpu()` (step 9.8 -> 16.6 ms).",
    .references =
        "https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.register_forward_hook",
    .verify = {.measure = VerifyMeasure::Growth, .transform = VerifyTransform::StoreDetachedCpu, .at_first_note = true},
};

void check(RuleContext& ctx) {
  for (const model::HookRetention& r : ctx.model.hook_retentions()) {
    // A test's spy hook captures a few tensors of a small model and dies with the test.
    if (ctx.model.in_test_code(r.registration->scope)) {
      continue;
    }
    const std::string detail = r.detached ? "`.detach()` drops the graph but the tensor itself stays on the GPU"
                                          : "with autograd on it also keeps the graph and its saved activations";
    ctx.reporter.report(
        kMeta, r.registration->node,
        fmt::format("hook registered with `{}` stores its {} `{}` in `{}` on every call: each one stays in GPU "
                    "memory while `{}` lives; {}; move it off the "
                    "GPU (`.detach().cpu()`), reduce it, or keep only the last one",
                    r.registration_method, r.stored_kind, r.parameter, r.container, r.container, detail));
    const std::string_view runs_on = r.stored_kind == "gradient" ? "backward" : "forward";
    ctx.reporter.attach({note_at(r.statement, fmt::format("the hook stores `{}` in `{}` here, once per {}", r.parameter,
                                                          r.container, runs_on))});
  }
}

} // namespace

Rule make_OOM104_hook_retains_activations() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
