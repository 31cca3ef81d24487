// OOM601 device-accumulation-in-eval: device tensors gathered across evaluation iterations
// without moving them off the GPU, so memory grows with the dataset even without a graph.
#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM601",
    .name = "device-accumulation-in-eval",
    .severity = Severity::Warning,
    .default_enabled = true,
    .fix = FixAvailability::Sometimes,
    .summary = "Device tensors gathered across evaluation iterations stay on the GPU",
    .what = "Finds model outputs (and values computed from them: the elements of a batch's outputs taken one by "
            "one, the ids a model's `generate()` returns) appended, inserted, stored or concatenated into "
            "a container that outlives the iteration, in code that runs without autograd (`no_grad`, "
            "`inference_mode`, a grad-disabled function), when they are not moved off the device "
            "(`.cpu()`, `.numpy()`, `.tolist()`, `.item()`). In evaluation code that runs with autograd on "
            "(which OOM201 reports), also the values that cannot carry a graph (`logits.argmax(1)`, "
            "`pred.eq(y)`): they stay on the device all the same.",
    .why = "There is no graph to leak here, but every stored output is still a GPU tensor: the list grows by one "
           "batch of outputs per iteration, so memory grows with the size of the evaluation set and a larger "
           "validation set (or longer generation) ends in CUDA out of memory.",
    .example = "with torch.no_grad():\n"
               "    for x, y in val_loader:\n"
               "        all_logits.append(model(x))\n",
    .use_instead = "with torch.no_grad():\n"
                   "    for x, y in val_loader:\n"
                   "        all_logits.append(model(x).cpu())\n",
    .fine_when = "The values are moved to the CPU or reduced to numbers, the container is bounded "
                 "(`if len(samples) < 8:`), or it is re-created in each iteration. Autoregressive decoding "
                 "(`idx = torch.cat([idx, next_token], 1)` where the loop feeds the sequence or the token to the "
                 "model) builds the sequence it returns, bounded by the tokens asked for; a loop over the pieces "
                 "of one input (`batch.split(n)`, `range(0, x.shape[0], n)`) gathers that input's outputs, and a loop "
                 "over something other than the data (class names, a solver's steps, a list written out in the module "
                 "such as `EXAMPLE_PROMPTS[:n_test]`, a loop in an nn.Module's method over anything but a loader: "
                 "`range(self.config.num_proposal_iterations)`, a module runs one batch) does not grow with it, nor "
                 "does a store into a constant slot (`prev[-1] = model(x, t)`, a solver's sliding window), nor a "
                 "sampler's trajectory (`for i in range(steps): z = z - dt * v; images.append(z)`: the state each "
                 "solver step rebinds from itself, or what it computes from it, one per step). With "
                 "autograd on, OOM102 reports the same store (it keeps the graph as well)."
                 " Test code (every function of a `test_*.py`, `*_test.py` or `conftest.py` that holds a test "
                 "case: the tests, test classes, and the helpers and tester classes they call) is left alone: a test "
                 "runs a few steps of a small model.",
    .fix_safety = "Unsafe: later code that expects the gathered tensors on the GPU (e.g. `torch.cat` with a "
                  "device tensor) gets CPU tensors; the copy also synchronises with the GPU each iteration. It is "
                  "not offered when the same loop gathers other tensors that stay on the device (labels beside "
                  "predictions), which the two lists would then disagree with.",
    .options = {},
    .measured = "`oomlint verify` on an H200 (examples/gpu/eval_gather.py): GPU memory grows 8.0 MiB per step under "
                "`no_grad`, 0 with `.cpu()` (which makes the step synchronous: 0.31 -> 8.5 ms).",
    .references = "https://pytorch.org/docs/stable/notes/faq.html",
    .verify = {.measure = VerifyMeasure::Growth},
};

bool device_tensor(const model::Value& v) {
  return v.source != model::Source::None &&
         (v.kind == model::Kind::Tensor || v.kind == model::Kind::ModelOutput || v.kind == model::Kind::Loss);
}

// Only one stored tensor can be moved with a method call: not the elements an `extend` or a
// concatenation adds, nor a tuple, list or dict of them.
bool single_value_store(const model::Model& m, const model::Store& st) {
  return st.kind != model::StoreKind::Concat && st.kind != model::StoreKind::Extend &&
         st.kind != model::StoreKind::ListAugment && !m.is_collection_literal(st.value);
}

// `preds += [logits.argmax(1)]`, `outs.extend((a, b))`: what the literal holds is what is kept.
model::Value stored_value(const model::Model& m, const model::Store& st) {
  model::Value value = m.value_of(st.value);
  if (value.kind == model::Kind::Container) {
    for (const model::Value& e : value.elements) {
      if (device_tensor(e) && e.device != model::Device::Cpu) {
        return e;
      }
    }
  }
  return value;
}

