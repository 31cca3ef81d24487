// Name resolution and the abstract evaluation of expressions: which import path a name
// stands for, and whether a value may hold an autograd graph (DESIGN §5, grad-carrying values).
#include <algorithm>
#include <array>

#include "analyzer/model/library.hpp"
#include "analyzer/model/model_impl.hpp"
#include "analyzer/support/strings.hpp"
#include "analyzer/syntax/walk.hpp"

namespace oomlint::model {

namespace {

constexpr int kMaxDepth = 48;

Value grad_tensor(Source source, Kind kind = Kind::Tensor) {
  return Value{Grad::Yes, kind, source, -1, {}, {}};
}

Value no_grad_tensor() {
  return Value{Grad::No, Kind::Tensor, Source::None, -1, {}, {}};
}

// A tensor computed from `from` (a method, an attribute, an index): same graph, same story.
Value derived(const Value& from, Kind kind) {
  Value v = grad_tensor(from.source, kind);
  v.device = from.device;
  v.pins_elementwise = from.pins_elementwise && kind == Kind::Loss;
  v.evidence = from.evidence;
  v.evidence_count = from.evidence_count;
  return v;
}

// A container literal tells the story of its first graph-carrying element: a finding on
// `outs.append((model(x), x))` points at the forward, as one on `outs.append(model(x))` does.
void keep_evidence_of_graph(Value& container, const Value& element) {
  if (container.evidence_count == 0 && element.grad == Grad::Yes) {
    container.evidence = element.evidence;
    container.evidence_count = element.evidence_count;
  }
}

Value of_kind(Kind kind) {
  return Value{Grad::No, kind, Source::None, -1, {}, {}};
}

Value from_library(const library::Fact& fact) {
  switch (fact.returns) {
  case library::Returns::Module:
    return of_kind(Kind::Module);
  case library::Returns::NoGradOutput:
  case library::Returns::Detached:
    return no_grad_tensor();
  case library::Returns::Number:
    return Value::number();
  case library::Returns::Text:
    return of_kind(Kind::String);
  case library::Returns::Pipeline:
    return of_kind(Kind::Pipeline);
  case library::Returns::Object:
    return of_kind(Kind::Instance);
  }
  return Value::unknown();
}

// What a model's `generate()` returns: no graph (the library runs it under no_grad), but the
// generated ids are the model's output, on the model's device.
Value generated_output(TSNode call, const library::Fact& fact) {
  Value v{Grad::No, Kind::ModelOutput, Source::Forward, -1, {}, {}};
  v.add_evidence(Evidence{ts_node_start_byte(call), ts_node_end_byte(call), Step::Library, fact.reason});
  return v;
}

// `dist.sample()` draws without a graph; `log_prob`, `entropy`, `rsample` and the rest are
// differentiable in the distribution's parameters.
Value distribution_method(const Value& dist, std::string_view method) {
  if (method == "sample" || method == "sample_n" || method == "enumerate_support") {
    Value drawn = no_grad_tensor();
    drawn.device = dist.device;
    return drawn;
  }
  if (dist.grad == Grad::Yes) {
    return derived(dist, Kind::Tensor);
  }
  Value v = no_grad_tensor();
  v.grad = dist.grad;
  return v;
}

// Names used without an import in snippets: the conventional aliases of torch.
std::string implicit_module(std::string_view root) {
  if (root == "torch") {
    return "torch";
  }
  if (root == "nn") {
    return "torch.nn";
  }
  if (root == "F") {
    return "torch.nn.functional";
  }
  return {};
}

bool is_tensor_builtin_passthrough(std::string_view fn) {
  static constexpr std::array<std::string_view, 6> kFns = {"sum", "max", "min", "abs", "sorted", "reversed"};
  return std::find(kFns.begin(), kFns.end(), fn) != kFns.end();
}

bool is_number_builtin(std::string_view fn) {
  static constexpr std::array<std::string_view, 12> kFns = {"float", "int",   "bool",       "str",    "len",  "round",
                                                            "repr",  "print", "isinstance", "format", "hash", "id"};
  return std::find(kFns.begin(), kFns.end(), fn) != kFns.end();
}

} // namespace

Value join(const Value& a, const Value& b) {
  Value out;
  if (a.grad == Grad::Yes || b.grad == Grad::Yes) {
    out.grad = Grad::Yes;
  } else if (a.grad == Grad::No && b.grad == Grad::No) {
    out.grad = Grad::No;
  } else {
    out.grad = Grad::Unknown;
  }
  const Value& lead = a.grad == Grad::Yes ? a : (b.grad == Grad::Yes ? b : a);
  const Value& other = &lead == &a ? b : a;
  // What the kind is taken from also gives the scope and the path that go with that kind:
  // `(c or step)` is the function `step`, with `step`'s scope.
  const Value& kind_from = a.kind == b.kind || lead.kind != Kind::Unknown ? lead : other;
  out.kind = kind_from.kind;
  out.source = lead.source != Source::None ? lead.source : other.source;
  out.scope = kind_from.scope;
  out.qualified = kind_from.qualified;
  // `(x + 1.0) / 2.0`: a Python number takes the tensor's device, it does not move it.
  if (a.kind == Kind::Number && b.kind != Kind::Number) {
    out.device = b.device;
  } else if (b.kind == Kind::Number && a.kind != Kind::Number) {
    out.device = a.device;
  } else {
    out.device = a.device == b.device ? a.device : (lead.device != Device::Unknown ? lead.device : other.device);
  }
  const Value& told = lead.evidence_count > 0 ? lead : other;
  out.evidence = told.evidence;
  out.evidence_count = told.evidence_count;
  if ((out.kind == Kind::Function || out.kind == Kind::Class) && out.scope < 0) {
    out.kind = Kind::Unknown;
  }
  return out;
}

ScopeId Model::Impl::enclosing_function(ScopeId scope) const {
  while (scope != kNone && m.m_scopes[static_cast<size_t>(scope)].kind != ScopeKind::Function) {
    scope = m.m_scopes[static_cast<size_t>(scope)].parent;
  }
  return scope;
}

ScopeId Model::Impl::owner_scope(ScopeId scope) const {
  const ScopeId fn = enclosing_function(scope);
  return fn == kNone ? 0 : fn;
}

const Binding* Model::Impl::last_binding_before(const std::string& name, ScopeId owner, std::uint32_t at,
                                                bool whole_assignment_only) const {
  const auto& table = scope_names[static_cast<size_t>(owner)];
  const auto it = table.find(name);
  if (it == table.end()) {
    return nullptr;
  }
  const Binding* last = nullptr;
  for (const BindingId id : it->second) {
    const Binding& b = bindings[static_cast<size_t>(id)];
    const bool counts = !whole_assignment_only || (b.kind == BindingKind::Assign && b.element == -1);
    if (counts && b.stmt_start < at && (last == nullptr || b.stmt_start > last->stmt_start)) {
      last = &b;
    }
  }
  return last;
}

const Binding* Model::Impl::lookup(std::string_view name, ScopeId scope, std::uint32_t pos) const {
  const std::string key(name);
  ScopeId s = scope;
  bool in_start_scope = true;
  while (s != kNone) {
    const Scope& sc = m.m_scopes[static_cast<size_t>(s)];
    // `global x` at module level (legal, and a no-op) must not send the search back to itself.
    if (s != 0 && sc.globals.count(key) != 0) {
      s = 0;
      in_start_scope = false;
      continue;
    }
    // Class bodies are not visible from the functions nested in them.
    if (!(sc.kind == ScopeKind::Class && !in_start_scope)) {
      const auto& table = scope_names[static_cast<size_t>(s)];
      auto it = table.find(key);
      if (it != table.end() && !it->second.empty()) {
        const auto& ids = it->second;
        if (!in_start_scope) {
          return &bindings[static_cast<size_t>(ids.back())]; // runs later: sees the last binding
        }
        // Sorted by visibility (index_for_queries): the last one visible at `pos` binds the use.
        auto visible = std::upper_bound(ids.begin(), ids.end(), pos, [&](std::uint32_t p, BindingId id) {
          return p < bindings[static_cast<size_t>(id)].visible_from;
        });
        if (visible != ids.begin()) {
          return &bindings[static_cast<size_t>(*(visible - 1))];
        }
        // Bound later in this scope only: a loop-carried value or a use before assignment.
        return &bindings[static_cast<size_t>(ids.front())];
      }
    }
    in_start_scope = false;
    s = sc.parent;
  }
  return nullptr;
}

std::vector<const Binding*> Model::Impl::self_attribute_bindings(std::string_view key, ScopeId scope) const {
  std::vector<const Binding*> out;
  const ScopeId fn = enclosing_function(scope);
  if (fn == kNone) {
    return out;
  }
  const ScopeId cls = m.m_scopes[static_cast<size_t>(fn)].class_scope;
  if (cls == kNone) {
    return out;
  }
  const auto& table = scope_names[static_cast<size_t>(cls)];
  auto it = table.find(std::string(key));
  if (it != table.end()) {
    for (BindingId id : it->second) {
      out.push_back(&bindings[static_cast<size_t>(id)]);
    }
  }
  return out;
}

std::string Model::Impl::resolve_qualified(TSNode n, ScopeId scope) const {
  const std::string path = dotted(n);
  if (path.empty()) {
    return {};
  }
  const size_t dot = path.find('.');
  const std::string root = path.substr(0, dot);
  const std::string rest = dot == std::string::npos ? std::string() : path.substr(dot);
  const Binding* b = lookup(root, scope, ts_node_start_byte(n));
  if (b != nullptr) {
    if (b->kind == BindingKind::Import) {
      return b->qualified + rest;
    }
    return {};
  }
  const std::string implicit = implicit_module(root);
  return implicit.empty() ? std::string() : implicit + rest;
}

std::string Model::Impl::class_of_instance(const Call& call) const {
  if (!call.is_method_call() || std::string_view(ts_node_type(call.receiver)) != "identifier") {
    return {};
  }
  const Binding* b = lookup(text(call.receiver), call.scope, ts_node_start_byte(call.receiver));
  if (b == nullptr || b->kind != BindingKind::Assign || b->element != -1 || !b->has_value()) {
    return {};
  }
  const TSNode value = unparen(b->value);
  if (null(value) || std::string_view(ts_node_type(value)) != "call") {
    return {};
  }
  return resolve_qualified(ts_node_child_by_field_name(value, "function", 8), b->scope);
}

bool Model::Impl::disabled_at(std::uint32_t byte, ScopeId scope) const {
  auto it = std::upper_bound(regions.begin(), regions.end(), byte,
                             [](std::uint32_t b, const GradRegion& r) { return b < r.start; });
  auto id = static_cast<std::int32_t>(std::distance(regions.begin(), it) - 1);
  while (id != kNone) {
    const GradRegion& r = regions[static_cast<size_t>(id)];
    if (byte < r.end) {
      return r.disabled; // the innermost region decides: enable_grad inside no_grad enables
    }
    id = region_parent[static_cast<size_t>(id)];
  }
  // Regions are lexical; a function's own grad mode comes from its decorators and callers.
  ScopeId s = scope;
  while (s != kNone) {
    const Scope& sc = m.m_scopes[static_cast<size_t>(s)];
    if (sc.kind == ScopeKind::Function) {
      return sc.facts.grad_disabled;
    }
    s = sc.parent;
  }
  return false;
}

ScopeId Model::Impl::local_callee(TSNode function, ScopeId scope) const {
  function = unparen(function);
  if (null(function)) {
    return kNone;
  }
  const TSSymbol s = ts_node_symbol(function);
  if (s == g.sym.identifier) {
    const Binding* b = lookup(text(function), scope, ts_node_start_byte(function));
    if (b != nullptr && b->kind == BindingKind::FunctionDef) {
      return b->defines;
    }
    return kNone;
  }
  if (s == g.sym.attribute) {
    TSNode object = unparen(field(function, g.field.object));
    if (!null(object) && ts_node_symbol(object) == g.sym.identifier && text(object) == "self") {
      const ScopeId fn = enclosing_function(scope);
      const ScopeId cls = fn == kNone ? kNone : m.m_scopes[static_cast<size_t>(fn)].class_scope;
      if (cls != kNone) {
        const auto& table = scope_names[static_cast<size_t>(cls)];
        auto it = table.find(std::string(text(field(function, g.field.attribute))));
        if (it != table.end()) {
          for (BindingId id : it->second) {
            if (bindings[static_cast<size_t>(id)].kind == BindingKind::FunctionDef) {
              return bindings[static_cast<size_t>(id)].defines;
            }
          }
        }
      }
    }
  }
  return kNone;
}

namespace {

bool names_base(const Scope& cls, std::string_view base) {
  for (const std::string& b : cls.bases) {
    const std::string_view whole(b);
    const std::string_view last = whole.substr(whole.rfind('.') == std::string_view::npos ? 0 : whole.rfind('.') + 1);
    if (last == base) {
      return true;
    }
  }
  return false;
}

} // namespace

// `self.evaluate_mt(...)` in a base class that leaves the method to its subclasses (or a subclass
// calling its base's helper): the methods of that name in the file's classes related by
// inheritance to the caller's.
std::vector<ScopeId> Model::Impl::methods_reached_through_self(TSNode function, ScopeId scope) const {
  std::vector<ScopeId> out;
  function = unparen(function);
  if (null(function) || ts_node_symbol(function) != g.sym.attribute ||
      text(unparen(field(function, g.field.object))) != "self") {
    return out;
  }
  const ScopeId fn = enclosing_function(scope);
  const ScopeId own = fn == kNone ? kNone : m.m_scopes[static_cast<size_t>(fn)].class_scope;
  if (own == kNone) {
    return out;
  }
  const std::string_view method = text(field(function, g.field.attribute));
  const Scope& caller_class = m.m_scopes[static_cast<size_t>(own)];
  for (size_t i = 0; i < m.m_scopes.size(); ++i) {
    const Scope& sc = m.m_scopes[i];
    if (sc.kind != ScopeKind::Function || sc.name != method || sc.class_scope == kNone || sc.class_scope == own ||
        sc.parent != sc.class_scope) {
      continue;
    }
    const Scope& other = m.m_scopes[static_cast<size_t>(sc.class_scope)];
    if (names_base(other, caller_class.name) || names_base(caller_class, other.name)) {
      out.push_back(static_cast<ScopeId>(i));
    }
  }
  return out;
}

// `infer_fn = [infer_basic, infer_mirror][level]`, `fn = fast if ok else slow`, `g = c or step`:
// a call of the name calls one of the local functions its value picks from.
std::vector<ScopeId> Model::Impl::local_callees_picked(TSNode function, ScopeId scope) const {
  std::vector<ScopeId> out;
  function = unparen(function);
  if (null(function) || ts_node_symbol(function) != g.sym.identifier) {
    return out;
  }
  const Binding* b = lookup(text(function), scope, ts_node_start_byte(function));
  if (b == nullptr || b->kind != BindingKind::Assign || !b->has_value() || b->element >= 0) {
    return out;
  }
  collect_picked_functions(b->value, b->scope, 0, out);
  return out;
}

void Model::Impl::collect_picked_functions(TSNode value, ScopeId scope, int depth, std::vector<ScopeId>& out) const {
  value = unparen(value);
  if (null(value) || depth > 3) {
    return;
  }
  const TSSymbol s = ts_node_symbol(value);
  if (s == g.sym.identifier) {
    const Binding* b = lookup(text(value), scope, ts_node_start_byte(value));
    if (b != nullptr && b->kind == BindingKind::FunctionDef &&
        std::find(out.begin(), out.end(), b->defines) == out.end()) {
      out.push_back(b->defines);
    }
    return;
  }
  if (s == g.sym.conditional_expression) {
    // `a if cond else b`: the branches, not the condition.
    const uint32_t n = ts_node_named_child_count(value);
    for (uint32_t i = 0; i < n; i += 2) {
      collect_picked_functions(ts_node_named_child(value, i), scope, depth + 1, out);
    }
    return;
  }
  if (s == g.sym.boolean_operator) {
    collect_picked_functions(field(value, g.field.left), scope, depth + 1, out);
    collect_picked_functions(field(value, g.field.right), scope, depth + 1, out);
    return;
  }
  if (s == g.sym.subscript) {
    TSNode table = unparen(field(value, g.field.value));
    if (null(table)) {
      return;
    }
    const TSSymbol ts = ts_node_symbol(table);
    if (ts != g.sym.list && ts != g.sym.tuple && ts != g.sym.dictionary) {
      return;
    }
    const uint32_t n = ts_node_named_child_count(table);
    for (uint32_t i = 0; i < n; ++i) {
      TSNode entry = ts_node_named_child(table, i);
      if (ts_node_symbol(entry) == g.sym.pair) {
        entry = field(entry, g.field.value);
      }
      collect_picked_functions(entry, scope, depth + 1, out);
    }
  }
}

bool Model::Impl::class_is_module_like(ScopeId cls) const {
  if (cls == kNone) {
    return false;
  }
  const Scope& sc = m.m_scopes[static_cast<size_t>(cls)];
  // An nn.Module subclass names its base: `class RandomQueryGenerator:` (no base, or only
  // `object`) is a plain class, whatever its name says.
  const bool plain = sc.bases.empty() || (sc.bases.size() == 1 && sc.bases.front() == "object");
  if (plain) {
    return false;
  }
  if (names::is_model_name(sc.name, options)) {
    return true;
  }
  if (std::any_of(sc.bases.begin(), sc.bases.end(), [](const std::string& base) {
        return base.find("Module") != std::string::npos || base.find("Model") != std::string::npos ||
               base.find("nn.") != std::string::npos || base.find("Net") != std::string::npos;
      })) {
    return true;
  }
  // `class FCOS(DenseDetector)`: a base imported from the project, or defined in this file, that is a module.
  const TSNode bases = field(sc.node, g.field.superclasses);
  const uint32_t count = null(bases) ? 0 : ts_node_named_child_count(bases);
  for (uint32_t i = 0; i < count && i < 8; ++i) {
    TSNode base = ts_node_named_child(bases, i);
    if (ts_node_symbol(base) == g.sym.subscript) {
      base = field(base, g.field.value); // `class DocumentEmbeddings(Embeddings[Sentence])`: a generic base
    }
    const TSSymbol s = ts_node_symbol(base);
    if (s != g.sym.identifier && s != g.sym.attribute) {
      continue;
    }
    const std::string q = resolve_qualified(base, sc.parent);
    if (library::is_module_base(q)) {
      return true; // `class CustomRCNN(GeneralizedRCNN)`
    }
    if (const FunctionSummary* f = project_function(q); f && f->module_class) {
      return true;
    }
    const Binding* b = s == g.sym.identifier ? lookup(text(base), sc.parent, ts_node_start_byte(sc.node)) : nullptr;
    if (b != nullptr && b->kind == BindingKind::ClassDef && b->defines != cls && b->defines < cls &&
        class_is_module_like(b->defines)) {
      return true;
    }
  }
  return false;
}

void Model::Impl::add_external_bases(ScopeId cls, const ProjectContext& context, std::vector<std::string>& out) const {
  const Scope& sc = m.m_scopes[static_cast<size_t>(cls)];
  const TSNode bases = field(sc.node, g.field.superclasses);
  const uint32_t count = null(bases) ? 0 : ts_node_named_child_count(bases);
  for (uint32_t i = 0; i < count && i < 8; ++i) {
    const TSNode base = ts_node_named_child(bases, i);
    if (ts_node_symbol(base) != g.sym.identifier && ts_node_symbol(base) != g.sym.attribute) {
      continue;
    }
    std::string q = resolve_qualified(base, sc.parent);
    const std::string root = q.substr(0, q.find('.'));
    if (!q.empty() && context.is_local_root(root) && !q.starts_with(context.module + ".")) {
      out.push_back(std::move(q));
    }
  }
}

bool Model::Impl::builds_by_class_style(TSNode callee, ScopeId scope) const {
  if (null(callee) || ts_node_symbol(callee) != g.sym.identifier || !names::is_class_style(text(callee))) {
    return false;
  }
  const Binding* b = lookup(text(callee), scope, ts_node_start_byte(callee));
  return b == nullptr || b->kind == BindingKind::Parameter || b->kind == BindingKind::Import ||
         names_a_class_factory(*b);
}

// `Block = layers.BlockPP` and `Block = functools.partial(BlockPP, act=act)` bind a class (with
// some arguments filled in) to a new name, and `collections.namedtuple(...)` makes one: calling it
// builds something, it does not run a module.
bool Model::Impl::names_a_class_factory(const Binding& b) const {
  if (b.kind != BindingKind::Assign || b.element >= 0 || null(b.value)) {
    return false;
  }
  TSNode value = unparen(b.value);
  if (ts_node_symbol(value) == g.sym.call) {
    const std::string q = resolve_qualified(field(value, g.field.function), b.scope);
    // `MaskedLmInstance = collections.namedtuple(...)`: a record type; calling it builds a record.
    if (q == "collections.namedtuple" || q == "typing.NamedTuple" || q == "dataclasses.make_dataclass") {
      return true;
    }
    TSNode args = field(value, g.field.arguments);
    if (q != "functools.partial" || null(args) || ts_node_named_child_count(args) == 0) {
      return false;
    }
    value = unparen(ts_node_named_child(args, 0));
  }
  const TSSymbol s = ts_node_symbol(value);
  return (s == g.sym.identifier || s == g.sym.attribute) && names::is_class_style(last_name(value));
}

// `self.compute_cis = partial(compute_axial_cis, dim=dim)`, `self.act = lambda x: x * 2`, `self.sd_ref =
// weakref.ref(sd)`: the attribute holds a function (a lowercase name, a lambda, a partial of one, or a
// weak reference), not a submodule.
bool Model::Impl::binds_a_function(const Binding& b) const {
  if (b.kind != BindingKind::Assign || b.element >= 0 || null(b.value)) {
    return false;
  }
  TSNode value = unparen(b.value);
  if (ts_node_symbol(value) == g.sym.lambda) {
    return true;
  }
  if (ts_node_symbol(value) != g.sym.call) {
    return false;
  }
  const std::string callee = resolve_qualified(field(value, g.field.function), b.scope);
  // `self.sd_ref = weakref.ref(sd)`: calling the reference hands back the object, it runs nothing.
  if (callee == "weakref.ref" || callee == "weakref.WeakMethod") {
    return true;
  }
  if (callee != "functools.partial") {
    return false;
  }
  const TSNode args = field(value, g.field.arguments);
  if (null(args) || ts_node_named_child_count(args) == 0) {
    return false;
  }
  const TSNode bound = unparen(ts_node_named_child(args, 0));
  const TSSymbol s = ts_node_symbol(bound);
  return (s == g.sym.identifier || s == g.sym.attribute) && !names::is_class_style(last_name(bound));
}

// `decoder = codecs.getincrementaldecoder("utf-8")()`, `encoder = json.JSONEncoder()`: what Python's
// standard library makes is no model, whatever the name it is given.
bool Model::Impl::made_by_the_standard_library(const Binding& b) const {
  if (b.kind != BindingKind::Assign || null(b.value)) {
    return false;
  }
  TSNode callee = unparen(b.value);
  while (!null(callee) && ts_node_symbol(callee) == g.sym.call) {
    callee = unparen(field(callee, g.field.function));
  }
  if (null(callee) || (ts_node_symbol(callee) != g.sym.attribute && ts_node_symbol(callee) != g.sym.identifier)) {
    return false;
  }
  const std::string q = resolve_qualified(callee, b.scope);
  const std::size_t dot = q.find('.');
  return !q.empty() && names::is_standard_library_module(std::string_view(q).substr(0, dot));
}

// `model: SentenceTransformer`: an annotation naming a class whose instances a library
// describes says what the parameter holds; anything else falls back to its name.
Value Model::Impl::annotated_parameter(const Binding& b) const {
  if (!null(b.annotation)) {
    TSNode type = unparen(b.annotation);
    if (ts_node_named_child_count(type) == 1 && ts_node_symbol(type) == g.sym.type) {
      type = ts_node_named_child(type, 0);
    }
    const std::string q = resolve_qualified(type, b.scope);
    if (const library::Fact* fact = q.empty() ? nullptr : library::qualified_fact(q)) {
      return from_library(*fact);
    }
    // `model: HFDecoderModel`, a class of the run: what it is, not what the name suggests.
    if (const FunctionSummary* f = q.empty() ? nullptr : project_function(q)) {
      if (f->plain_class || f->callable_class) {
        return Value{Grad::No, Kind::Instance, Source::None, -1, q, {}};
      }
      if (f->module_class) {
        return of_kind(Kind::Module);
      }
    }
  }
  return name_heuristic(b.name);
}

Value Model::Impl::name_heuristic(std::string_view name) const {
  if (library::is_pipeline_name(name)) {
    return of_kind(Kind::Pipeline);
  }
  if (module_receivers.count(std::string(name)) != 0) {
    return of_kind(Kind::Module); // `.eval()` or `.parameters()` is called on it
  }
  if (names::is_loss_name(name, options)) {
    return of_kind(Kind::LossModule);
  }
  if (names::is_model_name(name, options)) {
    return of_kind(Kind::Module);
  }
  return Value::unknown();
}

const FunctionSummary* Model::Impl::project_function(std::string_view qualified) const {
  if (project == nullptr || project->facts == nullptr || qualified.empty()) {
    return nullptr;
  }
  return project->facts->function(qualified);
}

ScopeId Model::Impl::method_of(ScopeId cls, std::string_view name) const {
  if (cls < 0) {
    return kNone;
  }
  for (size_t i = static_cast<size_t>(cls) + 1; i < m.m_scopes.size(); ++i) {
    const Scope& sc = m.m_scopes[i];
    if (sc.parent == cls && sc.is_function() && sc.name == name) {
      return static_cast<ScopeId>(i);
    }
  }
  return kNone;
}

FunctionSummary Model::Impl::returns_summary(ScopeId fn) const {
  FunctionSummary f;
  const Value r = function_returns(fn, 0);
  f.returns = r.grad;
  f.returns_kind = r.kind;
  for (const Value& e : r.elements) {
    f.elements.push_back(e.grad);
  }
  return f;
}

Value Model::Impl::value_from_summary(const FunctionSummary& f) const {
  Value v{f.returns,
          f.returns_kind == Kind::Loss ? Kind::Loss : Kind::Tensor,
          f.returns == Grad::Yes ? Source::Helper : Source::None,
          -1,
          {},
          {}};
  // A summary keeps only each element's grad state: an element without a graph may be a module
  // (`model, train_tf, val_tf = create_model_and_transforms(name)`), a number or a tensor.
  for (Grad e : f.elements) {
    v.elements.push_back(Value{
        e, e == Grad::Yes ? Kind::Tensor : Kind::Unknown, e == Grad::Yes ? Source::Helper : Source::None, -1, {}, {}});
  }
  // Kinds that name something in the other module's own model (its functions, classes,
  // scopes) mean nothing here.
  const Kind k = f.returns_kind;
  if (k == Kind::Number || k == Kind::Module || k == Kind::LossModule || k == Kind::ModelOutput) {
    v.kind = k;
  } else if (k != Kind::Loss && k != Kind::Tensor) {
    v.kind = f.returns == Grad::Yes ? Kind::Tensor : Kind::Unknown;
  }
  return v;
}

Value Model::Impl::call_of_instance(const Value& instance, int depth) const {
  Value out;
  std::string_view cls;
  if (instance.scope >= 0) {
    out = function_returns(method_of(instance.scope, "__call__"), depth + 1);
    cls = m.m_scopes[static_cast<size_t>(instance.scope)].name;
  } else if (const FunctionSummary* f = project_function(instance.qualified)) {
    out = value_from_summary(*f);
    cls = std::string_view(instance.qualified).substr(instance.qualified.rfind('.') + 1);
  }
  if (!names::is_loss_name(cls, options)) {
    return out;
  }
  // A loss class's `__call__` computes from its arguments, which the summary cannot see: what it
  // does not show detached is a loss of the caller's graph, as for any criterion.
  // An element of the tuple it returns may be a vector of terms (`loss_items`), not a scalar.
  auto as_loss = [](Value& v, Kind kind) {
    if (v.grad == Grad::Unknown) {
      std::vector<Value> elements = std::move(v.elements);
      v = grad_tensor(Source::LossFunction, kind);
      v.elements = std::move(elements);
    }
  };
  as_loss(out, out.elements.empty() ? Kind::Loss : Kind::Tensor);
  for (Value& e : out.elements) {
    as_loss(e, Kind::Tensor);
  }
  return out;
}

Value Model::Impl::function_returns(ScopeId fn, int depth) const {
  if (fn < 0 || static_cast<size_t>(fn) >= m.m_scopes.size()) {
    return Value::unknown();
  }
  if (auto it = returns_memo.find(fn); it != returns_memo.end()) {
    return it->second;
  }
  if (auto busy = returns_busy.find(fn); busy != returns_busy.end() || depth > kMaxDepth) {
    evaluation_stack.cut_at(busy != returns_busy.end() ? busy->second : EvaluationStack::kDepthCut);
    return Value::unknown();
  }
  const int frame = evaluation_stack.push();
  returns_busy.emplace(fn, frame);
  const Scope& sc = m.m_scopes[static_cast<size_t>(fn)];
  Value out;
  bool first = true;
  bool kinds_differ = false;
  for (TSNode r : sc.returns) {
    // `return` and `return None` (the "nothing this time" of an Optional tuple, which the
    // caller tests before unpacking) say nothing about the tuple's elements.
    if (null(r) || ts_node_symbol(unparen(r)) == g.sym.none) {
      continue;
    }
    Value v = eval(r, fn, depth + 1);
    if (first) {
      out = v;
      first = false;
    } else {
      kinds_differ = kinds_differ || v.kind != out.kind;
      Value joined = join(out, v);
      // Keep per-element facts of tuple returns when every return has the same arity.
      if (out.elements.size() == v.elements.size()) {
        for (size_t i = 0; i < v.elements.size(); ++i) {
          joined.elements.push_back(join(out.elements[i], v.elements[i]));
        }
      }
      out = joined;
    }
  }
  // `return model` on one path and `return getattr(model, attr)` on another: what a call gives
  // may be a method or a setting, so calling it is no known forward.
  if (kinds_differ && out.kind == Kind::Module) {
    out.kind = Kind::Unknown;
  }
  if (sc.facts.grad_disabled) {
    out.grad = out.grad == Grad::Yes ? Grad::No : out.grad;
    for (Value& e : out.elements) {
      e.grad = e.grad == Grad::Yes ? Grad::No : e.grad;
    }
  }
  if (out.grad == Grad::Yes) {
    out.source = Source::Helper;
  }
  returns_busy.erase(fn);
  if (evaluation_stack.pop(frame)) {
    returns_memo.emplace(fn, out);
  }
  return out;
}

const std::vector<bool>& Model::Impl::params_reaching_return(ScopeId fn, int depth) const {
  if (auto it = params_memo.find(fn); it != params_memo.end()) {
    return it->second;
  }
  const std::vector<BindingId> params = positional_parameter_bindings(fn);
  std::vector<bool> flows(params.size(), false);
  // Each parameter in turn taken as graph-carrying, everything else evaluated afresh: the
  // memos hold values computed without that assumption, so they are set aside meanwhile.
  auto saved_bindings = std::move(binding_memo);
  auto saved_returns = std::move(returns_memo);
  for (size_t i = 0; i < params.size(); ++i) {
    binding_memo.clear();
    returns_memo.clear();
    tainted_param = params[i];
    flows[i] = function_returns(fn, depth + 1).grad == Grad::Yes;
  }
  tainted_param = -1;
  binding_memo = std::move(saved_bindings);
  returns_memo = std::move(saved_returns);
  return params_memo.emplace(fn, std::move(flows)).first->second;
}

std::optional<Value> Model::Impl::returned_through_arguments(ScopeId fn, TSNode args, ScopeId scope, int depth) const {
  // One level deep, outside another function's parameter analysis, for plain positional calls.
  if (tainted_param >= 0 || null(args) || ts_node_symbol(args) != g.sym.argument_list || depth > kMaxDepth / 2) {
    return std::nullopt;
  }
  std::vector<Value> graph_args;
  const uint32_t n = ts_node_named_child_count(args);
  for (uint32_t i = 0; i < n; ++i) {
    const TSNode arg = ts_node_named_child(args, i);
    const TSSymbol s = ts_node_symbol(arg);
    if (s == g.sym.keyword_argument || s == g.sym.list_splat || s == g.sym.dictionary_splat) {
      break;
    }
    graph_args.push_back(eval(arg, scope, depth + 1));
  }
  if (std::none_of(graph_args.begin(), graph_args.end(), [](const Value& v) { return v.grad == Grad::Yes; })) {
    return std::nullopt;
  }
  const std::vector<bool>& flows = params_reaching_return(fn, depth);
  for (size_t i = 0; i < graph_args.size() && i < flows.size(); ++i) {
    if (flows[i] && graph_args[i].grad == Grad::Yes) {
      Value out = derived(graph_args[i], Kind::Tensor);
      out.source = Source::Helper;
      const TSNode call = ts_node_parent(args);
      out.add_evidence(Evidence{ts_node_start_byte(call), ts_node_end_byte(call), Step::Helper, nullptr});
      return out;
    }
  }
  return std::nullopt;
}

// The expression a binding takes its value from: `b` in `a, b = x, y` is `y`.
TSNode Model::Impl::element_node(const Binding& b) const {
  const TSNode whole = unparen(b.value);
  if (b.element < 0 || null(whole)) {
    return whole;
  }
  const TSSymbol s = ts_node_symbol(whole);
  if ((s == g.sym.tuple || s == g.sym.expression_list || s == g.sym.list) &&
      static_cast<uint32_t>(b.element) < ts_node_named_child_count(whole)) {
    return ts_node_named_child(whole, static_cast<uint32_t>(b.element));
  }
  return TSNode{};
}

bool Model::Impl::is_empty_list_literal(TSNode n) const {
  n = unparen(n);
  return !null(n) && ts_node_symbol(n) == g.sym.list && ts_node_named_child_count(n) == 0;
}

// `log_probs = []` then `log_probs.append(dist.log_prob(a))`: what the list holds is what its
// function appends to it afterwards (`torch.stack(log_probs)` carries their graph).
Value Model::Impl::appended_into(const Binding& b, int depth) const {
  Value out{Grad::No, Kind::Container, Source::None, -1, {}, {}};
  const ScopeId owner = owner_scope(b.scope);
  const auto it = stores_by_container.find(b.name);
  if (it == stores_by_container.end()) {
    return out;
  }
  for (const size_t index : it->second) {
    const Store& st = store_candidates[index];
    if (ts_node_start_byte(st.statement) <= b.stmt_start || owner_scope(st.scope) != owner) {
      continue;
    }
    Value element = eval(st.value, st.scope, depth + 1);
    if (st.kind == StoreKind::Extend || st.kind == StoreKind::ListAugment) {
      element.kind = Kind::Unknown; // the elements of what is added, not the value itself
    }
    const Value joined = join(out, element);
    out.grad = joined.grad;
    if (out.source == Source::None && element.grad == Grad::Yes) {
      out.source = element.source;
      out.evidence = element.evidence;
      out.evidence_count = element.evidence_count;
    }
  }
  return out;
}

Value Model::Impl::eval_binding(BindingId id, int depth) const {
  if (auto it = binding_memo.find(id); it != binding_memo.end()) {
    return it->second;
  }
  if (auto busy = binding_busy.find(id); busy != binding_busy.end() || depth > kMaxDepth) {
    evaluation_stack.cut_at(busy != binding_busy.end() ? busy->second : EvaluationStack::kDepthCut);
    return Value::unknown();
  }
  const int frame = evaluation_stack.push();
  binding_busy.emplace(id, frame);
  const Binding& b = bindings[static_cast<size_t>(id)];
  Value v;
  switch (b.kind) {
  case BindingKind::Import:
    v = Value{Grad::No, Kind::PyModule, Source::None, -1, b.qualified, {}};
    break;
  case BindingKind::FunctionDef:
    v = Value{Grad::No, Kind::Function, Source::None, b.defines, {}, {}};
    break;
  case BindingKind::ClassDef:
    v = Value{Grad::No, Kind::Class, Source::None, b.defines, {}, {}};
    break;
  case BindingKind::Parameter:
    v = id == tainted_param ? grad_tensor(Source::Helper, Kind::Tensor) : annotated_parameter(b);
    break;
  case BindingKind::AugAssign: {
    Value previous;
    const Binding* prev = nullptr;
    if (!b.name.starts_with("self.")) {
      prev = lookup(b.name, b.scope, b.stmt_start);
    }
    if (prev != nullptr && prev != &b) {
      previous = eval_binding(static_cast<BindingId>(prev - bindings.data()), depth + 1);
    }
    v = join(previous, eval(b.value, b.scope, depth + 1));
    break;
  }
  case BindingKind::ForTarget: {
    const Value iterable = eval(b.value, b.scope, depth + 1);
    if (iterable.grad == Grad::Yes) {
      v = derived(iterable, Kind::Tensor);
    } else if (iterable.kind == Kind::ModelOutput && b.element < 0 && iterable.device != Device::Cpu) {
      // `for det in model(images)`: each element (a detector's per-image dict, a row of ids) is
      // still the model's output on its device.
      v = iterable;
    } else {
      v = Value::unknown();
    }
    break;
  }
  case BindingKind::WithTarget:
  case BindingKind::Other:
    v = Value::unknown();
    break;
  case BindingKind::Assign:
  case BindingKind::Walrus: {
    Value whole = eval(b.value, b.scope, depth + 1);
    if (b.element >= 0) {
      if (static_cast<size_t>(b.element) < whole.elements.size()) {
        v = whole.elements[static_cast<size_t>(b.element)];
      } else if (names::is_measurement_name(b.name)) {
        v = Value::number(); // `out, generation_time = policy(x)`: the name says what the element is
      } else if (b.element > 0 && names::is_logging_record_name(b.name)) {
        // `loss, log = model.forward(pos, neg)`: the record beside the output is for logging,
        // made of `.item()`s as a rule, and unknown here.
        v = Value::unknown();
      } else if (whole.source == Source::LossFunction && b.element > 0) {
        // `loss, chosen_rewards, rejected_rewards = loss_fn(...)`: the first is the loss; what a
        // loss returns beside it is for logging, often detached, and unknown here.
        v = Value::unknown();
      } else if (whole.kind == Kind::ModelOutput && whole.grad == Grad::No && whole.source == Source::Forward &&
                 b.element >= 0) {
        // `image_features, text_features, scale = model(images, texts)` under no_grad: each part is
        // the model's output, on its device, without a graph (a loss among them is one number).
        v = whole;
        v.kind = names::is_loss_name(b.name, options) ? Kind::Loss : Kind::ModelOutput;
      } else if (whole.kind == Kind::ModelOutput || whole.grad == Grad::Yes) {
        v = whole.grad == Grad::Yes ? derived(whole, Kind::Tensor) : Value::unknown();
      } else {
        v = Value{whole.grad == Grad::No ? Grad::No : Grad::Unknown, Kind::Unknown, Source::None, -1, {}, {}};
      }
    } else {
      v = whole;
    }
    if (is_empty_list_literal(element_node(b))) {
      v = appended_into(b, depth);
    }
    break;
  }
  }
  // A name that is back-propagated in its function carries a graph unless we know otherwise.
  if (v.grad == Grad::Unknown && b.kind != BindingKind::Parameter && !disabled_at(b.stmt_start, b.scope)) {
    const ScopeId owner = owner_scope(b.scope);
    const bool backprop = m.m_scopes[static_cast<size_t>(owner)].backprop_names.count(b.name) != 0;
    if (backprop || (b.kind == BindingKind::Assign && is_term_of_backpropagated_loss(b.name, owner))) {
      v = grad_tensor(Source::Backprop, Kind::Loss);
      const TSNode where = null(b.target) ? b.value : b.target;
      if (!null(where)) {
        v.add_evidence(Evidence{ts_node_start_byte(where), ts_node_end_byte(where),
                                backprop ? Step::Backprop : Step::BackpropTerm, nullptr});
      }
    }
  }
  if (v.source != Source::None && b.kind != BindingKind::Parameter) {
    const TSNode where = null(b.target) ? b.value : b.target;
    const bool told = v.evidence_count > 0 && v.evidence[v.evidence_count - 1].start == ts_node_start_byte(where);
    if (!null(where) && !told) {
      v.add_evidence(Evidence{ts_node_start_byte(where), ts_node_end_byte(where), Step::Binding, nullptr});
    }
  }
  binding_busy.erase(id);
  if (evaluation_stack.pop(frame)) {
    binding_memo.emplace(id, v);
  }
  return v;
}

namespace {

Step step_for(Source source) {
  switch (source) {
  case Source::Forward:
    return Step::Forward;
  case Source::LossFunction:
    return Step::Loss;
  case Source::Backprop:
    return Step::Backprop;
  case Source::Helper:
    return Step::Helper;
  case Source::Output:
  case Source::None:
    break;
  }
  return Step::Output;
}

} // namespace

// `out, attn_loss, ratio = model(data)` with a module class of this file whose `forward` returns
// `ratio = out.size(0) / x.size(0)` beside its outputs: that element is a number, not the graph.
Value Model::Impl::with_numbers_its_forward_returns(Value output, ScopeId cls, int depth) const {
  if (cls < 0 || static_cast<size_t>(cls) >= m.m_scopes.size() ||
      m.m_scopes[static_cast<size_t>(cls)].kind != ScopeKind::Class) {
    return output;
  }
  const ScopeId forward = method_of(cls, "forward");
  if (forward == kNone) {
    return output;
  }
  const Value returned = function_returns(forward, depth + 1);
  if (returned.elements.size() < 2 ||
      std::none_of(returned.elements.begin(), returned.elements.end(),
                   [](const Value& e) { return e.grad == Grad::No && e.kind == Kind::Number; })) {
    return output;
  }
  std::vector<Value> elements;
  for (const Value& e : returned.elements) {
    if (e.grad == Grad::No && e.kind == Kind::Number) {
      elements.push_back(Value::number());
    } else {
      Value part = output;
      part.kind = Kind::Tensor;
      elements.push_back(std::move(part));
    }
  }
  output.elements = std::move(elements);
  return output;
}

// `getattr(policy, "decode_predicted_latents", None)`: what the attribute named by the string is.
// A name that says model (`getattr(model, "module", model)`) is a submodule as `policy.module`
// would be; any other fetched attribute is a method or a setting, never a module to run.
Value Model::Impl::fetched_attribute(TSNode args, ScopeId scope, int depth) const {
  if (null(args) || ts_node_named_child_count(args) < 2) {
    return Value::unknown();
  }
  const TSNode key = ts_node_named_child(args, 1);
  if (ts_node_symbol(key) != g.sym.string) {
    return Value::unknown();
  }
  std::string_view name = text(key);
  if (name.find('{') != std::string_view::npos) {
    return Value::unknown(); // `getattr(self, f"{modality}_encoder")`: which attribute is not in the text
  }
  while (!name.empty() &&
         (name.front() == '"' || name.front() == '\'' || std::isalpha(static_cast<unsigned char>(name.front())) == 0)) {
    name.remove_prefix(1);
  }
  while (!name.empty() && (name.back() == '"' || name.back() == '\'')) {
    name.remove_suffix(1);
  }
  if (name == "module" || name == "_orig_mod" || names::is_model_name(name, options)) {
    const Value object = eval(ts_node_named_child(args, 0), scope, depth + 1);
    return object.kind == Kind::Module || name_heuristic(name).kind == Kind::Module ? of_kind(Kind::Module)
                                                                                    : Value::unknown();
  }
  return Value::unknown();
}

// `decoder = getattr(policy, "decode_latents", None) or getattr(policy, "_decode", None)`: the name
// holds what the strings name (a method), whatever the name says.
bool Model::Impl::fetches_a_method(const Binding& b) const {
  if (b.kind != BindingKind::Assign || b.element >= 0 || null(b.value)) {
    return false;
  }
  std::vector<TSNode> pending{unparen(b.value)};
  bool any = false;
  for (int guard = 0; guard < 8 && !pending.empty(); ++guard) {
    const TSNode v = pending.back();
    pending.pop_back();
    if (ts_node_symbol(v) == g.sym.boolean_operator) {
      pending.push_back(unparen(field(v, g.field.left)));
      pending.push_back(unparen(field(v, g.field.right)));
      continue;
    }
    if (ts_node_symbol(v) == g.sym.none) {
      continue;
    }
    const TSNode args = ts_node_symbol(v) == g.sym.call ? field(v, g.field.arguments) : TSNode{};
    if (null(args) || text(field(v, g.field.function)) != "getattr" || ts_node_named_child_count(args) < 2 ||
        ts_node_symbol(ts_node_named_child(args, 1)) != g.sym.string) {
      return false;
    }
    const std::string_view key = text(ts_node_named_child(args, 1));
    if (key.find("module") != std::string_view::npos || names::is_model_name(key, options)) {
      return false;
    }
    any = true;
  }
  return any && pending.empty();
}

const library::Fact* Model::Impl::tokenizer_keyword_in(TSNode args) const {
  const uint32_t count = null(args) ? 0 : ts_node_named_child_count(args);
  for (uint32_t i = 0; i < count && i < 32; ++i) {
    const TSNode a = ts_node_named_child(args, i);
    if (ts_node_symbol(a) == g.sym.keyword_argument) {
      if (const library::Fact* fact = library::tokenizer_keyword_fact(text(field(a, g.field.name)))) {
        return fact;
      }
    }
  }
  return nullptr;
}

Value Model::Impl::eval_call(TSNode call, ScopeId scope, int depth) const {
  Value v = eval_call_kind(call, scope, depth);
  // A call that makes a graph-carrying (or forward-produced) value is where its story starts.
  const Evidence here{ts_node_start_byte(call), ts_node_end_byte(call), step_for(v.source), nullptr};
  if (v.source != Source::None && v.evidence_count == 0) {
    v.add_evidence(here);
  }
  // The elements of a returned tuple (`loss, items = compute_loss(...)`) start here too.
  for (Value& e : v.elements) {
    if (e.source != Source::None && e.evidence_count == 0) {
      e.add_evidence(Evidence{here.start, here.end, step_for(e.source), nullptr});
    }
  }
  return v;
}

Value Model::Impl::eval_call_kind(TSNode call, ScopeId scope, int depth) const {
  TSNode fn = unparen(field(call, g.field.function));
  TSNode args = field(call, g.field.arguments);
  const std::uint32_t at = ts_node_start_byte(call);
  const bool disabled = disabled_at(at, scope);
  auto when_enabled = [&](Value v) {
    if (disabled && v.grad == Grad::Yes) {
      v.grad = Grad::No;
    }
    return v;
  };
  if (const library::Fact* fact = tokenizer_keyword_in(args)) {
    return from_library(*fact); // `model.encode(texts, return_tensors="pt")`: a tokenizer's work
  }
  auto join_args = [&](bool keywords = false) {
    Value out{Grad::No, Kind::Tensor, Source::None, -1, {}, {}};
    if (null(args)) {
      return out;
    }
    if (ts_node_symbol(args) == g.sym.generator_expression) { // sum(l for l in losses)
      out = eval(args, scope, depth + 1);
      out.kind = out.grad == Grad::Yes ? Kind::Tensor : out.kind;
      out.elements.clear();
      return out;
    }
    const uint32_t count = ts_node_named_child_count(args);
    for (uint32_t i = 0; i < count && i < 16; ++i) {
      TSNode a = ts_node_named_child(args, i);
      if (ts_node_symbol(a) == g.sym.keyword_argument) {
        if (!keywords) {
          continue;
        }
        a = field(a, g.field.value);
      }
      if (ts_node_symbol(a) == g.sym.list_splat) {
        a = ts_node_named_child(a, 0);
      }
      out = join(out, eval(a, scope, depth + 1));
    }
    if (out.kind != Kind::Loss) {
      out.kind = Kind::Tensor;
    }
    out.elements.clear();
    return out;
  };
  // A loss of inputs that carry no graph (`criterion(pred.detach().cpu(), y)`) has none either.
  auto loss_call = [&]() {
    const uint32_t count = null(args) ? 0 : ts_node_named_child_count(args);
    bool graph_free = false;
    for (uint32_t i = 0; i < count && i < 16; ++i) {
      const TSNode a = ts_node_named_child(args, i);
      if (ts_node_symbol(a) == g.sym.keyword_argument) {
        continue;
      }
      if (ts_node_symbol(a) == g.sym.list_splat || ts_node_symbol(a) == g.sym.dictionary_splat ||
          eval(a, scope, depth + 1).grad != Grad::No) {
        graph_free = false;
        break;
      }
      graph_free = true;
    }
    if (graph_free) {
      Value v = no_grad_tensor();
      v.kind = Kind::Loss;
      return v;
    }
    return when_enabled(grad_tensor(Source::LossFunction, Kind::Loss));
  };
  if (null(fn)) {
    return Value::unknown();
  }
  if (ts_node_symbol(fn) == g.sym.identifier && text(fn) == "getattr") {
    return fetched_attribute(args, scope, depth);
  }
  if (forward_of_a_frozen_module(fn, at)) {
    return when_enabled(join_args()); // what its inputs carry, and nothing of its own
  }
  const std::string q = resolve_qualified(fn, scope);
  if (!q.empty()) {
    if (const library::Fact* fact = library::qualified_fact(q)) {
      return from_library(*fact);
    }
    if (q == "torch.device") {
      Value v = Value::unknown();
      if (!null(args) && ts_node_named_child_count(args) > 0) {
        v.device = eval(ts_node_named_child(args, 0), scope, depth + 1).device;
      }
      return v;
    }
    if (const FunctionSummary* f = project_function(q)) {
      if (f->module_class) {
        return of_kind(Kind::Module);
      }
      if (f->callable_class || f->plain_class) {
        return Value{Grad::No, Kind::Instance, Source::None, -1, q, {}};
      }
      return when_enabled(value_from_summary(*f));
    }
    if (names::is_torch_loss_function(q)) {
      Value loss = loss_call();
      loss.pins_elementwise = q == "torch.nn.functional.mse_loss" || q == "torch.nn.functional.smooth_l1_loss" ||
                              q == "torch.nn.functional.huber_loss";
      return loss;
    }
    if (names::is_torch_loss_class(q)) {
      return of_kind(Kind::LossModule);
    }
    if (q.starts_with("torch.distributions.")) {
      Value dist = join_args(true); // built from a policy's logits (`logits=`), it carries their graph
      dist.kind = Kind::Distribution;
      return when_enabled(dist);
    }
    if (q.starts_with("torch.nn.functional.") || q == "torch.stack" || q == "torch.cat" || q == "torch.mean" ||
        q == "torch.sum" || q == "torch.matmul" || q == "torch.softmax" || q == "torch.sigmoid" || q == "torch.exp" ||
        q == "torch.log" || q == "torch.where" || q == "torch.einsum" || q == "torch.concat" || q == "torch.bmm" ||
        q == "torch.flatten" || q == "torch.squeeze" || q == "torch.tanh" || q == "torch.relu" || q == "torch.clamp" ||
        q == "torch.abs" || q == "torch.norm" || q == "torch.pow" || q == "torch.sqrt" || q == "torch.square" ||
        q == "torch.logsumexp" || q == "torch.max" || q == "torch.min") {
      Value v = join_args();
      if ((q == "torch.mean" || q == "torch.sum") && v.grad == Grad::Yes) {
        v.kind = Kind::Loss;
      }
      return when_enabled(v);
    }
    if (q.starts_with("torch.nn.") && !q.starts_with("torch.nn.utils") && !q.starts_with("torch.nn.init") &&
        !q.starts_with("torch.nn.parallel.scatter") && q != "torch.nn.Parameter") {
      Value layer = of_kind(Kind::Module);
      if (names::is_parameter_free_layer(q)) {
        layer.qualified = q; // remembered for its calls: no parameters, no graph of its own
      }
      return layer;
    }
    if (q.starts_with("torchvision.models.") || q == "timm.create_model" || q.ends_with(".from_pretrained") ||
        q.starts_with("torch.compile") || q.starts_with("torch.nn.parallel.") || q == "torch.hub.load" ||
        q == "torch.jit.load" || q == "torch.jit.script" || q == "torch.jit.trace") {
      // `BertTokenizer.from_pretrained`, `sp_tokenizer.from_pretrained()`, `AutoConfig`: no module.
      const std::string lower = to_lower(q);
      if (lower.find("tokenizer") != std::string::npos || lower.find("processor") != std::string::npos ||
          lower.find("config") != std::string::npos) {
        return Value::unknown();
      }
      return of_kind(Kind::Module);
    }
    if (q.starts_with("torch.")) {
      return Value{Grad::No, Kind::Tensor, Source::None, -1, {}, {}};
    }
  }

  const TSSymbol fs = ts_node_symbol(fn);
  if (fs == g.sym.attribute) {
    const std::string_view method = text(field(fn, g.field.attribute));
    TSNode object = field(fn, g.field.object);
    if (names::is_grad_killing_method(method)) {
      return method == "detach" || method == "detach_" ? no_grad_tensor() : Value::number();
    }
    // The class's own `step` (a trainer's training step) is not an optimizer's.
    const ScopeId local = local_callee(fn, scope);
    if (local != kNone) {
      return when_enabled(function_returns(local, depth + 1));
    }
    if (method == "backward" || method == "zero_grad" || method == "step") {
      return Value::number();
    }
    if (const library::Fact* fact = library::method_fact(method)) {
      const Value receiver = eval(object, scope, depth + 1);
      if (fact->returns == library::Returns::NoGradOutput &&
          (receiver.kind == Kind::Module || names::is_model_name(last_name(object), options))) {
        return generated_output(call, *fact);
      }
      if (fact->any_receiver || receiver.kind != Kind::Module) {
        return from_library(*fact);
      }
    }
    if (!null(object) && ts_node_symbol(unparen(object)) == g.sym.identifier && text(unparen(object)) == "self") {
      const Value attribute = eval(fn, scope, depth + 1); // what `self.x` holds
      if (attribute.kind == Kind::Module) {
        return when_enabled(grad_tensor(Source::Forward, Kind::ModelOutput));
      }
      if (attribute.kind == Kind::LossModule) {
        return loss_call();
      }
    }
    const Value receiver = eval(object, scope, depth + 1);
    if (receiver.kind == Kind::Distribution) {
      return when_enabled(distribution_method(receiver, method));
    }
    if (receiver.kind != Kind::Module && receiver.kind != Kind::Pipeline && receiver.kind != Kind::PyModule &&
        receiver.kind != Kind::Class) {
      // Where a tensor method puts its result: `.cpu()`, `.to("cpu")` move it off the device.
      if (method == "cpu" || (method == "to" && !null(args) && names::names_the_cpu(text(args)))) {
        Value moved = receiver.grad == Grad::Yes
                          ? derived(receiver, receiver.kind == Kind::Loss ? Kind::Loss : Kind::Tensor)
                          : receiver;
        moved.device = Device::Cpu;
        moved.pins_elementwise = false;
        if (moved.kind == Kind::Container || moved.kind == Kind::Unknown) {
          moved.kind = Kind::Tensor;
        }
        return moved;
      }
    }
    if (receiver.kind == Kind::Pipeline) {
      // `pipe.to(device)` is the pipeline again; anything else it runs is under no_grad.
      return names::is_module_returning_method(method) ? receiver : no_grad_tensor();
    }
    if (receiver.kind == Kind::Module) {
      if (method == "module" || method == "_orig_mod" || names::is_model_name(method, options)) {
        return when_enabled(grad_tensor(Source::Forward, Kind::ModelOutput)); // calling a submodule
      }
      if (names::is_module_returning_method(method)) {
        Value moved = of_kind(Kind::Module);
        moved.qualified = receiver.qualified;
        moved.scope = receiver.scope;
        return moved;
      }
      if (method == "forward" || method == "__call__") {
        if (forward_returns_a_number(object, scope, depth)) {
          return Value::number();
        }
        if (forward_may_return_a_number(object, scope, depth)) {
          return Value{}; // a number on some path, a tuple on another: nothing known
        }
        return when_enabled(grad_tensor(Source::Forward, Kind::ModelOutput));
      }
      if (names::is_forward_like_method(method)) {
        return when_enabled(grad_tensor(Source::Forward));
      }
      if (names::is_part_forward_method(method) && disabled) {
        return when_enabled(grad_tensor(Source::Forward)); // the module's output, without a graph here
      }
      if (method == "compute_loss" || names::is_loss_name(method, options)) {
        return when_enabled(grad_tensor(Source::LossFunction, Kind::Loss));
      }
      return Value::unknown();
    }
    if (receiver.kind == Kind::LossModule && method == "forward") {
      return loss_call();
    }
    if (receiver.kind == Kind::Class && method == "from_pretrained") {
      const std::string loaded = std::string(last_name(object)) + ".from_pretrained";
      if (const library::Fact* fact = library::qualified_fact(loaded)) {
        return from_library(*fact); // a pipeline class of this file
      }
      // `BertTokenizer.from_pretrained(...)`, `AutoConfig`, `CLIPImageProcessor`: no module.
      static constexpr std::array<std::string_view, 7> kNotModules = {
          "tokenizer", "processor", "extractor", "config", "configuration", "scheduler", "pipeline"};
      const auto words = identifier_words(last_name(object));
      if (std::any_of(kNotModules.begin(), kNotModules.end(), [&](std::string_view w) { return words.contains(w); })) {
        return Value::unknown();
      }
      return of_kind(Kind::Module);
    }
    if (receiver.grad == Grad::Yes) {
      // Tensor methods keep the graph: .cpu(), .to(), .float(), .mean(), .view(), ...
      Value v = derived(receiver, receiver.kind == Kind::Loss ? Kind::Loss : Kind::Tensor);
      // `x.sum()` is one number; `x.sum(1)` keeps a tensor per row, which `.item()` cannot take.
      if ((method == "mean" || method == "sum") && !reduces_along_a_dim(args)) {
        v.kind = Kind::Loss;
      }
      if (method == "argmax" || method == "argmin" || method == "eq" || method == "ne" || method == "gt" ||
          method == "lt" || method == "long" || method == "int" || method == "bool" || method == "byte" ||
          method == "short" || method == "char" || casts_to_an_integer_dtype(method, args)) {
        // Integer and boolean results have no graph, and are still computed from the same
        // forward, on its device (`logits.argmax(1)` kept in evaluation code).
        v.kind = Kind::Tensor;
        v.grad = Grad::No;
        return v;
      }
      return v;
    }
    if (receiver.grad == Grad::No &&
        (receiver.kind == Kind::Tensor || receiver.kind == Kind::Number || receiver.kind == Kind::ModelOutput)) {
      // A method of a tensor without a graph: still no graph, still from the same forward
      // (`value_fn(obs).squeeze(-1)` under `inference_mode` is that forward's output).
      Value v = derived(receiver, receiver.kind == Kind::ModelOutput ? Kind::Tensor : receiver.kind);
      v.grad = Grad::No;
      return v;
    }
    if (receiver.kind == Kind::Unknown || receiver.kind == Kind::PyModule) {
      if (names::is_loss_name(method, options) && method != "losses") {
        return when_enabled(grad_tensor(Source::LossFunction, Kind::Loss));
      }
      if (!null(object) && text(object) == "self" && names::is_model_name(method, options)) {
        return when_enabled(grad_tensor(Source::Forward, Kind::ModelOutput));
      }
    }
    return Value::unknown();
  }

  if (fs == g.sym.identifier) {
    const std::string_view name = text(fn);
    const Binding* b = lookup(name, scope, at);
    if (b == nullptr) {
      if (is_number_builtin(name)) {
        return Value::number();
      }
      if (is_tensor_builtin_passthrough(name)) {
        Value v = join_args();
        if (name == "sum" && v.grad == Grad::Yes) {
          v.kind = Kind::Loss;
        }
        return v;
      }
      const Value guess = name_heuristic(name);
      if (guess.kind == Kind::LossModule) {
        return loss_call();
      }
      if (guess.kind == Kind::Module) {
        return names::is_class_style(name) ? of_kind(Kind::Module)
                                           : when_enabled(grad_tensor(Source::Forward, Kind::ModelOutput));
      }
      if (guess.kind == Kind::Pipeline) {
        return no_grad_tensor();
      }
      return Value::unknown();
    }
  }

  const Value callee = eval(fn, scope, depth + 1);
  // `model = model()` over a dict of factories: a model's forward takes inputs; a bare name
  // called with none builds something.
  if (fs == g.sym.identifier && callee.kind == Kind::Module && !null(args) && ts_node_named_child_count(args) == 0) {
    return Value::unknown();
  }
  switch (callee.kind) {
  case Kind::Function: {
    const Value returned = when_enabled(function_returns(callee.scope, depth + 1));
    if (returned.grad == Grad::Unknown && !disabled) {
      if (auto through = returned_through_arguments(callee.scope, args, scope, depth)) {
        return *through;
      }
    }
    return returned;
  }
  case Kind::Class: {
    if (callee.scope < 0) {
      return Value::unknown();
    }
    const Scope& cls = m.m_scopes.at(static_cast<size_t>(callee.scope));
    if (class_is_module_like(callee.scope)) {
      Value built = of_kind(names::is_loss_name(cls.name, options) ? Kind::LossModule : Kind::Module);
      built.scope = callee.scope; // its forward is in sight
      return built;
    }
    if (method_of(callee.scope, "__call__") != kNone) {
      return Value{Grad::No, Kind::Instance, Source::None, callee.scope, {}, {}};
    }
    return Value::unknown();
  }
  case Kind::Instance:
    return when_enabled(call_of_instance(callee, depth));
  case Kind::Module:
    if (builds_by_class_style(fn, scope)) {
      return of_kind(Kind::Module); // a class passed in (`Model: type[nn.Module]`) being built
    }
    if (names::is_parameter_free_layer(callee.qualified)) {
      return when_enabled(join_args()); // `upsample(torch.randn(...))`: the input's graph, if any
    }
    if (forward_returns_a_number(fn, scope, depth)) {
      return Value::number();
    }
    if (forward_may_return_a_number(fn, scope, depth)) {
      return Value{};
    }
    return with_numbers_its_forward_returns(when_enabled(grad_tensor(Source::Forward, Kind::ModelOutput)), callee.scope,
                                            depth);
  case Kind::LossModule:
    return loss_call();
  case Kind::Pipeline:
    return no_grad_tensor();
  default:
    break;
  }
  if (callee.kind == Kind::Unknown && fs == g.sym.identifier) {
    const Value guess = name_heuristic(text(fn));
    if (guess.kind == Kind::LossModule) {
      return loss_call();
    }
    if (guess.kind == Kind::Module) {
      return builds_by_class_style(fn, scope) ? of_kind(Kind::Module)
                                              : when_enabled(grad_tensor(Source::Forward, Kind::ModelOutput));
    }
  }
  return Value::unknown();
}

bool Model::Impl::reduces_along_a_dim(TSNode args) const {
  if (null(args)) {
    return false;
  }
  bool along = false;
  syntax::for_each_named_child(args, [&](TSNode a) {
    const TSSymbol s = ts_node_symbol(a);
    if (s == g.sym.comment) {
      return true;
    }
    const std::string_view name = s == g.sym.keyword_argument ? text(field(a, g.field.name)) : std::string_view();
    // `sum(1)`, `mean((2, 3))`, `sum(dim=-1)`
    along = s != g.sym.keyword_argument || name == "dim" || name == "axis";
    return !along;
  });
  return along;
}

// `.to(torch.uint8)`, `.type(torch.long)`, `.to(dtype=torch.int64)`: integer tensors cannot carry a graph.
bool Model::Impl::casts_to_an_integer_dtype(std::string_view method, TSNode args) const {
  if ((method != "to" && method != "type") || null(args)) {
    return false;
  }
  const uint32_t count = ts_node_named_child_count(args);
  for (uint32_t i = 0; i < count; ++i) {
    TSNode a = ts_node_named_child(args, i);
    if (ts_node_symbol(a) == g.sym.keyword_argument) {
      if (text(field(a, g.field.name)) != "dtype") {
        continue;
      }
      a = field(a, g.field.value);
    }
    std::string_view dtype = text(a);
    if (dtype.starts_with("torch.")) {
      dtype.remove_prefix(6);
    }
    if (dtype == "uint8" || dtype == "int8" || dtype == "int16" || dtype == "int32" || dtype == "int64" ||
        dtype == "long" || dtype == "int" || dtype == "short" || dtype == "bool") {
      return true;
    }
  }
  return false;
}

// `isinstance(x, float)`, `isinstance(x, (int, float))`: true only when `x` is a Python number.
bool Model::Impl::tests_for_a_number(TSNode condition, TSNode subject) const {
  condition = unparen(condition);
  if (null(condition) || null(subject) || ts_node_symbol(condition) != g.sym.call ||
      text(field(condition, g.field.function)) != "isinstance") {
    return false;
  }
  const TSNode args = field(condition, g.field.arguments);
  if (null(args) || ts_node_named_child_count(args) != 2 ||
      text(ts_node_named_child(args, 0)) != text(unparen(subject))) {
    return false;
  }
  const TSNode types = unparen(ts_node_named_child(args, 1));
  auto is_number_type = [&](TSNode t) {
    const std::string_view name = text(t);
    return name == "float" || name == "int" || name == "numbers.Number" || name == "Number";
  };
  if (ts_node_symbol(types) != g.sym.tuple) {
    return is_number_type(types);
  }
  const uint32_t count = ts_node_named_child_count(types);
  for (uint32_t i = 0; i < count; ++i) {
    if (!is_number_type(ts_node_named_child(types, i))) {
      return false;
    }
  }
  return count > 0;
}

Value Model::Impl::eval(TSNode n, ScopeId scope, int depth) const {
  n = unparen(n);
  if (null(n) || depth > kMaxDepth) {
    return Value::unknown();
  }
  const TSSymbol s = ts_node_symbol(n);
  if (s == g.sym.identifier) {
    const std::string_view name = text(n);
    const Binding* b = lookup(name, scope, ts_node_start_byte(n));
    if (b == nullptr) {
      const std::string implicit = implicit_module(name);
      if (!implicit.empty()) {
        return Value{Grad::No, Kind::PyModule, Source::None, -1, implicit, {}};
      }
      return name_heuristic(name);
    }
    Value v = eval_binding(static_cast<BindingId>(b - bindings.data()), depth + 1);
    if (v.kind == Kind::Unknown && v.grad != Grad::Yes && !fetches_a_method(*b) && !made_by_the_standard_library(*b)) {
      const Value guess = name_heuristic(name);
      if (guess.kind != Kind::Unknown) {
        return guess;
      }
    }
    return v;
  }
  if (s == g.sym.attribute) {
    const std::string key = dotted(n);
    if (key.starts_with("self.") && std::count(key.begin(), key.end(), '.') == 1) {
      Value out;
      bool any = false;
      for (const Binding* b : self_attribute_bindings(key, scope)) {
        const Value v = eval_binding(static_cast<BindingId>(b - bindings.data()), depth + 1);
        out = any ? join(out, v) : v;
        any = true;
      }
      if (any && (out.kind != Kind::Unknown || out.grad == Grad::Yes)) {
        return out;
      }
      if (module_receivers.count(key) != 0) {
        return of_kind(Kind::Module);
      }
      const Value guess = name_heuristic(key.substr(5));
      if (guess.kind != Kind::Unknown) {
        return guess;
      }
      // Inside an nn.Module, what `self.x` holds and gets called with tensors is a submodule,
      // unless its name says what else it is (`self.tokenizer(texts)`).
      static constexpr std::array<std::string_view, 9> kCalledButNoModule = {
          "tokenizer", "tokenizers", "tok", "processor", "pipeline", "pipe", "scheduler", "optimizer", "accelerator"};
      const auto words = identifier_words(key.substr(5));
      const bool named_otherwise = std::any_of(kCalledButNoModule.begin(), kCalledButNoModule.end(),
                                               [&](std::string_view w) { return words.contains(w); });
      const ScopeId fn = enclosing_function(scope);
      const auto held = self_attribute_bindings(key, scope);
      const bool holds_a_function =
          std::all_of(held.begin(), held.end(), [&](const Binding* b) { return binds_a_function(*b); });
      if (any && out.grad == Grad::Unknown && fn != kNone && !named_otherwise && !holds_a_function &&
          class_is_module_like(m.m_scopes[static_cast<size_t>(fn)].class_scope)) {
        return of_kind(Kind::Module);
      }
      return out;
    }
    const std::string q = resolve_qualified(n, scope);
    if (!q.empty()) {
      return Value{Grad::No, Kind::PyModule, Source::None, -1, q, {}};
    }
    const std::string_view attr = text(field(n, g.field.attribute));
    const Value object = eval(field(n, g.field.object), scope, depth + 1);
    if (names::is_metadata_attribute(attr)) {
      const bool tensor = attr == "data" || attr == "grad" || attr == "main_grad";
      return Value{Grad::No, tensor ? Kind::Tensor : Kind::Number, Source::None, -1, {}, {}};
    }
    if (object.kind == Kind::ModelOutput || object.grad == Grad::Yes) {
      if (attr == "loss") {
        // The loss of an output computed under no_grad has no graph either.
        Value loss = object.grad == Grad::No ? no_grad_tensor() : derived(object, Kind::Loss);
        loss.kind = Kind::Loss;
        loss.source = Source::Output;
        return loss;
      }
      if (object.grad == Grad::Yes) {
        return derived(object, attr == "T" || attr == "mT" ? object.kind : Kind::Tensor);
      }
    }
    if (object.kind == Kind::ModelOutput && object.source != Source::None) {
      // `out.logits`, `out.hidden_states`: a tensor of the output, with the output's graph state.
      Value v = derived(object, identifier_words(attr).contains("loss") ? Kind::Loss : Kind::Tensor);
      v.grad = object.grad;
      return v;
    }
    if (object.kind == Kind::Module) {
      // Submodules of a module are modules: `model.encoder`, `self.net.head`, and the wrapped
      // model of DataParallel/DDP, `model.module`.
      return names::is_model_name(attr, options) || attr == "module" || attr == "_orig_mod" ? of_kind(Kind::Module)
                                                                                            : Value::unknown();
    }
    if (object.grad == Grad::No && object.kind == Kind::Tensor) {
      return no_grad_tensor();
    }
    return name_heuristic(attr).kind == Kind::Module ? of_kind(Kind::Module) : Value::unknown();
  }
  if (s == g.sym.call) {
    return eval_call(n, scope, depth);
  }
  if (s == g.sym.binary_operator) {
    const Value l = eval(field(n, g.field.left), scope, depth + 1);
    const Value r = eval(field(n, g.field.right), scope, depth + 1);
    Value v = join(l, r);
    v.elements.clear();
    if (v.grad == Grad::Yes) {
      const bool loss = (l.kind == Kind::Loss || l.grad != Grad::Yes) && (r.kind == Kind::Loss || r.grad != Grad::Yes);
      v.kind = loss ? Kind::Loss : Kind::Tensor;
    } else if (l.kind == Kind::Number && r.kind == Kind::Number) {
      v.kind = Kind::Number;
    }
    return v;
  }
  if (s == g.sym.unary_operator) {
    return eval(field(n, g.field.argument), scope, depth + 1);
  }
  if (s == g.sym.await_) {
    return eval(ts_node_named_child(n, 0), scope, depth + 1);
  }
  if (s == g.sym.conditional_expression) {
    const TSNode when_true = ts_node_named_child(n, 0);
    const TSNode condition = ts_node_named_child(n, 1);
    const TSNode when_false = ts_node_named_child(n, 2);
    // `x if isinstance(x, float) else x.item()`: where the test holds, `x` is a number.
    const Value a = tests_for_a_number(condition, when_true) ? Value::number() : eval(when_true, scope, depth + 1);
    const Value b = eval(when_false, scope, depth + 1);
    Value joined = join(a, b);
    // `"cuda" if torch.cuda.is_available() else "cpu"`: on a machine with a GPU, the GPU.
    const std::string_view test = text(condition);
    if ((a.device == Device::Accelerator || b.device == Device::Accelerator) &&
        (test.find("is_available") != std::string_view::npos || test.find("cuda") != std::string_view::npos ||
         test.find("gpu") != std::string_view::npos)) {
      joined.device = Device::Accelerator;
    }
    return joined;
  }
  if (s == g.sym.boolean_operator) {
    return join(eval(field(n, g.field.left), scope, depth + 1), eval(field(n, g.field.right), scope, depth + 1));
  }
  if (s == g.sym.subscript) {
    const Value object = eval(field(n, g.field.value), scope, depth + 1);
    TSNode index = field(n, g.field.subscript);
    if (!object.elements.empty() && !null(index) && ts_node_symbol(index) == g.sym.integer) {
      const std::string idx(text(index));
      const size_t i = static_cast<size_t>(std::strtoul(idx.c_str(), nullptr, 10));
      if (i < object.elements.size()) {
        return object.elements[i];
      }
    }
    if (object.kind == Kind::ModelOutput && !null(index) && ts_node_symbol(index) == g.sym.string &&
        text(index).find("loss") != std::string_view::npos) {
      Value loss = object.grad == Grad::No ? no_grad_tensor() : derived(object, Kind::Loss);
      loss.kind = Kind::Loss;
      loss.source = Source::Output;
      return loss;
    }
    // `output_dict["accuracy"]`: a count of right answers (argmax, eq) has no gradient to carry.
    if (object.grad == Grad::Yes && !null(index) && ts_node_symbol(index) == g.sym.string &&
        names::is_accuracy_name(text(index))) {
      return no_grad_tensor();
    }
    if (object.grad == Grad::Yes) {
      return derived(object, object.kind == Kind::Loss ? Kind::Loss : Kind::Tensor);
    }
    if (object.grad == Grad::No) {
      if (object.source != Source::None && object.kind != Kind::Container) {
        Value v = derived(object, object.kind == Kind::Loss ? Kind::Loss : Kind::Tensor);
        v.grad = Grad::No; // an element of a forward's output under no_grad: no graph, same device
        return v;
      }
      return Value{Grad::No, object.kind == Kind::Container ? Kind::Unknown : object.kind, Source::None, -1, {}, {}};
    }
    return Value::unknown();
  }
  if (s == g.sym.tuple || s == g.sym.expression_list || s == g.sym.list) {
    Value out{Grad::No, Kind::Container, Source::None, -1, {}, {}};
    const uint32_t count = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < count && i < 32; ++i) {
      TSNode child = ts_node_named_child(n, i);
      const Value v = ts_node_symbol(child) == g.sym.list_splat ? Value::unknown() : eval(child, scope, depth + 1);
      const Value joined = join(out, v);
      out.grad = joined.grad;
      if (out.source == Source::None) {
        out.source = v.source;
      }
      keep_evidence_of_graph(out, v);
      out.device = i == 0 ? v.device : (out.device == v.device ? out.device : Device::Unknown);
      out.elements.push_back(v);
    }
    return out;
  }
  if (s == g.sym.dictionary) {
    Value out{Grad::No, Kind::Container, Source::None, -1, {}, {}};
    const uint32_t count = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < count && i < 32; ++i) {
      TSNode pair = ts_node_named_child(n, i);
      if (ts_node_symbol(pair) == g.sym.pair) {
        const Value v = eval(field(pair, g.field.value), scope, depth + 1);
        const Value joined = join(out, v);
        out.grad = joined.grad;
        out.source = joined.source;
        keep_evidence_of_graph(out, v);
      } else {
        out.grad = out.grad == Grad::Yes ? Grad::Yes : Grad::Unknown;
      }
    }
    return out;
  }
  if (s == g.sym.list_comprehension || s == g.sym.generator_expression || s == g.sym.set_comprehension) {
    // The element expression is evaluated in the comprehension's own scope.
    TSNode body = field(n, g.field.body);
    const ScopeId inner = m.scope_at(ts_node_start_byte(body));
    Value v = eval(body, inner, depth + 1);
    Value out{v.grad, Kind::Container, v.source, -1, {}, {}};
    keep_evidence_of_graph(out, v);
    return out;
  }
  if (s == g.sym.string || s == g.sym.concatenated_string) {
    Value v = of_kind(Kind::String);
    const std::string_view t = text(n);
    v.device = t.find("cuda") != std::string_view::npos  ? Device::Accelerator
               : t.find("cpu") != std::string_view::npos ? Device::Cpu
                                                         : Device::Unknown;
    return v;
  }
  if (s == g.sym.integer || s == g.sym.float_ || s == g.sym.string || s == g.sym.concatenated_string ||
      s == g.sym.true_ || s == g.sym.false_ || s == g.sym.none || s == g.sym.comparison_operator ||
      s == g.sym.not_operator) {
    return Value::number();
  }
  if (s == g.sym.named_expression) {
    return eval(field(n, g.field.value), scope, depth + 1);
  }
  return Value::unknown();
}

} // namespace oomlint::model
