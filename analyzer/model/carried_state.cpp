// State that one training step hands to the next with its autograd graph: an RNN's hidden
// state re-assigned from the forward and read again by the next pass before anything detaches it.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/model/model.hpp"
#include "analyzer/model/model_impl.hpp"
#include "analyzer/syntax/python_grammar.hpp"
#include "analyzer/syntax/walk.hpp"

namespace oomlint::model {

namespace {

// Where a name is read: the first such place in a pass, or `start` UINT32_MAX for none.
struct Read {
  std::uint32_t start = UINT32_MAX;
  std::uint32_t end = 0;
  void keep_earlier(Read other) {
    if (other.start < start) {
      *this = other;
    }
  }
};

Read read_of(TSNode n) {
  return Read{ts_node_start_byte(n), ts_node_end_byte(n)};
}

// Where each name of `reads` (plain names and `self.` paths) is first read in `body`, in one walk;
// assignment targets are writes, not reads.
using FirstReads = std::map<std::string, Read, std::less<>>;

void first_reads(const Model& m, TSNode body, FirstReads& reads) {
  const auto& g = syntax::grammar();
  syntax::walk_named(body, [&](TSNode n) {
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.string || s == g.sym.comment || s == g.sym.function_definition || s == g.sym.class_definition) {
      return false;
    }
    if ((s == g.sym.assignment || s == g.sym.augmented_assignment)) {
      // Reads on the right first; the left side is a target (unless it subscripts the name).
      first_reads(m, ts_node_child_by_field_id(n, g.field.right), reads);
      TSNode left = ts_node_child_by_field_id(n, g.field.left);
      if (s == g.sym.augmented_assignment) {
        if (auto it = reads.find(m.text(left)); it != reads.end()) {
          it->second.keep_earlier(Read{ts_node_start_byte(n), ts_node_end_byte(left)});
        }
      }
      return false;
    }
    if (s == g.sym.identifier || s == g.sym.attribute) {
      if (auto it = reads.find(m.text(n)); it != reads.end()) {
        it->second.keep_earlier(read_of(n));
      }
      // `outputs.loss` reads `outputs`, not a variable called `loss`.
      if (s == g.sym.attribute) {
        first_reads(m, ts_node_child_by_field_id(n, g.field.object), reads);
      }
      return false;
    }
    return true;
  });
}

// The call whose result a value is, possibly indexed (`model(x, h)`, `model(x, h)[1]`), or a
// null node.
TSNode call_of_result(TSNode value) {
  const auto& g = syntax::grammar();
  int guard = 0;
  while (!ts_node_is_null(value) && guard++ < 8) {
    const TSSymbol s = ts_node_symbol(value);
    if (s == g.sym.call) {
      return value;
    }
    if (s == g.sym.subscript) {
      value = ts_node_child_by_field_id(value, g.field.value);
      continue;
    }
    if (s == g.sym.parenthesized_expression) {
      value = ts_node_named_child(value, 0);
      continue;
    }
    return TSNode{};
  }
  return TSNode{};
}

// The call the state is re-assigned from, directly (`h = model(x, h)[1]`) or through a name the
// pass bound from one (`out, new_h = model(x, h)` ... `self.h = new_h`); a null node if none.
TSNode producing_call(const Model& m, const Binding& last, std::uint32_t pass_from) {
  if (const TSNode call = call_of_result(last.value); !ts_node_is_null(call)) {
    return call;
  }
  if (ts_node_symbol(last.value) != syntax::grammar().sym.identifier) {
    return TSNode{};
  }
  const std::string_view name = m.text(last.value);
  const ScopeId fn = m.function_at(last.stmt_start);
  const Binding* source = nullptr;
  // Bindings are in source order: only those of the pass are looked at, the last one wins.
  const auto& all = m.bindings();
  auto it = std::lower_bound(all.begin(), all.end(), pass_from,
                             [](const Binding& b, std::uint32_t at) { return b.stmt_start < at; });
  for (; it != all.end() && it->stmt_start < last.stmt_start; ++it) {
    if (it->name == name && m.function_at(it->stmt_start) == fn) {
      source = &*it;
    }
  }
  return source != nullptr && source->kind == BindingKind::Assign ? call_of_result(source->value) : TSNode{};
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool mentions_word(std::string_view text, std::string_view word) {
  auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; };
  for (size_t at = text.find(word); at != std::string_view::npos; at = text.find(word, at + 1)) {
    const bool before = at > 0 && (ident(text[at - 1]) || text[at - 1] == '.');
    const bool after = at + word.size() < text.size() && ident(text[at + word.size()]);
    if (!before && !after) {
      return true;
    }
  }
  return false;
}

// `if self.graph_module is None: self.graph_module = build(...)`: built once on first use, then
// only read; nothing of one step flows into the next.
bool built_once_when_missing(const Model& m, const Binding& last) {
  const auto& g = syntax::grammar();
  const std::string none_test = last.name + " is None";
  const std::string not_test = "not " + last.name;
  for (TSNode n = ts_node_parent(last.target); !ts_node_is_null(n); n = ts_node_parent(n)) {
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.function_definition) {
      return false;
    }
    if (s == g.sym.if_statement) {
      const std::string_view condition = m.text(ts_node_child_by_field_id(n, g.field.condition));
      if (condition == none_test || condition == not_test) {
        return true;
      }
    }
  }
  return false;
}

