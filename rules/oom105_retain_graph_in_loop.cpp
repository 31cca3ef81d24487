// OOM105 retain-graph-in-loop: `backward(retain_graph=True)` in a step loop with no later
// backward through the same graph in that iteration.
#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM105",
    .name = "retain-graph-in-loop",
    .severity = Severity::Error,
    .default_enabled = true,
    .fix = FixAvailability::Always,
    .summary = "backward(retain_graph=True) every step keeps the step's graph and activations alive",
    .what = "Finds `.backward(retain_graph=True)` (and `torch.autograd.backward(..., retain_graph=True)`) that "
            "runs every step when no other backward follows it in the same iteration. The flag may come through "
            "a name that always holds `True`: a module constant bound once (`RETAIN = True`), or a parameter "
            "defaulting to `True` that no call in the file overrides.",
    .why = "`retain_graph=True` tells autograd not to free the saved activations after the backward. With no "
           "second backward through the graph they stay referenced until the graph itself is dropped, so each "
           "step holds on to one step of activations while the next one builds its own: peak memory rises by a "
           "whole step's activations (1.28 GiB on an H200 MLP). It is often added to silence \"Trying to "
           "backward through the graph a second time\", whose real cause is a hidden state carried across "
           "batches (OOM106).",
    .example = "for x, y in loader:\n"
               "    loss = criterion(model(x), y)\n"
               "    loss.backward(retain_graph=True)\n"
               "    optimizer.step()\n",
    .use_instead = "for x, y in loader:\n"
                   "    loss = criterion(model(x), y)\n"
                   "    loss.backward()\n"
                   "    optimizer.step()\n",
    .fine_when = "Another backward through the same graph follows in the iteration (a GAN's discriminator then "
                 "generator, several heads back-propagated one by one, `torch.autograd.grad` then `backward`), "
                 "the flag is computed (`retain_graph=i < n - 1`) or may be `False` (a constant some code "
                 "re-binds, a parameter a call overrides), the loop goes over the terms of one loss computed "
                 "before it (`for k in losses.keys(): losses[k].sum().backward(retain_graph=True)`: each later "
                 "backward goes through the same graph), or the call is not in per-step code.",
    .fix_safety = "Unsafe: if something does back-propagate through the graph again later, it would then fail "
                  "with \"Trying to backward through the graph a second time\".",
    .options = {},
    .measured = "On an H200 (torch 2.11): peak allocated 4.91 GiB with `retain_graph=True` against 3.63 GiB "
                "without, at the same step time (15.0 ms); allocated memory does not grow per step."
                " `oomlint verify` on an H200 (examples/gpu/retain_graph.py): peak allocated per step 1.18 GiB as "
                "written, 921 MiB without the argument; nvidia-smi's view 2.08 vs 1.75 GiB.",
    .references = "https://pytorch.org/docs/stable/generated/torch.Tensor.backward.html",
    .verify = {.measure = VerifyMeasure::Peak},
};

// Why the kept graph is never used: what repeats every step with no backward after this one,
// where the flag's `True` comes from when a name carries it, and where the graph is built.
std::vector<Related> evidence(const model::Model& m, const model::RetainedGraphBackward& b) {
  std::vector<Related> notes;
  const std::string_view source = m.source().text();
  if (b.repeats_in_loop) {
    notes.push_back(Related{
        b.repeat_start, b.repeat_end,
        fmt::format("`{}` runs once per step, and no backward or `autograd.grad` follows this one in its body: the "
                    "kept graph lives on until the next pass has built its own",
                    source.substr(b.repeat_start, b.repeat_end - b.repeat_start))});
  } else if (b.repeat_end > b.repeat_start) {
    notes.push_back(
        Related{b.repeat_start, b.repeat_end,
                fmt::format("`{}` runs once per step, and no backward or `autograd.grad` follows this one in it",
                            source.substr(b.repeat_start, b.repeat_end - b.repeat_start))});
  }
  if (b.flag_origin) {
    notes.push_back(note_at(*b.flag_origin, fmt::format("`{}` is `True` here, and nothing in this file passes or "
                                                        "binds another value",
                                                        m.text(b.call->keyword("retain_graph", source).value()))));
  }
  if (b.tensor) {
    for (Related& note : m.evidence_of(m.value_of(*b.tensor))) {
      notes.push_back(std::move(note));
    }
  }
  return notes;
}

void check(RuleContext& ctx) {
  const model::Model& m = ctx.model;
  for (const model::RetainedGraphBackward& b : m.retained_graph_backwards()) {
    if (!b.repeats_every_step || b.later_backward != nullptr || !b.graph_built_each_pass ||
        b.caller_back_propagates_result) {
      continue;
    }
    const std::string_view flag = ctx.text(b.flag); // `retain_graph=True`, or `retain_graph=RETAIN`
    Fix fix = remove_argument(m, *b.call, b.flag, Applicability::Unsafe, fmt::format("Remove `{}`", flag));
    ctx.reporter.report(kMeta, b.flag,
                        fmt::format("`{}` keeps this step's graph and saved activations alive after the backward, "
                                    "and no second backward uses them in the iteration: peak memory rises by a whole "
                                    "step's activations; drop it (if it silenced "
                                    "\"backward through the graph a second time\", detach the state carried across "
                                    "batches instead)",
                                    flag),
                        std::move(fix));
    ctx.reporter.attach(evidence(m, b));
  }
}

} // namespace

Rule make_OOM105_retain_graph_in_loop() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
