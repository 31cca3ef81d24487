// Which class a module value is an instance of (`model = GlowTTS(config)`, `def __init__(self,
// model: Transformer)`, `self.model = model`), and what that class's methods do about autograd: a
// `forward` decorated with `@torch.inference_mode()` (Meta's LLaMA reference code) or an `encode`
// decorated with `@torch.no_grad()` builds no graph, whoever calls it.
#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/model/model.hpp"
#include "analyzer/model/model_impl.hpp"
#include "analyzer/model/project.hpp"
#include "analyzer/syntax/walk.hpp"

namespace oomlint::model {

std::vector<std::string> Model::Impl::grad_disabled_methods(ScopeId cls) const {
  std::vector<std::string> out;
  for (size_t i = 0; i < m.m_scopes.size(); ++i) {
    const Scope& sc = m.m_scopes[i];
    if (sc.kind == ScopeKind::Function && sc.class_scope == cls && sc.parent == cls &&
        builds_no_graph_for_its_caller(static_cast<ScopeId>(i))) {
      out.push_back(sc.name);
    }
  }
  return out;
}

// Decorated or only called grad-disabled; or every value it returns is computed under `no_grad`
// (`def forward(self, mel): <lazy load>; with torch.no_grad(): return self.model(mel)`): what
// it built with autograd on, if anything, is dropped when it returns.
bool Model::Impl::builds_no_graph_for_its_caller(ScopeId fn) const {
  const FunctionFacts& f = m.m_scopes[static_cast<size_t>(fn)].facts;
  return f.grad_disabled || f.returns_only_without_grad;
}

// Read while the tree is alive (summaries are made after it is freed).
namespace {

// A value known to hold no graph: a tensor or number computed without one (an object built from
// tensors, `AttentionOutput(hidden_states=h)`, says nothing about its fields).
bool graph_free_tensor_or_number(const Value& v) {
  return v.grad == Grad::No && (v.kind == Kind::Tensor || v.kind == Kind::Number || v.kind == Kind::String);
}

} // namespace

bool Model::Impl::returns_only_without_grad(ScopeId fn) const {
  bool returns_a_value = false;
  for (const TSNode r : m.m_scopes[static_cast<size_t>(fn)].returns) {
    if (null(r) || is_literal_setting(r)) {
      continue; // a bare `return`, `return None`: nothing with a graph
    }
    const std::uint32_t at = ts_node_start_byte(r);
    // A method returning what carries no graph (`preds = self.model.generate(...)`, token ids):
    // what its forward computed is freed when it returns.
    if (!disabled_at(at, m.scope_at(at)) &&
        (m.m_scopes[static_cast<size_t>(fn)].class_scope == kNone || !graph_free_tensor_or_number(eval(r, fn, 0)))) {
      return false;
    }
    returns_a_value = true;
  }
  return returns_a_value;
}

// `def validate_on_batch(self, batch): raise NotImplementedError` (or `pass`, `...`, a docstring
// alone): a method left to subclasses.
bool Model::Impl::is_stub(ScopeId fn) const {
  const TSNode body = m.m_scopes[static_cast<size_t>(fn)].body;
  if (null(body)) {
    return false;
  }
  for (uint32_t i = 0; i < ts_node_named_child_count(body); ++i) {
    const TSNode st = ts_node_named_child(body, i);
    const TSSymbol s = ts_node_symbol(st);
    if (s == g.sym.pass_statement || s == g.sym.comment) {
      continue;
    }
    if (s == g.sym.raise_statement && text(st).find("NotImplementedError") != std::string_view::npos) {
      continue;
    }
    if (s == g.sym.expression_statement && ts_node_named_child_count(st) == 1) {
      const TSSymbol e = ts_node_symbol(ts_node_named_child(st, 0));
      if (e == g.sym.string || text(st) == "...") {
        continue;
      }
    }
    return false;
  }
  return true;
}

// The class a call builds: `GlowTTS(config)`, `GlowTTS.init_from_config(config)`,
// `MageVAE.from_pretrained(path)`, through `.to(device)`/`.eval()` chains.
ModuleClass Model::Impl::class_built_by(TSNode value, ScopeId scope, int depth) const {
  value = unparen(value);
  for (int guard = 0; guard < 8 && !null(value) && ts_node_symbol(value) == g.sym.call; ++guard) {
    TSNode callee = unparen(field(value, g.field.function));
    if (ts_node_symbol(callee) == g.sym.attribute &&
        names::is_module_returning_method(text(field(callee, g.field.attribute)))) {
      value = unparen(field(callee, g.field.object)); // `GlowTTS(config).to(device)`
      if (ts_node_symbol(value) == g.sym.identifier && !names::is_class_style(text(value))) {
        return class_of_module(value, scope, depth + 1); // `model = model.to(device)`
      }
      if (ts_node_symbol(value) == g.sym.attribute && text(field(value, g.field.object)) == "self") {
        return class_of_module(value, scope, depth + 1); // `mel = self.mel_extractor.to(device)`
      }
      continue;
    }
    if (ts_node_symbol(callee) == g.sym.attribute) {
      const std::string_view method = text(field(callee, g.field.attribute));
      if (method == "from_pretrained" || method == "from_config" || method == "init_from_config") {
        callee = unparen(field(callee, g.field.object));
      }
    }
    ModuleClass named = class_named(callee, scope);
    return named.scope != kNone || !named.qualified.empty() ? named : class_returned_by(callee, scope);
  }
  return {};
}

// `get_model(path)` / `libs.autoencoder.get_model(path)`: the class every return of the factory
// builds, known from this file's function or from another module's summary.
ModuleClass Model::Impl::class_returned_by(TSNode callee, ScopeId scope) const {
  if (ts_node_symbol(callee) == g.sym.identifier) {
    const Binding* b = lookup(text(callee), scope, ts_node_start_byte(callee));
    if (b != nullptr && b->kind == BindingKind::FunctionDef && b->defines != kNone) {
      const FunctionFacts& f = m.m_scopes[static_cast<size_t>(b->defines)].facts;
      return ModuleClass{f.returned_class_scope, f.returned_class};
    }
  }
  const std::string q = resolve_qualified(callee, scope);
  const FunctionSummary* f = q.empty() ? nullptr : project_function(q);
  if (f == nullptr || f->returns_instance_of.empty()) {
    return {};
  }
  return ModuleClass{kNone, f->returns_instance_of};
}

// The class every return of `fn` builds (`return FrozenAutoencoderKL(ddconfig)`, or a name bound
// to one); none when a return gives anything else.
ModuleClass Model::Impl::class_every_return_builds(ScopeId fn) const {
  ModuleClass found;
  bool first = true;
  for (const TSNode r : m.m_scopes[static_cast<size_t>(fn)].returns) {
    if (null(r)) {
      return {};
    }
    const TSNode v = unparen(r);
    ModuleClass cls = ts_node_symbol(v) == g.sym.identifier ? class_of_module(v, fn, 1) : class_built_by(v, fn, 1);
    if (cls.scope == kNone && cls.qualified.empty()) {
      return {};
    }
    if (!first && (cls.scope != found.scope || cls.qualified != found.qualified)) {
      return {};
    }
    found = std::move(cls);
    first = false;
  }
  return found;
}

// `Transformer` in an annotation or a constructor call: this file's class, or another module's.
ModuleClass Model::Impl::class_named(TSNode name, ScopeId scope) const {
  name = unparen(name);
  if (!null(name) && ts_node_symbol(name) == g.sym.type && ts_node_named_child_count(name) == 1) {
    name = ts_node_named_child(name, 0); // an annotation: `model: Transformer`
  }
  if (null(name) || !names::is_class_style(last_name(name))) {
    return {};
  }
  if (ts_node_symbol(name) == g.sym.identifier) {
    const Binding* b = lookup(text(name), scope, ts_node_start_byte(name));
    if (b != nullptr && b->kind == BindingKind::ClassDef && b->defines != kNone) {
      return ModuleClass{b->defines, {}};
    }
  }
  std::string q = resolve_qualified(name, scope);
  return q.empty() ? ModuleClass{} : ModuleClass{kNone, std::move(q)};
}

ModuleClass Model::Impl::class_of_module(TSNode expr, ScopeId scope, int depth) const {
  expr = unparen(expr);
  if (null(expr) || depth > 4) {
    return {};
  }
  auto from_binding = [&](const Binding& b) -> ModuleClass {
    if (b.kind == BindingKind::Parameter && !null(b.annotation)) {
      return class_named(b.annotation, b.scope);
    }
    if (b.kind != BindingKind::Assign || b.element != -1 || null(b.value)) {
      return {};
    }
    const TSNode v = unparen(b.value);
    if (ts_node_symbol(v) == g.sym.identifier ||
        (ts_node_symbol(v) == g.sym.attribute && text(field(v, g.field.object)) == "self")) {
      return class_of_module(v, b.scope, depth + 1); // `self.model = model`, `layer = self.layer`
    }
    return class_built_by(v, b.scope, depth);
  };
  if (ts_node_symbol(expr) == g.sym.identifier) {
    const Binding* b = lookup(text(expr), scope, ts_node_start_byte(expr));
    if (b == nullptr) {
      return {};
    }
    ModuleClass cls = from_binding(*b);
    if (cls.scope != kNone || !cls.qualified.empty()) {
      return cls;
    }
    // `if args.checkpoint: model = Predictor(...)` / `else: model = torch.hub.load(...)`: the
    // class a binding in another branch before this use names.
    const auto& table = scope_names[static_cast<size_t>(b->scope)];
    const auto it = table.find(std::string(text(expr)));
    const std::uint32_t at = ts_node_start_byte(expr);
    for (size_t i = 0; it != table.end() && i < it->second.size() && i < 8; ++i) {
      const Binding& other = bindings[static_cast<size_t>(it->second[i])];
      if (&other != b && other.stmt_start < at && other.stmt_start < b->stmt_start) {
        cls = from_binding(other);
        if (cls.scope != kNone || !cls.qualified.empty()) {
          return cls;
        }
      }
    }
    return {};
  }
  if (ts_node_symbol(expr) == g.sym.attribute && text(field(expr, g.field.object)) == "self") {
    for (const Binding* b : self_attribute_bindings(dotted(expr), scope)) {
      ModuleClass cls = from_binding(*b);
      if (cls.scope != kNone || !cls.qualified.empty()) {
        return cls;
      }
    }
    return class_declared_in_the_class_body(expr, scope);
  }
  return {};
}

// `class ChronosPipeline: model: ChronosModel` then `self.model = model` from an unannotated
// parameter: the class body declares what the attribute holds.
ModuleClass Model::Impl::class_declared_in_the_class_body(TSNode attribute, ScopeId scope) const {
  const ScopeId fn = enclosing_function(scope);
  const ScopeId cls = fn == kNone ? kNone : m.m_scopes[static_cast<size_t>(fn)].class_scope;
  const TSNode body = cls == kNone ? TSNode{} : m.m_scopes[static_cast<size_t>(cls)].body;
  if (null(body)) {
    return {};
  }
  const std::string_view name = text(field(attribute, g.field.attribute));
  for (uint32_t i = 0; i < ts_node_named_child_count(body) && i < 64; ++i) {
    const TSNode st = ts_node_named_child(body, i);
    if (ts_node_symbol(st) != g.sym.expression_statement || ts_node_named_child_count(st) != 1) {
      continue;
    }
    const TSNode a = ts_node_named_child(st, 0);
    if (ts_node_symbol(a) == g.sym.assignment && text(field(a, g.field.left)) == name &&
        !null(field(a, g.field.type))) {
      return class_named(field(a, g.field.type), cls);
    }
  }
  return {};
}

bool Model::Impl::calls_a_parameter_free_layer(const Call& c) const {
  // `self.encoder(s)` calls the layer held in `self.encoder`; `layer.forward(x)` the one in `layer`.
  const bool through_self = c.is_method_call() && text(c.receiver) == "self";
  if (c.is_method_call() && !through_self && c.method != "forward" && c.method != "__call__") {
    return false;
  }
  const TSNode layer = c.is_method_call() && !through_self ? c.receiver : c.function;
  if (names::is_parameter_free_layer(eval(layer, c.scope, 0).qualified)) {
    return true;
  }
  const ModuleClass cls = class_of_module(layer, c.scope, 0);
  if (cls.scope != kNone) {
    return class_holds_no_parameters(cls.scope);
  }
  const FunctionSummary* f = cls.qualified.empty() ? nullptr : project_function(cls.qualified);
  return f != nullptr && f->module_class && f->parameter_free;
}

// In a module's `__init__`: `super().__init__()`, a layer without parameters
// (`torchaudio.transforms.MelSpectrogram(sample_rate=sr)`, `nn.Upsample(scale_factor=2)`),
// `self.register_buffer(...)`, a tensor maker or conversion (`torch.from_numpy(basis).float()`),
// an array library's function (`librosa.filters.mel(...)`), a builtin.
bool Model::Impl::call_builds_no_parameter(TSNode call, ScopeId scope) const {
  const TSNode fn = unparen(field(call, g.field.function));
  if (ts_node_symbol(fn) == g.sym.attribute) {
    const std::string_view method = text(field(fn, g.field.attribute));
    const std::string_view object = text(field(fn, g.field.object));
    if ((method == "__init__" && object.starts_with("super(")) || (method == "register_buffer" && object == "self")) {
      return true;
    }
    if (library::is_tensor_conversion(method) && object != "self") {
      return true;
    }
    // `self.net.cuda()`, `self.net.eval()`: moving or switching a layer built above builds nothing.
    if (object.starts_with("self.") && (method == "cuda" || method == "to" || method == "cpu" || method == "eval")) {
      return true;
    }
  }
  // `self.net = vgg16(requires_grad=False)`: a layer of a class that freezes itself has nothing to
  // train.
  if (const ModuleClass built = class_built_by(call, scope, 0);
      built.scope != kNone && m.m_scopes[static_cast<size_t>(built.scope)].facts.freezes_itself) {
    return true;
  }
  const std::string q = resolve_qualified(fn, scope);
  if (names::is_parameter_free_layer(q) || library::makes_data_tensors(q)) {
    return true;
  }
  if (ts_node_symbol(fn) != g.sym.identifier) {
    return false;
  }
  const Binding* local = lookup(text(fn), scope, ts_node_start_byte(fn));
  if (local == nullptr) {
    return library::makes_data_tensors(text(fn));
  }
  // `dtype = _running_stats_dtype()`: a function of this file that returns only constants.
  return local->kind == BindingKind::FunctionDef && local->defines != kNone && returns_only_constants(local->defines);
}

bool Model::Impl::returns_only_constants(ScopeId fn) const {
  const std::vector<TSNode>& returns = m.m_scopes[static_cast<size_t>(fn)].returns;
  return !returns.empty() && std::all_of(returns.begin(), returns.end(), [&](TSNode r) {
    const auto values = null(r) ? std::nullopt : m.possible_constants(r);
    return values && !values->empty();
  });
}

// Inside the value of an assignment to `self.<name>` (or `self.<name>[...]`) in `body`.
bool Model::Impl::stored_on_self(TSNode n, TSNode body) const {
  for (TSNode p = ts_node_parent(n); !null(p) && !ts_node_eq(p, body); p = ts_node_parent(p)) {
    if (ts_node_symbol(p) == g.sym.assignment || ts_node_symbol(p) == g.sym.augmented_assignment) {
      const TSNode left = field(p, g.field.left);
      return text(left).starts_with("self.") || text(left).starts_with("self[");
    }
  }
  return false;
}

// `class CharByteEncoder(nn.Module)` whose `__init__` keeps only strings and numbers: a module
// with nothing to train, whose forward builds no graph of its own.
bool Model::Impl::class_holds_no_parameters(ScopeId cls, int depth) const {
  if (depth > 4) {
    return false; // a chain of bases this deep is not followed (and not remembered)
  }
  // Asked for every call of a module of the class: known once per class.
  if (const auto known = parameter_free_memo.find(cls); known != parameter_free_memo.end()) {
    return known->second;
  }
  const bool free = class_builds_no_parameters(cls, depth);
  parameter_free_memo.emplace(cls, free);
  return free;
}

bool Model::Impl::class_builds_no_parameters(ScopeId cls, int depth) const {
  const Scope& c = m.m_scopes[static_cast<size_t>(cls)];
  if (c.bases.size() != 1 || !base_holds_no_parameters(cls, depth)) {
    return false;
  }
  const ScopeId init_scope = method_of(cls, "__init__");
  const Scope* init = init_scope == kNone ? nullptr : &m.m_scopes[static_cast<size_t>(init_scope)];
  if (init == nullptr) {
    // `class Sinusoidal(nn.Module)` with only `forward`, or a subclass keeping its base's
    // `__init__`: what the base builds is all there is, unless a method stores something.
    return !null(c.body) && !stores_on_self(c.body);
  }
  if (null(init->body)) {
    return false;
  }
  bool only_constants = true;
  syntax::walk_named(init->body, [&](TSNode n) {
    if (!only_constants) {
      return false;
    }
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.call) {
      // Any call but these may build a layer or a parameter.
      only_constants = call_builds_no_parameter(n, init_scope);
      return only_constants;
    }
    const TSNode parent = ts_node_parent(n);
    const bool keyword_name =
        ts_node_symbol(parent) == g.sym.keyword_argument && ts_node_eq(field(parent, g.field.name), n); // `power=2`
    // `len(insize)`: the called name was judged with its call above.
    const bool callee = ts_node_symbol(parent) == g.sym.call && ts_node_eq(field(parent, g.field.function), n);
    if (s == g.sym.identifier && ts_node_symbol(parent) != g.sym.attribute && !keyword_name && !callee &&
        stored_on_self(n, init->body)) {
      // A value passed in and kept (`self.net = net`) may be a module; a setting whose default is a
      // number or a string (`min_relative_volume: float = -25`) is not, nor a value computed from
      // settings only by the calls above (`self.register_buffer("basis", torch.from_numpy(b))`).
      const Binding* b = lookup(text(n), init_scope, ts_node_start_byte(n));
      only_constants =
          b != nullptr &&
          ((b->kind == BindingKind::Parameter && ((!null(b->default_value) && is_literal_setting(b->default_value)) ||
                                                  names::is_numeric_setting_name(b->name))) ||
           (b->kind == BindingKind::Assign && b->scope == init_scope));
      return false;
    }
    return true;
  });
  return only_constants;
}

