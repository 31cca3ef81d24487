// OOM103 graph-retaining-attribute: a graph-carrying tensor kept on `self.` or in a global by
// code that runs every step, so the step's graph outlives it.
#include <optional>

#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM103",
    .name = "graph-retaining-attribute",
    .severity = Severity::Warning,
    .default_enabled = true,
    .fix = FixAvailability::Sometimes,
    .summary = "A tensor that carries an autograd graph is kept on `self.` or in a global past the step",
    .what = "Finds `self.last_logits = logits` (or an assignment to a `global` name, or to one fixed slot of "
            "a container kept on `self.` or at module level: `self.logs[\"loss\"] = loss`) in a per-step method "
            "(`forward`, `training_step`, `*_step`, a method whose result the caller back-propagates) or inside "
            "a training/evaluation loop, when the value still carries an autograd graph and nothing "
            "back-propagates it.",
    .why = "The attribute keeps the step's graph alive after the step: where no backward runs through it, every "
           "activation the graph saved stays on the GPU until the next step overwrites the attribute, so peak "
           "memory carries one extra step of activations; after a backward the graph's nodes still stay in "
           "host memory.",
    .example = "class Model(nn.Module):\n"
               "    def forward(self, x):\n"
               "        h = self.encoder(x)\n"
               "        self.last_hidden = h\n"
               "        return self.head(h)\n",
    .use_instead = "class Model(nn.Module):\n"
                   "    def forward(self, x):\n"
                   "        h = self.encoder(x)\n"
                   "        self.last_hidden = h.detach()\n"
                   "        return self.head(h)\n",
    .fine_when =
        "The value is detached or a number, the code runs grad-disabled, the attribute is "
        "back-propagated (read by code that runs a backward, e.g. a loss module's `self.loss` summed "
        "into the training loss, or a loss module's `forward` summing `m.kernel.norm()` over a model's layers; a "
        "read through `.item()` or `.detach()` does not count), or the function that keeps "
        "it back-propagates it, or an output of the same forward, itself (`losses, fake = model(batch); "
        "sum(losses.values()).backward(); self.latest_losses = losses`): that backward freed what the graph "
        "saved, and the attribute holds only the step's outputs until the next step; or it is set "
        "outside per-step code (`__init__`, setup), or only behind a flag that is off unless a caller "
        "turns it on (`if self.store_attn: self.attn = attn` with `store_attn=False` by default). A value "
        "carried "
        "into the next step's forward is OOM106's case, and a value a module's `forward` adds into such a "
        "carried state of its own (`self.weights = w; self.coverage = self.coverage + self.weights`) is "
        "part of that state, as is a module's attribute that another of its methods starts afresh "
        "(`def init_states(self, keys): self.attention_weights = torch.zeros(b, t)`): the state of one "
        "sequence, reset by whoever runs the module. A decoder's key/value cache (`self.cache_k`) "
        "is kept between calls by design."
        " Test code (every function of a `test_*.py`, `*_test.py` or `conftest.py` that holds a test "
        "case: the tests, test classes, and the helpers and tester classes they call) is left alone: a test "
        "runs a few steps of a small model.",
    .fix_safety =
        "Unsafe: `.detach()` stops gradients from flowing through the kept tensor, which matters only "
        "when something back-propagates through the attribute later. It is not offered inside an nn.Module's own "
        "method (an attention storing its alignment for a loss to read): there a caller may back-propagate "
        "through the kept value.",
    .options = {},
    .measured = "",
    .references = "https://pytorch.org/docs/stable/notes/faq.html",
    .verify = {.measure = VerifyMeasure::Growth},
};

// Kept on purpose, or OOM106's case: back-propagated later in the step or by back-propagating
// code that reads the attribute, or read back by the next call (a carried state).
bool kept_for_a_reason(const model::Model& m, const model::StepStateStore& store) {
  if (store.slot != nullptr) {
    return m.consumed_differentiably(*store.slot) || m.read_by_backprop_code(store) ||
           m.read_before_assignment(store) || m.backpropagated_where_kept(store);
  }
  const model::Binding& b = m.bindings()[static_cast<std::size_t>(store.binding)];
  return m.consumed_differentiably(b.name, b.scope, b.loop, b.stmt_start) || m.read_by_backprop_code(store) ||
         m.read_before_assignment(b) || m.feeds_carried_state(store) || m.backpropagated_where_kept(store) ||
         m.reset_by_a_state_initialiser(store);
}

// Where the store is, as the rule reports it: the assignment's target, the value kept, the loop
// it runs in, and whether a fix may append `.detach()` to the value.
struct KeptValue {
  TSNode target{};
  TSNode value{};
  model::Value kind;
  std::string holder;
  model::ScopeId scope = model::kNone;
  model::LoopId loop = model::kNone;
  bool fixable = false;
};

KeptValue kept_value(const model::Model& m, const model::StepStateStore& store) {
  if (store.slot != nullptr) {
    const model::Store& st = *store.slot;
    return {store.slot_target,
            st.value,
            m.value_of(st.value),
            short_text(m, store.slot_target),
            st.scope,
            st.loop,
            !m.is_collection_literal(st.value)};
  }
  const model::Binding& b = m.bindings()[static_cast<std::size_t>(store.binding)];
  return {b.target, b.value, m.binding_value(store.binding), b.name, b.scope, b.loop, b.element < 0 && b.has_value()};
}

void check(RuleContext& ctx) {
  const model::Model& m = ctx.model;
  std::vector<model::StepStateStore> stores = m.per_step_state_stores();
  for (const model::StepStateStore& slot : m.per_step_slot_stores()) {
    stores.push_back(slot);
  }
  for (const model::StepStateStore& store : stores) {
    const KeptValue k = kept_value(m, store);
    const model::Value& value = k.kind;
    if (!value.carries_graph() || value.kind == model::Kind::Module || value.kind == model::Kind::LossModule) {
      continue;
    }
    // A test runs a few steps of a small model: what it keeps is bounded by the test.
    if (kept_for_a_reason(m, store) || m.in_test_code(k.scope) || m.off_by_default(k.target)) {
      continue;
    }
    const std::string kept = short_text(m, k.value);
    const bool backward = m.iteration_backprops(k.loop, k.scope);
    // `.detach()` only on what is known to be a tensor: not on a list filled later (`self.embeds =
    // []` then `self.embeds.append(x)`), nor on a value of unknown kind.
    const bool a_tensor =
        value.kind == model::Kind::Tensor || value.kind == model::Kind::Loss || value.kind == model::Kind::ModelOutput;
    std::optional<Fix> fix;
    // Inside a module's own method the kept value may be what a loss later reads (an attention's
    // alignment): `.detach()` there would silently cut its gradient.
    if (k.fixable && a_tensor && !m.is_collection_literal(k.value) && !m.in_module_method(k.scope)) {
      fix = append_method_call(m, k.value, "detach", Applicability::Unsafe, fmt::format("Keep `{}.detach()`", kept));
    }
    ctx.reporter.report(
        kMeta, k.target,
        fmt::format("`{}` keeps `{}`, which carries an autograd graph, past the step: {}; keep a detached tensor "
                    "(`.detach()`) or a number (`.item()`)",
                    k.holder, kept,
                    backward ? "its graph's nodes stay alive in host memory until the next step overwrites it"
                             : "no backward frees its saved activations, so one extra step of them stays on the GPU"),
        std::move(fix));
    ctx.reporter.attach(m.evidence_of(value));
  }
}

} // namespace

Rule make_OOM103_graph_retaining_attribute() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