// `hidden[0]`: one element of an LSTM's (h, c) state.
bool element_of(const Model& m, TSNode expr, std::string_view name) {
  return ts_node_symbol(expr) == syntax::grammar().sym.subscript &&
         m.text(ts_node_child_by_field_id(expr, syntax::grammar().field.value)) == name;
}

// `h = h.detach()`, `hidden = repackage_hidden(hidden)`, `h.detach_()` somewhere in the pass
// before the state is re-assigned from the forward: the chain is cut once per step.
bool repackaged(const Model& m, const std::vector<BindingId>& ids, const Binding& last, std::uint32_t from) {
  for (BindingId id : ids) {
    const Binding& b = m.bindings()[static_cast<size_t>(id)];
    if (b.stmt_start >= last.stmt_start || ts_node_is_null(b.value)) {
      continue;
    }
    if (mentions_word(m.text(b.value), b.name) && !m.binding_value(id).carries_graph()) {
      return true;
    }
  }
  // Calls are in source order: only those between the pass's start and the assignment.
  const auto& calls = m.calls();
  auto first = std::lower_bound(calls.begin(), calls.end(), from,
                                [](const Call& c, std::uint32_t at) { return ts_node_start_byte(c.node) < at; });
  for (auto c_it = first; c_it != calls.end() && ts_node_start_byte(c_it->node) < last.stmt_start; ++c_it) {
    const Call& c = *c_it;
    if ((c.method == "detach_" || c.method == "detach") && !ts_node_is_null(c.receiver) &&
        (m.text(c.receiver) == last.name || element_of(m, c.receiver, last.name)) &&
        ts_node_symbol(ts_node_parent(c.node)) == syntax::grammar().sym.expression_statement) {
      return true;
    }
  }
  return false;
}

// The bindings of each name in one pass (a loop body or a per-step method), in source order.
using PassBindings = std::map<std::string, std::vector<BindingId>>;

struct Pass {
  TSNode body{};
  std::uint32_t from = 0;               // where the pass starts
  const std::vector<std::string>* skip; // the loop's own targets, re-bound by the loop itself
  bool across_calls = false;
};

void collect_carried(const Model& m, const PassBindings& names, const Pass& pass, std::vector<CarriedState>& out) {
  const auto& bindings = m.bindings();
  FirstReads reads;
  for (const auto& [name, ids] : names) {
    reads.emplace(name, Read{});
  }
  first_reads(m, pass.body, reads);
  for (const auto& [name, ids] : names) {
    if ((pass.skip != nullptr && std::find(pass.skip->begin(), pass.skip->end(), name) != pass.skip->end()) ||
        names::is_decoding_cache_name(name) || name == "_") {
      continue;
    }
    std::uint32_t first_bound = UINT32_MAX;
    for (BindingId id : ids) {
      first_bound = std::min(first_bound, bindings[static_cast<size_t>(id)].visible_from);
    }
    const Read read = reads.at(name);
    if (read.start >= first_bound) {
      continue; // (re)bound before it is used in each pass
    }
    const BindingId last_id = ids.back();
    const Binding& last = bindings[static_cast<size_t>(last_id)];
    const TSNode call = last.kind == BindingKind::Assign ? producing_call(m, last, pass.from) : TSNode{};
    if (ts_node_is_null(call) || m.grad_disabled_at(last.target) || !m.binding_value(last_id).carries_graph() ||
        repackaged(m, ids, last, pass.from) || built_once_when_missing(m, last)) {
      continue;
    }
    const bool lstm = lowercase(m.text(last.value)).find("lstm") != std::string::npos;
    out.push_back(CarriedState{last_id, read.start, read.end, pass.across_calls, lstm});
  }
}