// The single base of `cls` is `nn.Module` itself, or a class of this file that holds none.
bool Model::Impl::base_holds_no_parameters(ScopeId cls, int depth) const {
  const Scope& c = m.m_scopes[static_cast<size_t>(cls)];
  const std::string& b = c.bases.front();
  if (b == "nn.Module" || b == "torch.nn.Module" || b == "Module") {
    return true;
  }
  const Binding* base = lookup(b, c.parent, ts_node_start_byte(c.node));
  return base != nullptr && base->kind == BindingKind::ClassDef && base->defines != kNone && base->defines < cls &&
         class_holds_no_parameters(base->defines, depth + 1);
}

// Some assignment under `node` stores into an attribute of `self`.
bool Model::Impl::stores_on_self(TSNode node) const {
  bool found = false;
  syntax::walk_named(node, [&](TSNode n) {
    if (found) {
      return false;
    }
    if (ts_node_symbol(n) == g.sym.assignment || ts_node_symbol(n) == g.sym.augmented_assignment) {
      const std::string_view left = text(field(n, g.field.left));
      found = left.find("self.") != std::string_view::npos;
    } else if (ts_node_symbol(n) == g.sym.call) {
      const std::string_view fn = text(field(n, g.field.function));
      found = fn == "setattr" || fn.ends_with("register_parameter") || fn.ends_with("add_module");
    }
    return !found;
  });
  return found;
}

