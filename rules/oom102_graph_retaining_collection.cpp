// OOM102 graph-retaining-collection: a graph-carrying tensor stored in a list or dict that
// outlives the iteration.
#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM102",
    .name = "graph-retaining-collection",
    .severity = Severity::Error,
    .default_enabled = true,
    .fix = FixAvailability::Sometimes,
    .summary = "A tensor that carries an autograd graph is stored in a container that outlives the iteration",
    .what = "Finds `outputs.append(logits)`, `losses.extend(...)`, `losses.insert(0, loss)`, `losses += [loss]` "
            "and `results[key] = loss` inside a loop, or on a `self.` container inside a per-step method "
            "(`training_step`, `forward`, `*_step`), when the stored value still carries an autograd graph; also "
            "a call in the loop of a function of this file that appends one of its parameters to another "
            "(`record(losses, loss)` with `def record(history, value): history.append(value)`).",
    .why = "Each stored tensor keeps its whole autograd graph, and with it every saved activation that no "
           "backward has freed: in an evaluation loop without `torch.no_grad()` that is 1.3 GiB per iteration "
           "on an H200 MLP, until CUDA runs out. After a backward the graph's nodes still pile up in host "
           "memory, and on torch 2.11 a stored `F.mse_loss` result keeps its whole elementwise buffer (32 MiB "
           "per step measured). `.cpu()` and `.to()` do not detach: the graph comes along.",
    .example = "val_preds = []\n"
               "for x, y in val_loader:\n"
               "    logits = model(x)\n"
               "    val_preds.append(logits.cpu())\n",
    .use_instead = "val_preds = []\n"
                   "with torch.inference_mode():\n"
                   "    for x, y in val_loader:\n"
                   "        logits = model(x)\n"
                   "        val_preds.append(logits.cpu())\n",
    .fine_when = "The value is detached or a number (`.detach()`, `.item()`, `.tolist()`), the output of a "
                 "frozen module (`requires_grad_(False)`, or its parameters' `requires_grad = False`) or of a "
                 "network unpickled as saved, fed with data, the code runs under "
                 "`no_grad`/`inference_mode` (or in a function only ever called from such code), the container "
                 "is back-propagated later (`torch.stack(losses).sum().backward()`) or returned to a caller, the "
                 "container lives one step (made by a step function such as `train_step`, or anew in each pass of "
                 "a loop around the store) and each entry is back-propagated as it is stored (`out = "
                 "loss_fn(model, chunk); outs.append(out); out[\"loss\"].backward()`: each backward frees what its "
                 "graph saved), or "
                 "it is re-created in each iteration. A forward over the pieces of one input (tiles over "
                 "`H, W = x.shape[-2:]`, `x.split(n)`, `range(0, x.shape[0], n)`) gathers its own result, as does a "
                 "generation that feeds each step its own earlier output (`inp = frames[-1]`, or a state rebound "
                 "from the step until a `break`) and returns the sequence, however many steps it counts; and a "
                 "decoder's key/value cache on its module (`self.cache_k`, `self.past_key_values`) grows while "
                 "generating by design. A model class's own method that trains nothing and that only other modules "
                 "call (`def compute_sim_matrix(self, data_loader)` run by an evaluation task) leaves the grad mode to "
                 "those callers, and a module class that holds only numbers and strings (a byte encoder turning "
                 "text into index tensors) has no parameters to build a graph from."
                 " Test code (every function of a `test_*.py`, `*_test.py` or `conftest.py` that holds a test "
                 "case: the tests, test classes, and the helpers and tester classes they call) is left alone: a test "
                 "runs a few steps of a small model.",
    .fix_safety = "Unsafe, and not offered in a per-step method or inside an nn.Module's own method (a rollout whose "
                  "kept predictions become the loss), where a caller back-propagates what is kept. For a scalar loss "
                  "the fix stores `.item()`, a Python float, unless the list is handed to other code afterwards "
                  "(`list_mean(losses)`), which may need tensors: then it stores `.detach()`. A tensor kept in a list "
                  "or dict is stored `.detach().cpu()`: `.detach()` alone drops the graph but keeps each step's "
                  "tensor on the GPU (measured: the list still grows by the tensors), so code that later uses the "
                  "kept tensors with GPU tensors must move them back. An index assignment into a tensor copies "
                  "values, and a concatenation stays on its device: there the fix stores `.detach()`.",
    .options = {},
    .measured = "On an H200 (torch 2.11): `losses.append(loss)` with `F.mse_loss` grows allocated memory by "
                "exactly 33,554,432 B per step (0 with `.item()`); with cross_entropy 512 B per step plus host "
                "memory. An eval loop without no_grad that appends its outputs grows by 1,312 MiB per "
                "iteration (peak 51.9 GiB against 0.99 GiB fixed)."
                " `oomlint verify` on an H200: examples/gpu/train_collect.py (a stored `F.mse_loss`) grows 8.0 MiB per "
                "step, 0 with `.item()`; examples/gpu/eval_collect.py grows 328 MiB per step, 8.0 MiB with `.detach()` "
                "(the outputs themselves). On an H100 (2026-12-06) the fix now offered, `.detach().cpu()`, takes "
                "eval_collect.py from 328.1 MiB per step to 0.",
    .references = "https://pytorch.org/docs/stable/notes/faq.html",
    .verify = {.measure = VerifyMeasure::Growth, .transform = VerifyTransform::StoreDetachedCpu},
};

