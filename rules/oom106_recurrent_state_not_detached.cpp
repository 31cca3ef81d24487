// OOM106 recurrent-state-not-detached: a grad-carrying value (an RNN's hidden state) carried
// from one step into the next without `.detach()`.
#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM106",
    .name = "recurrent-state-not-detached",
    .severity = Severity::Error,
    .default_enabled = true,
    .fix = FixAvailability::Sometimes,
    .summary = "A hidden state is carried into the next batch with its autograd graph",
    .what = "Finds a value that is read before it is re-assigned in a training loop's iteration (or, for "
            "`self.` state, in a per-step method or a method whose own body back-propagates, such as a trainer's "
            "`step`) and re-assigned from a forward pass, directly or through a name bound from it, so each step "
            "starts from the previous step's output: `output, hidden = model(x, hidden)` with no "
            "`hidden.detach()`. Also a rollout: a state chained the same way through a loop of a function that "
            "never back-propagates, runs with autograd on, keeps nothing on `self` and returns only numbers "
            "(`h = rnn(obs, h)` over an episode that returns its mean reward).",
    .why = "The carried state links every step's graph to the previous one: truncated back-propagation through "
           "time without repackaging. The second backward fails with \"Trying to backward through the graph a "
           "second time\"; adding `retain_graph=True` silences it and then every step's graph and saved "
           "activations stay alive, chained together, until CUDA runs out.",
    .example = "hidden = model.init_hidden(batch_size)\n"
               "for x, y in loader:\n"
               "    output, hidden = model(x, hidden)\n"
               "    loss = criterion(output, y)\n"
               "    loss.backward(retain_graph=True)\n"
               "    optimizer.step()\n",
    .use_instead = "hidden = model.init_hidden(batch_size)\n"
                   "for x, y in loader:\n"
                   "    hidden = hidden.detach()  # for an LSTM: tuple(h.detach() for h in hidden)\n"
                   "    output, hidden = model(x, hidden)\n"
                   "    loss = criterion(output, y)\n"
                   "    loss.backward()\n"
                   "    optimizer.step()\n",
    .fine_when = "The state is detached (`h = h.detach()`, `repackage_hidden(h)`) or re-initialised before it is "
                 "used in each iteration, the loop runs under `no_grad` (generation), the unrolled state is returned "
                 "to a caller (back-propagation through time) or kept on `self`, a state on `self` that another "
                 "method of the class resets (`def init_hidden(self, b): self.hidden = ...`, which callers run at the "
                 "start of each episode or update), or the "
                 "value is an accumulation (OOM101's case). A loop in an nn.Module's own method that never "
                 "back-propagates (a structure module refining its state block by block) is the module's computation: "
                 "its callers back-propagate through what it returns. A decoder's key/value cache kept on its module "
                 "(`self.cache_k`, `self.kv_cache`) is carried between calls by design, and a value built once "
                 "under `if self.x is None:` is not a step's state."
                 " Test code (every function of a `test_*.py`, `*_test.py` or `conftest.py` that holds a test "
                 "case: the tests, test classes, and the helpers and tester classes they call) is left alone: a test "
                 "runs a few steps of a small model.",
    .fix_safety =
        "Unsafe: detaching is the truncation itself; gradients no longer flow into earlier batches, "
        "which is what truncated back-propagation through time wants. It is not offered inside an nn.Module's "
        "own method (a decoder's step loop), whose caller may back-propagate through the whole recurrence.",
    .options = {},
    .measured = "",
    .references = "https://pytorch.org/tutorials/intermediate/char_rnn_generation_tutorial.html",
    .verify = {.measure = VerifyMeasure::Growth},
};

void check(RuleContext& ctx) {
  const model::Model& m = ctx.model;
  for (const model::CarriedState& state : m.carried_states()) {
    const model::Binding& last = m.bindings()[static_cast<size_t>(state.rebinding)];
    // A test runs a few steps of a small model: what it carries is bounded by the test.
    if (m.in_test_code(last.scope)) {
      continue;
    }
    const std::string repackage = state.tuple_state ? fmt::format("{0} = tuple(s.detach() for s in {0})", last.name)
                                                    : fmt::format("{0} = {0}.detach()", last.name);
    // Inside a module's own method (a decoder's step loop) the caller may back-propagate through the
    // whole recurrence: detaching there would truncate its gradient, so no edit is offered.
    std::optional<Fix> fix;
    if (!m.in_module_method(last.scope)) {
      fix = insert_line_after(m, last.target, repackage, Applicability::Unsafe, fmt::format("Add `{}`", repackage));
    }
    const std::string message =
        state.without_backward
            ? fmt::format("`{}` is carried into the next iteration with its autograd graph, and this function "
                          "never back-propagates and returns only numbers: every step's graph and saved "
                          "activations stay chained to the state until the loop ends; run the loop under "
                          "`torch.no_grad()` or detach the state once per step (`{}`)",
                          last.name, repackage)
            : fmt::format("`{}` is carried into the next {} with its autograd graph: each step's graph "
                          "chains onto the previous one, the second backward fails, and "
                          "`retain_graph=True` only turns that into every step's activations staying "
                          "alive; detach it once per step (`{}`)",
                          last.name, state.across_calls ? "call" : "iteration", repackage);
    ctx.reporter.report(kMeta, last.target, message, std::move(fix));
    std::vector<Related> notes{Related{
        state.read_start, state.read_end,
        fmt::format("`{}` is read here before the {} re-assigns it: it is the previous step's value, graph and all",
                    last.name, state.across_calls ? "call" : "iteration")}};
    for (Related& note : m.evidence_of(m.binding_value(state.rebinding))) {
      notes.push_back(std::move(note));
    }
    ctx.reporter.attach(std::move(notes));
  }
}

} // namespace

Rule make_OOM106_recurrent_state_not_detached() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