// `return total_loss` on one path, `return total_loss, images` on another (a trainer's forward
// summing `loss.item()`): some return is a Python number, or a tuple led by one.
bool Model::Impl::returns_a_number_somewhere(ScopeId fn, int depth) const {
  for (TSNode r : m.m_scopes[static_cast<size_t>(fn)].returns) {
    if (null(r)) {
      continue;
    }
    const Value v = eval(r, fn, depth + 1);
    if (v.kind == Kind::Number || (!v.elements.empty() && v.elements.front().kind == Kind::Number)) {
      return true;
    }
  }
  return false;
}

// A module whose forward may hand its caller a Python number: what a call gives is no known tensor.
bool Model::Impl::forward_may_return_a_number(TSNode instance, ScopeId scope, int depth) const {
  const ModuleClass cls = class_of_module(instance, scope, 0);
  if (cls.scope != kNone) {
    const ScopeId forward = method_of(cls.scope, "forward");
    return forward != kNone && returns_a_number_somewhere(forward, depth);
  }
  const FunctionSummary* f = project_function(cls.qualified);
  return f != nullptr && f->module_class && f->may_return_a_number;
}

// `trainer.forward(img)` of a trainer module whose forward back-propagates and returns `loss.item()`.
bool Model::Impl::forward_returns_a_number(TSNode instance, ScopeId scope, int depth) const {
  const ModuleClass cls = class_of_module(instance, scope, 0);
  if (cls.scope != kNone) {
    const ScopeId forward = method_of(cls.scope, "forward");
    if (forward == kNone) {
      return false;
    }
    const Value returned = function_returns(forward, depth + 1);
    return returned.grad == Grad::No && returned.kind == Kind::Number && returned.elements.empty();
  }
  const FunctionSummary* f = project_function(cls.qualified);
  return f != nullptr && f->module_class && f->returns == Grad::No && f->returns_kind == Kind::Number;
}