// The methods that run one training step per call: a per-step method by its name, or any method
// whose own body back-propagates outside a loop (a trainer's `step(self, batch)`).
std::vector<bool> steps_per_call(const Model& m) {
  std::vector<bool> out(m.scopes().size(), false);
  for (const Call& c : m.calls()) {
    if (c.is_backward && c.loop == kNone && c.scope != kNone && m.scope(c.scope).class_scope != kNone) {
      out[static_cast<size_t>(c.scope)] = true;
    }
  }
  for (ScopeId s = 0; s < static_cast<ScopeId>(out.size()); ++s) {
    const Scope& sc = m.scope(s);
    out[static_cast<size_t>(s)] =
        sc.is_function() && !sc.facts.grad_disabled && (sc.facts.per_step_method || out[static_cast<size_t>(s)]);
  }
  return out;
}

// A function whose loop can only be a rollout: it never back-propagates (itself or through a
// helper), runs with autograd on, keeps nothing on `self`, and hands its callers nothing that
// carries a graph. A state chained through its loop is never freed by a backward, and no caller
// wants its graph (back-propagation through time returns the unrolled state).
bool rollout_function(const Model& m, ScopeId fn, const std::vector<BindingId>& bindings, const Value& returns) {
  // A module's own method (a structure module refining its state block by block) is computation
  // whose callers back-propagate through what it returns, whatever the evaluator makes of it.
  if (fn == kNone || fn == 0 || !m.scope(fn).is_function() || m.in_test_code(fn) || m.in_module_method(fn)) {
    return false;
  }
  const FunctionFacts& facts = m.scope(fn).facts;
  if (facts.backprops || facts.needs_grad || facts.grad_disabled || facts.per_step_method || returns.grad != Grad::No) {
    return false;
  }
  // Evaluation code with autograd on is OOM201's finding, whose `no_grad` covers the state too.
  for (const EvalRegion& region : m.eval_regions()) {
    if (region.scope == fn) {
      return false;
    }
  }
  return std::none_of(bindings.begin(), bindings.end(),
                      [&](BindingId id) { return m.bindings()[static_cast<size_t>(id)].name.starts_with("self."); });
}

// `x = self.layers[i](x)`, `for block in self.blocks: x = block(x)`: each pass calls another
// layer, so the loop is one forward through a stack as deep as the model, not a state carried
// through time.
bool calls_a_different_layer_each_pass(const Model& m, LoopId id, const std::vector<BindingId>& fn_bindings) {
  const Loop& loop = m.loop(id);
  // The names the loop itself binds (`i` and `_` of `for i, _ in enumerate(blocks)`).
  std::vector<std::string_view> targets;
  for (BindingId b : fn_bindings) {
    const Binding& binding = m.bindings()[static_cast<size_t>(b)];
    if (binding.kind == BindingKind::ForTarget && binding.loop == id && binding.name != "_") {
      targets.push_back(binding.name);
    }
  }
  const auto& calls = m.calls();
  auto it = std::lower_bound(calls.begin(), calls.end(), loop.body_start,
                             [](const Call& c, std::uint32_t at) { return ts_node_start_byte(c.node) < at; });
  for (; it != calls.end() && ts_node_start_byte(it->node) < loop.body_end; ++it) {
    const std::string_view callee = m.text(ts_node_child_by_field_id(it->node, syntax::grammar().field.function));
    if (std::any_of(targets.begin(), targets.end(),
                    [&](std::string_view target) { return mentions_word(callee, target); })) {
      return true;
    }
  }
  return false;
}

// The innermost loop of each rollout function that re-binds a name: outer loops over episodes
// see the same binding, and it is one state.
// `def init_hidden(self, b): self.hidden_states = self.agent.init_hidden().expand(b, -1)` beside a
// `forward` that carries `self.hidden_states`: the class gives its callers a reset, and whether
// they call it each step is theirs to say (a learner does, at the start of each update).
bool reset_by_another_method(const Model& m, ScopeId stepper, const std::string& name,
                             const std::vector<std::vector<BindingId>>& by_function) {
  const ScopeId cls = m.scope(stepper).class_scope;
  if (cls == kNone) {
    return false;
  }
  for (ScopeId other = 0; other < static_cast<ScopeId>(by_function.size()); ++other) {
    const Scope& sc = m.scope(other);
    if (other == stepper || sc.class_scope != cls || sc.parent != cls || sc.name == "__init__") {
      continue;
    }
    for (BindingId id : by_function[static_cast<size_t>(other)]) {
      const Binding& b = m.bindings()[static_cast<size_t>(id)];
      if (b.name == name && b.has_value() && m.text(b.value).find(name) == std::string_view::npos) {
        return true;
      }
    }
  }
  return false;
}

