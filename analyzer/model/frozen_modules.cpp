// Modules whose parameters the code freezes (`vae.requires_grad_(False)`, `G =
// copy.deepcopy(G).eval().requires_grad_(False)`, `for p in teacher.parameters(): p.requires_grad =
// False`): their forward adds no graph of its own, so what it returns carries a graph only when its
// inputs do. A module the code also unfreezes somewhere (a GAN toggling its discriminator) is
// left as it is: which phase a call runs in is not something the text shows.
#include <algorithm>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "analyzer/model/model.hpp"
#include "analyzer/model/model_impl.hpp"
#include "analyzer/model/project.hpp"

namespace oomlint::model {

namespace {

bool freezes_text(std::string_view text) {
  return text.find("requires_grad = False") != std::string_view::npos ||
         text.find("requires_grad=False") != std::string_view::npos ||
         text.find("requires_grad_(False)") != std::string_view::npos;
}

bool unfreezes_text(std::string_view text) {
  return text.find("requires_grad = True") != std::string_view::npos ||
         text.find("requires_grad=True") != std::string_view::npos ||
         text.find("requires_grad_(True)") != std::string_view::npos ||
         text.find("requires_grad_()") != std::string_view::npos;
}

} // namespace

// `x` for `x`, `self.x`; what a chain of module-returning calls starts from (`g.eval().to(d)` is
// `g`); empty for anything else.
std::string Model::Impl::module_key(TSNode expr) const {
  expr = unparen(expr);
  for (int guard = 0; guard < 8 && !null(expr) && ts_node_symbol(expr) == g.sym.call; ++guard) {
    const TSNode fn = field(expr, g.field.function);
    if (ts_node_symbol(fn) != g.sym.attribute ||
        !names::is_module_returning_method(text(field(fn, g.field.attribute)))) {
      return {};
    }
    expr = unparen(field(fn, g.field.object));
  }
  if (null(expr)) {
    return {};
  }
  if (ts_node_symbol(expr) == g.sym.identifier) {
    return std::string(text(expr));
  }
  if (ts_node_symbol(expr) == g.sym.attribute) {
    const TSNode object = field(expr, g.field.object);
    if (ts_node_symbol(object) == g.sym.identifier && text(object) == "self") {
      return std::string(text(expr));
    }
  }
  return {};
}

// Where each module is frozen or unfrozen, found once: most files do neither.
const std::unordered_map<std::string, std::vector<Model::Impl::FreezeMark>>& Model::Impl::freeze_marks() const {
  if (freeze_memo) {
    return *freeze_memo;
  }
  freeze_memo.emplace();
  auto mark = [&](const std::string& key, std::uint32_t at, bool frozen) {
    if (!key.empty()) {
      (*freeze_memo)[key].push_back(FreezeMark{at, owner_scope(m.scope_at(at)), frozen});
    }
  };
  for (const Call& c : m.m_calls) {
    if (c.method != "requires_grad_" || !c.is_method_call()) {
      continue;
    }
    const bool frozen = freezes_text(text(c.node));
    const std::uint32_t at = ts_node_start_byte(c.node);
    std::string key = module_key(c.receiver);
    if (key.empty()) {
      // `G = copy.deepcopy(opts.G).eval().requires_grad_(False).to(device)`: the name bound.
      TSNode up = ts_node_parent(c.node);
      while (!null(up) && (ts_node_symbol(up) == g.sym.attribute || ts_node_symbol(up) == g.sym.call)) {
        up = ts_node_parent(up);
      }
      if (!null(up) && ts_node_symbol(up) == g.sym.assignment) {
        key = module_key(field(up, g.field.left));
      }
    }
    mark(key, at, frozen); // `requires_grad_()`, `(True)` or a flag: trained here, or maybe
  }
  // `for p in model.parameters(): p.requires_grad = False`
  for (const Loop& l : m.m_loops) {
    if (l.kind != LoopKind::For || null(l.iterable) || ts_node_symbol(l.iterable) != g.sym.call) {
      continue;
    }
    const TSNode fn = field(l.iterable, g.field.function);
    if (ts_node_symbol(fn) != g.sym.attribute) {
      continue;
    }
    const std::string_view method = text(field(fn, g.field.attribute));
    if (method != "parameters" && method != "named_parameters") {
      continue;
    }
    const std::string_view body = text(field(l.node, g.field.body));
    if (freezes_text(body) || unfreezes_text(body)) {
      mark(module_key(field(fn, g.field.object)), ts_node_start_byte(l.node),
           freezes_text(body) && !unfreezes_text(body));
    }
  }
  // `net = pickle.load(f)["ema"]`: frozen where it is bound, for what follows.
  for (const Binding& b : m.bindings()) {
    if (b.kind == BindingKind::Assign && b.name.find('.') == std::string::npos && !null(b.value) &&
        unpickled(b.value)) {
      mark(b.name, b.stmt_start, true);
    }
  }
  return *freeze_memo;
}

// Whether the module `expr` names is frozen where `at` runs: frozen before it in the same
// function or one enclosing it (a closure of the function that froze it) or at module level, or,
// for `self.` attributes, anywhere in the class; and never unfrozen.
bool Model::Impl::frozen_module(TSNode expr, std::uint32_t at) const {
  const auto& marks = freeze_marks();
  if (marks.empty()) {
    return false;
  }
  const std::string key = module_key(expr);
  const auto it = key.empty() ? marks.end() : marks.find(key);
  if (it == marks.end()) {
    return false;
  }
  const ScopeId here = owner_scope(m.scope_at(at));
  const ScopeId cls = m.m_scopes[static_cast<size_t>(here)].class_scope;
  bool frozen = false;
  for (const FreezeMark& mark : it->second) {
    if (!mark.frozen) {
      return false;
    }
    if (key.starts_with("self.")) {
      frozen = frozen || (cls != kNone && m.m_scopes[static_cast<size_t>(mark.owner)].class_scope == cls);
      continue;
    }
    for (ScopeId s = here; s != kNone && mark.at < at && !frozen; s = m.m_scopes[static_cast<size_t>(s)].parent) {
      frozen = s == mark.owner;
    }
  }
  return frozen;
}

// `pickle.load(f)["ema"].to(device)`, `legacy.load_network_pkl(f)["G_ema"]`: a network unpickled
// as it was saved, `requires_grad` flags included; EMA and evaluation copies are saved frozen.
// Whether its forward builds a graph is not in the text, so it is taken as frozen.
bool Model::Impl::unpickled(TSNode value) const {
  TSNode v = unparen(value);
  for (int guard = 0; guard < 8 && !null(v); ++guard) {
    const TSSymbol s = ts_node_symbol(v);
    if (s == g.sym.subscript) {
      v = unparen(field(v, g.field.value));
      continue;
    }
    if (s != g.sym.call) {
      return false;
    }
    const TSNode callee = field(v, g.field.function);
    const std::string_view name =
        ts_node_symbol(callee) == g.sym.attribute ? text(field(callee, g.field.attribute)) : text(callee);
    if (ts_node_symbol(callee) == g.sym.attribute && names::is_module_returning_method(name)) {
      v = unparen(field(callee, g.field.object));
      continue;
    }
    const std::string_view whole = text(callee);
    return whole == "pickle.load" || whole == "pickle.loads" || whole == "dill.load" || whole == "cloudpickle.load" ||
           name.ends_with("_pkl") || name.ends_with("_pickle");
  }
  return false;
}

// `vae(x)`, `self.text_encoder(ids)`, `teacher.forward(x)`, `self.vae.encode(x)` of a frozen module.
bool Model::Impl::forward_of_a_frozen_module(TSNode fn, std::uint32_t at) const {
  if (freeze_marks().empty()) {
    return forward_of_a_self_freezing_class(fn, at);
  }
  return frozen_by_the_code(fn, at) || forward_of_a_self_freezing_class(fn, at);
}

// `class FrozenAutoencoderKL(nn.Module)` whose `__init__` ends with `self.requires_grad_(False)`
// (or calls `self.freeze()`, which turns every parameter's `requires_grad` off) and which nothing in
// the class turns back on: its instances are frozen wherever they are made.
bool Model::Impl::class_freezes_itself(ScopeId cls) const {
  const ScopeId init = method_of(cls, "__init__");
  if (init == kNone || unfreezes_text(text(m.m_scopes[static_cast<size_t>(cls)].node))) {
    return false;
  }
  auto freezes_self = [&](ScopeId fn) {
    const std::string_view body = text(m.m_scopes[static_cast<size_t>(fn)].body);
    return body.find("self.requires_grad_(False)") != std::string_view::npos ||
           (body.find("self.parameters()") != std::string_view::npos && freezes_text(body));
  };
  if (freezes_self(init)) {
    return true;
  }
  const Scope& sc = m.m_scopes[static_cast<size_t>(init)];
  const auto [first, last] = calls_in(ts_node_start_byte(sc.body), ts_node_end_byte(sc.body));
  for (size_t i = first; i < last; ++i) {
    const Call& c = m.m_calls[i];
    if (c.is_method_call() && text(c.receiver) == "self") {
      const ScopeId helper = method_of(cls, c.method);
      if (helper != kNone && helper != init && freezes_self(helper)) {
        return true;
      }
    }
  }
  return false;
}

bool Model::Impl::forward_of_a_self_freezing_class(TSNode fn, std::uint32_t at) const {
  const bool any_here = has_self_freezing_class; // asked for every forward: known once, in analyse()
  const bool any_in_run = project != nullptr && project->facts != nullptr && project->facts->has_frozen_classes();
  if (!any_here && !any_in_run) {
    return false;
  }
  TSNode instance = fn;
  if (ts_node_symbol(fn) == g.sym.attribute) {
    const TSNode object = unparen(field(fn, g.field.object));
    const bool on_self = ts_node_symbol(object) == g.sym.identifier && text(object) == "self";
    const std::string_view method = text(field(fn, g.field.attribute));
    if (!on_self && (method == "__call__" || names::is_forward_like_method(method))) {
      instance = object;
    }
  }
  const ModuleClass cls = class_of_module(instance, m.scope_at(at), 0);
  if (cls.scope != kNone) {
    return m.m_scopes[static_cast<size_t>(cls.scope)].facts.freezes_itself;
  }
  const FunctionSummary* f = cls.qualified.empty() ? nullptr : project_function(cls.qualified);
  return f != nullptr && f->frozen_class;
}

bool Model::Impl::frozen_by_the_code(TSNode fn, std::uint32_t at) const {
  if (ts_node_symbol(fn) == g.sym.attribute) {
    const TSNode object = unparen(field(fn, g.field.object));
    const bool on_self = ts_node_symbol(object) == g.sym.identifier && text(object) == "self";
    if (on_self) {
      return frozen_module(fn, at);
    }
    const std::string_view method = text(field(fn, g.field.attribute));
    return (method == "__call__" || names::is_forward_like_method(method)) && frozen_module(object, at);
  }
  return ts_node_symbol(fn) == g.sym.identifier && (frozen_module(fn, at) || frozen_by_every_caller(fn, at));
}

// `def evaluate_coco(..., model): ... model(x)` whose every call in this file passes a module frozen
// there (`model.requires_grad_(False); evaluate_coco(..., model)`): the forward adds no graph.
bool Model::Impl::frozen_by_every_caller(TSNode name, std::uint32_t at) const {
  if (freeze_marks().empty()) {
    return false;
  }
  const Binding* b = lookup(text(name), m.scope_at(at), at);
  const ScopeId fn = b == nullptr ? kNone : enclosing_function(b->scope);
  // Methods are left out: their callers pass `self` by the receiver, not by position.
  if (b == nullptr || b->kind != BindingKind::Parameter || fn == kNone ||
      m.m_scopes[static_cast<size_t>(fn)].class_scope != kNone || static_cast<size_t>(fn) >= edges_by_callee.size() ||
      edges_by_callee[static_cast<size_t>(fn)].empty()) {
    return false;
  }
  if (const auto known = frozen_argument_memo.find(b); known != frozen_argument_memo.end()) {
    return known->second;
  }
  bool& result = frozen_argument_memo[b];
  const std::vector<BindingId> params = positional_parameter_bindings(fn);
  size_t position = params.size();
  for (size_t i = 0; i < params.size(); ++i) {
    if (&bindings[static_cast<size_t>(params[i])] == b) {
      position = i;
    }
  }
  if (position == params.size()) {
    return false;
  }
  for (size_t e : edges_by_callee[static_cast<size_t>(fn)]) {
    const auto arg = m.m_calls[edges[e].call].argument(b->name, position, m.m_source.text());
    if (!arg || !frozen_module(arg->value, edges[e].at)) {
      return false;
    }
  }
  result = true;
  return true;
}

} // namespace oomlint::model