// `model(x)` / `self.model.forward(x)` / `vae.encode(x)` where that class's method runs without
// autograd itself.
bool Model::Impl::calls_a_grad_disabled_method(const Call& c) const {
  TSNode instance = c.function;
  std::string_view method = "forward";
  if (c.is_method_call() && c.method != "__call__") {
    const ModuleClass whole = class_of_module(c.function, c.scope, 0);
    if (whole.scope == kNone && whole.qualified.empty()) {
      instance = c.receiver; // `vae.encode(x)`: the method of the receiver's class
      method = c.method;
    }
  } else if (c.is_method_call()) {
    instance = c.receiver;
  }
  const ModuleClass cls = class_of_module(instance, c.scope, 0);
  if (cls.scope != kNone) {
    const ScopeId fn = method_of(cls.scope, method);
    return fn != kNone && builds_no_graph_for_its_caller(fn);
  }
  if (cls.qualified.empty()) {
    return false;
  }
  return project != nullptr && project->facts != nullptr &&
         project->facts->method_runs_without_grad(cls.qualified, method);
}

bool Model::Impl::is_literal_setting(TSNode value) const {
  const TSNode v = unparen(value);
  const TSSymbol s = ts_node_symbol(v);
  if (s == g.sym.unary_operator) {
    return is_literal_setting(field(v, g.field.argument));
  }
  return s == g.sym.integer || s == g.sym.float_ || s == g.sym.string || s == g.sym.true_ || s == g.sym.false_ ||
         s == g.sym.none;
}