std::string verb(model::StoreKind kind) {
  switch (kind) {
  case model::StoreKind::Append:
    return "appends";
  case model::StoreKind::Extend:
    return "extends with";
  case model::StoreKind::Insert:
    return "inserts";
  case model::StoreKind::ListAugment:
    return "appends";
  case model::StoreKind::SubscriptAssign:
    return "stores";
  case model::StoreKind::Concat:
    return "concatenates";
  }
  return "stores";
}

// A list or dict keeps the tensor itself; an index assignment into a tensor copies its values,
// and a concatenation's result stays where the others are.
bool keeps_the_tensor(const model::Model& m, const model::Store& st) {
  switch (st.kind) {
  case model::StoreKind::Append:
  case model::StoreKind::Extend:
  case model::StoreKind::Insert:
  case model::StoreKind::ListAugment:
    return true;
  case model::StoreKind::SubscriptAssign: {
    const model::Kind container = m.value_of(st.container).kind;
    return container != model::Kind::Tensor && container != model::Kind::Unknown;
  }
  case model::StoreKind::Concat:
    return false;
  }
  return false;
}

bool fixable_value(const model::Model& m, const model::Store& st) {
  return st.kind != model::StoreKind::Extend && st.kind != model::StoreKind::ListAugment &&
         !m.is_collection_literal(st.value);
}

void check(RuleContext& ctx) {
  const model::Model& m = ctx.model;
  for (const model::Store& st : m.stores()) {
    if (st.grad_disabled || m.replaces_one_slot(st)) {
      continue; // `d["loss"] = loss` replaces one slot: kept past the step (OOM103), never grown
    }
    // A test runs a few steps of a small model: what it keeps is bounded by the test.
    if (m.in_test_code(st.scope)) {
      continue;
    }
    // Whether the gathered outputs carry a graph is the unseen callers' choice.
    if (st.loop != model::kNone && !m.iteration_backprops(st.loop, st.scope) && m.grad_mode_left_to_callers(st.scope)) {
      continue;
    }
    const model::Value value = m.value_of(st.value);
    if (!value.carries_graph()) {
      continue;
    }
    if (m.consumed_differentiably(st) || m.stores_views_of_one_graph(st)) {
      continue;
    }
    const bool backward_in_iteration = m.iteration_backprops(st.loop, st.scope);
    if (backward_in_iteration && m.kept_locally_after_its_backward(st)) {
      continue;
    }
    // A forward over the tiles or chunks of one input: their graphs are the result's graph.
    if ((!backward_in_iteration && m.walks_one_input_in_pieces(st.loop)) || m.drained_as_a_queue(st)) {
      continue;
    }
    // A generation feeding each step its own output: the recurrence holds every step's graph
    // whether the list does or not (autograd left on there is OOM201's finding).
    if (!backward_in_iteration && m.feeds_its_output_back(st.loop)) {
      continue;
    }
    const std::string container = short_text(m, st.container);
    const std::string stored = short_text(m, st.value);
    const std::string place = st.loop == model::kNone ? "step" : "iteration";
    std::string consequence =
        backward_in_iteration
            ? "the graph's nodes pile up in host memory, and a stored loss can pin its output-sized buffer"
            : "no backward frees it, so every " + place + "'s saved activations stay on the GPU";
    std::optional<Fix> fix;
    std::string advice;
    // `.detach()` only on a known tensor, and never inside computation that is back-propagated
    // (a per-step method or a module's own method): there it would silently stop training.
    const bool tensor_value =
        value.kind == model::Kind::Loss || value.kind == model::Kind::Tensor || value.kind == model::Kind::ModelOutput;
    const model::ScopeId fn = m.function_at(st.statement);
    const bool differentiable_code = st.loop == model::kNone ||
                                     (fn != model::kNone && m.scope(fn).facts.per_step_method) ||
                                     m.in_module_method(st.scope);
    if (fixable_value(m, st) && tensor_value && !differentiable_code) {
      // A scalar loss whose list is handed on (`list_mean(losses)` into a meter that calls
      // `.detach()`) stays a tensor, on its device.
      const bool handed_on = value.is_scalar_loss() &&
                             m.handed_to_unknown_code_after(st.container_key, st.scope, ts_node_end_byte(st.statement));
      if (value.is_scalar_loss() && !handed_on) {
        fix = append_method_call(m, st.value, "item", Applicability::Unsafe, fmt::format("Store `{}.item()`", stored));
        advice = fmt::format("store `{}.item()`", stored);
      } else if (keeps_the_tensor(m, st) && value.device != model::Device::Cpu && !handed_on) {
        // `.detach()` alone keeps each step's tensor on the GPU: measured, the list still grows
        // by the tensors themselves.
        fix = detach_to_cpu(m, st.value, Applicability::Unsafe,
                            "Store the tensor detached and on the CPU (`.detach().cpu()`)");
        advice = "store it detached and off the GPU (`.detach().cpu()`), or only the statistics you need";
      } else {
        fix = append_method_call(m, st.value, "detach", Applicability::Unsafe, "Store a detached tensor");
        advice = "store it detached";
      }
    } else {
      advice = "store detached values (`.detach()`, or `.item()` for scalars)";
    }
    ctx.reporter.report(kMeta, st.statement,
                        fmt::format("`{}` {} `{}` every {}, keeping its autograd graph alive: {}; {}", container,
                                    verb(st.kind), stored, place, consequence, advice),
                        std::move(fix));
    ctx.reporter.attach(m.evidence_of(value));
  }
}

} // namespace

Rule make_OOM102_graph_retaining_collection() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