bool reported(const std::vector<CarriedState>& found, BindingId id) {
  return std::any_of(found.begin(), found.end(), [&](const CarriedState& c) { return c.rebinding == id; });
}

} // namespace

std::vector<CarriedState> Model::carried_states() const {
  std::vector<CarriedState> result;
  const std::vector<bool> steppers = steps_per_call(*this);
  if (m_loops.empty() && std::none_of(steppers.begin(), steppers.end(), [](bool b) { return b; })) {
    return result;
  }
  const auto& all = bindings();
  // Bindings grouped by the function that holds them (0: module level).
  std::vector<std::vector<BindingId>> by_function(m_scopes.size());
  for (size_t i = 0; i < all.size(); ++i) {
    const ScopeId fn = function_at(all[i].stmt_start);
    by_function[static_cast<size_t>(fn == kNone ? 0 : fn)].push_back(static_cast<BindingId>(i));
  }
  // Loops: names bound in a back-propagating step loop's body (at any depth in its function).
  for (LoopId l = 0; l < static_cast<LoopId>(m_loops.size()); ++l) {
    const Loop& lp = loop(l);
    if (!lp.is_step || lp.kind == LoopKind::Comprehension || !iteration_backprops(l, lp.scope)) {
      continue;
    }
    const ScopeId fn = function_at(lp.body_start);
    PassBindings names;
    for (BindingId id : by_function[static_cast<size_t>(fn == kNone ? 0 : fn)]) {
      const Binding& b = all[static_cast<size_t>(id)];
      if (b.stmt_start >= lp.body_start && b.stmt_start < lp.body_end) {
        names[b.name].push_back(id);
      }
    }
    const Pass pass{m_impl->field(lp.node, m_impl->g.field.body), lp.body_start, &lp.targets, false};
    collect_carried(*this, names, pass, result);
  }
  add_rollout_states(by_function, result);
  // Per-step methods: `self.` state read before it is re-assigned in the same call.
  for (ScopeId s = 0; s < static_cast<ScopeId>(m_scopes.size()); ++s) {
    const Scope& sc = scope(s);
    if (!steppers[static_cast<size_t>(s)]) {
      continue;
    }
    PassBindings names;
    for (BindingId id : by_function[static_cast<size_t>(s)]) {
      const std::string& name = all[static_cast<size_t>(id)].name;
      if (name.starts_with("self.") && !reset_by_another_method(*this, s, name, by_function)) {
        names[name].push_back(id);
      }
    }
    const Pass pass{sc.body, ts_node_start_byte(sc.body), nullptr, true};
    collect_carried(*this, names, pass, result);
  }
  return result;
}

// Rollouts: a state chained through a loop of a function that never back-propagates and returns
// only numbers (an RL episode, a stream scored step by step), innermost loops first.
void Model::add_rollout_states(const std::vector<std::vector<BindingId>>& by_function,
                               std::vector<CarriedState>& result) const {
  const auto& all = bindings();
  std::vector<LoopId> order;
  for (LoopId l = 0; l < static_cast<LoopId>(m_loops.size()); ++l) {
    order.push_back(l);
  }
  // An inner loop starts after its outer one: reversed source order visits it first.
  std::sort(order.begin(), order.end(), [&](LoopId a, LoopId b) { return loop(a).body_start > loop(b).body_start; });
  for (LoopId l : order) {
    const Loop& lp = loop(l);
    const ScopeId fn = function_at(lp.body_start);
    if (lp.kind == LoopKind::Comprehension || fn == kNone ||
        calls_a_different_layer_each_pass(*this, l, by_function[static_cast<size_t>(fn)]) ||
        !rollout_function(*this, fn, by_function[static_cast<size_t>(fn)], m_impl->function_returns(fn, 0))) {
      continue;
    }
    PassBindings names;
    for (BindingId id : by_function[static_cast<size_t>(fn)]) {
      const Binding& b = all[static_cast<size_t>(id)];
      if (b.stmt_start >= lp.body_start && b.stmt_start < lp.body_end && !reported(result, id)) {
        names[b.name].push_back(id);
      }
    }
    const Pass pass{m_impl->field(lp.node, m_impl->g.field.body), lp.body_start, &lp.targets, false};
    const size_t before = result.size();
    collect_carried(*this, names, pass, result);
    for (size_t i = before; i < result.size(); ++i) {
      result[i].without_backward = true;
    }
  }
}

} // namespace oomlint::model