// `class Encoder:`, and `class StabilityVAEEncoder(Encoder)` over it: no base anywhere in the chain
// could make it a module, whatever the names say.
bool Model::Impl::derives_from_nothing(ScopeId cls, int depth) const {
  const Scope& c = m.m_scopes[static_cast<size_t>(cls)];
  if (c.kind != ScopeKind::Class || depth > 4) {
    return false;
  }
  return std::all_of(c.bases.begin(), c.bases.end(), [&](const std::string& b) {
    if (b == "object") {
      return true;
    }
    const Binding* base = lookup(b, c.parent, ts_node_start_byte(c.node));
    return base != nullptr && base->kind == BindingKind::ClassDef && base->defines != kNone && base->defines < cls &&
           derives_from_nothing(base->defines, depth + 1);
  });
}

bool Model::Impl::derives_here_from(ScopeId cls, ScopeId base, int depth) const {
  if (cls == base) {
    return true;
  }
  const Scope& c = m.m_scopes[static_cast<size_t>(cls)];
  if (c.kind != ScopeKind::Class || depth > 4) {
    return false;
  }
  return std::any_of(c.bases.begin(), c.bases.end(), [&](const std::string& b) {
    const Binding* bound = lookup(b, c.parent, ts_node_start_byte(c.node));
    return bound != nullptr && bound->kind == BindingKind::ClassDef && bound->defines != kNone &&
           bound->defines < cls && derives_here_from(bound->defines, base, depth + 1);
  });
}