// Another container of the same loop gathers tensors that stay on the device (`targets.append(
// labels)` beside `preds.append(...)`): moving only this one would make the two disagree on
// their device when they are compared after the loop, so `.cpu()` is not offered.
bool keeps_a_device_sibling(const model::Model& m, const model::Store& st) {
  for (const model::Store& other : m.stores()) {
    if (other.loop != st.loop || other.container_key == st.container_key ||
        ts_node_start_byte(other.statement) == ts_node_start_byte(st.statement)) {
      continue;
    }
    const model::Value v = m.value_of(other.value);
    // Data moved with `.to(device)` is often of no kind the model knows: count it as a tensor.
    const bool tensor = v.kind == model::Kind::Tensor || v.kind == model::Kind::ModelOutput ||
                        v.kind == model::Kind::Loss || v.kind == model::Kind::Unknown ||
                        v.device == model::Device::Accelerator;
    // A model output beside it is reported (and moved) itself; input data stays where it is.
    if (tensor && v.source == model::Source::None && v.device != model::Device::Cpu && !m.leaves_device(other.value)) {
      return true;
    }
  }
  return false;
}

// Evaluation code that runs with autograd on (OOM201 reports its forward), storing what cannot
// carry a graph (`pred.eq(y)`, `logits.argmax(1)`): the store keeps device memory all the same,
// and would be reported once the evaluation ran without autograd.
bool graph_free_store_in_evaluation(const model::Model& m, const model::Store& st) {
  return m.in_eval_region(ts_node_start_byte(st.statement)) && stored_value(m, st).grad == model::Grad::No;
}

void check(RuleContext& ctx) {
  const model::Model& m = ctx.model;
  for (const model::Store& st : m.stores()) {
    // A test runs a few batches of a small model: what it gathers is bounded by the test.
    if ((!st.grad_disabled && !graph_free_store_in_evaluation(m, st)) || m.in_test_code(st.scope)) {
      continue;
    }
    // Growth with the data needs a loop over the data (a loader, or a count of batches), or a
    // per-step method: one embedding per class name or a solver's few past outputs do not grow.
    if (st.loop != model::kNone && !m.loop(st.loop).iterates_data) {
      continue;
    }
    const model::Value value = stored_value(m, st);
    const TSNode origin = m.method_chain_origin(st.value);
    if (value.carries_graph() || (!device_tensor(value) && !device_tensor(m.value_of(origin)))) {
      continue;
    }
    if (value.device == model::Device::Cpu || m.leaves_device(st.value)) {
      continue;
    }
    // One 0-dim loss per iteration is one small block; only a loss whose storage is its whole
    // elementwise buffer (F.mse_loss on torch 2.11) keeps output-sized memory.
    if (value.kind == model::Kind::Loss && !value.pins_elementwise) {
      continue;
    }
    // A list re-created in every step (test-time augmentation views) is bounded by the step.
    if (m.recreated_every_step(st.loop) || m.iterates_a_literal(st.loop) || m.recreated_per_outer_pass(st) ||
        m.counts_a_setting_of_its_module(st.loop) || m.emptied_within_its_loop(st)) {
      continue;
    }
    // `losses[k] = loss` into a preallocated tensor copies the value: nothing grows. Nor does
    // `prev[-1] = model(x, t)`: a constant key replaces one slot (a solver's sliding window).
    if (st.kind == model::StoreKind::SubscriptAssign &&
        (m.value_of(st.container).kind == model::Kind::Tensor || m.replaces_one_slot(st))) {
      continue;
    }
    if (m.bounded_by_length(st) || m.grows_the_decoded_sequence(st) || m.feeds_what_it_keeps(st) ||
        m.keeps_the_state_it_integrates(st) || m.walks_one_input_in_pieces(st.loop) || m.drained_as_a_queue(st)) {
      continue;
    }
    const std::string container = short_text(m, st.container);
    const std::string stored = short_text(m, st.value);
    std::optional<Fix> fix;
    if (single_value_store(m, st) && !keeps_a_device_sibling(m, st)) {
      const bool scalar = value.kind == model::Kind::Loss;
      fix = append_method_call(m, st.value, scalar ? "item" : "cpu", Applicability::Unsafe,
                               fmt::format("Store `{}.{}()`", stored, scalar ? "item" : "cpu"));
    }
    ctx.reporter.report(kMeta, st.statement,
                        fmt::format("`{}` gathers `{}` on the GPU in every iteration: no graph is kept, but the "
                                    "list grows by one batch of outputs per iteration, so memory grows with the "
                                    "dataset; move it off the device (`.cpu()`) or keep only what you need",
                                    container, stored),
                        std::move(fix));
    const model::Value told = value.evidence_count > 0 ? value : m.value_of(origin);
    ctx.reporter.attach(m.evidence_of(told));
  }
}

} // namespace

Rule make_OOM601_device_accumulation_in_eval() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