// `class HFDecoderModel(DecoderModel, HFModelMixin, Tunable)`, every base imported from the run
// (or plain here, or `object`): the bases the run's facts decide, by qualified name. False where a
// base is anything else (`nn.Module`, a library class, an expression).
bool Model::Impl::derives_only_from_the_run(ScopeId cls, const ProjectContext& context, std::vector<std::string>& out,
                                            int depth) const {
  const Scope& c = m.m_scopes[static_cast<size_t>(cls)];
  if (c.kind != ScopeKind::Class || depth > 4 || c.bases.empty()) {
    return false;
  }
  return std::all_of(c.bases.begin(), c.bases.end(), [&](const std::string& b) {
    if (b == "object") {
      return true;
    }
    const Binding* base = lookup(b, c.parent, ts_node_start_byte(c.node));
    if (base == nullptr) {
      return false;
    }
    if (base->kind == BindingKind::ClassDef && base->defines != kNone && base->defines < cls) {
      return derives_from_nothing(base->defines, depth + 1) ||
             derives_only_from_the_run(base->defines, context, out, depth + 1);
    }
    if (base->kind != BindingKind::Import || base->qualified.empty()) {
      return false;
    }
    const std::string root = base->qualified.substr(0, base->qualified.find('.'));
    if (!context.is_local_root(root) || base->qualified.find('.') == std::string::npos) {
      return false;
    }
    out.push_back(base->qualified);
    return true;
  });
}

void Model::Impl::summarize_reexports(const ProjectContext& context, ModuleSummary& out) const {
  for (const Binding& b : bindings) {
    if (b.kind != BindingKind::Import || b.scope != 0 || b.qualified.empty() || b.qualified == b.name) {
      continue;
    }
    const std::string root = b.qualified.substr(0, b.qualified.find('.'));
    if (context.is_local_root(root) && b.qualified != context.module + "." + b.name) {
      out.reexports.emplace_back(b.name, b.qualified);
    }
  }
}

} // namespace oomlint::model
