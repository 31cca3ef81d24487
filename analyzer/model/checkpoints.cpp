// Where a module's checkpoints were written from: the facts that tell a `torch.load` of CPU
// state from one that puts a GPU-saved checkpoint back on the GPU.
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "analyzer/model/library.hpp"
#include "analyzer/model/model.hpp"
#include "analyzer/model/model_impl.hpp"
#include "analyzer/support/strings.hpp"
#include "analyzer/syntax/walk.hpp"

namespace oomlint::model {

namespace {

// `m.eval().cpu()` moves `m`: the mode switches return the module itself.
TSNode strip_mode_switches(const Model& m, TSNode expr) {
  while (!ts_node_is_null(expr)) {
    const Call* inner = m.call_at(expr);
    if (inner == nullptr || (inner->method != "eval" && inner->method != "train" && inner->method != "float")) {
      break;
    }
    expr = inner->receiver;
  }
  return expr;
}

bool is_true_literal(const Model& m, TSNode expr) {
  return m.text(expr) == "True";
}

} // namespace

const Call* Model::call_at(TSNode expr) const {
  if (ts_node_is_null(expr)) {
    return nullptr;
  }
  // Calls are in document order; the calls of one chain (`a.b(c).d(e)`) share their start byte.
  const std::uint32_t start = ts_node_start_byte(expr);
  for (auto [i, end] = m_impl->calls_in(start, start + 1); i < end; ++i) {
    if (ts_node_eq(m_calls[i].node, expr)) {
      return &m_calls[i];
    }
  }
  return nullptr;
}

bool Model::saves_checkpoints_from_cpu() const {
  // A fact of the whole module, asked once per load: computed once.
  if (!m_impl->saves_from_cpu_memo) {
    m_impl->saves_from_cpu_memo = m_impl->find_saves_from_cpu();
  }
  return *m_impl->saves_from_cpu_memo;
}

bool Model::Impl::find_saves_from_cpu() const {
  for (const Call& c : m.calls()) {
    // FSDP's FullStateDictConfig / ShardedStateDictConfig gather the state on the CPU.
    if (auto offload = c.keyword("offload_to_cpu", src); offload && is_true_literal(m, *offload)) {
      return true;
    }
  }
  // `net.cpu()` (or `net.eval().cpu()`, `self.set_device(torch.device("cpu"))`) as a statement, then
  // `torch.save(net.state_dict(), ...)` or `torch.save(self, path)`.
  std::vector<std::pair<std::uint32_t, std::string_view>> moved_to_cpu; // where, what
  for (const Call& move : m.calls()) {
    const auto to = move.positional(0);
    const bool to_cpu = (move.method == "to" || move.method == "set_device") && to &&
                        names::names_the_cpu(m.text(*to)) && m.text(*to).find("cuda") == std::string_view::npos;
    if ((move.method == "cpu" || to_cpu) && !ts_node_is_null(move.receiver)) {
      moved_to_cpu.emplace_back(ts_node_start_byte(move.node), m.text(strip_mode_switches(m, move.receiver)));
    }
  }
  for (const Call& save : m.calls()) {
    if (save.qualified != "torch.save") {
      continue;
    }
    const auto first = save.positional(0);
    const Call* state = first ? m.call_at(*first) : nullptr;
    const bool whole_object = first && state == nullptr;
    if (!whole_object && (state == nullptr || state->method != "state_dict" || ts_node_is_null(state->receiver))) {
      continue;
    }
    const std::string_view saved = whole_object ? m.text(*first) : m.text(state->receiver);
    // `torch.save(net.cpu().state_dict(), path)`: moved in the same expression.
    const Call* receiver = whole_object ? nullptr : m.call_at(state->receiver);
    if (receiver != nullptr && receiver->method == "cpu") {
      return true;
    }
    const std::uint32_t at = ts_node_start_byte(save.node);
    for (const auto& [where, moved] : moved_to_cpu) {
      if (where < at && moved == saved) {
        return true;
      }
    }
  }
  return false;
}

// A call that may put tensors on an accelerator: it initialises CUDA, moves something `.to()` a
// place not known to be the CPU, or passes such a `device=`.
bool Model::may_place_on_a_device(const Call& c) const {
  if (m_impl->call_initialises_cuda(c)) {
    return true;
  }
  if (c.method == "to" && !ts_node_is_null(c.receiver)) {
    const auto where = c.positional(0);
    if (!where || value_of(*where).device != Device::Cpu) {
      return true;
    }
  }
  const auto device = c.keyword("device", source().text());
  if (device && value_of(*device).device != Device::Cpu) {
    return true;
  }
  // `Trainer(accelerator="gpu")`, `Fabric(accelerator=accelerator)`: a trainer that runs the model there.
  const auto accelerator = c.keyword("accelerator", source().text());
  return accelerator && value_of(*accelerator).device != Device::Cpu;
}

// `x.load_state_dict(arg)` calls in `fn`'s own body (the module's, for kNone) after `at`.
std::vector<const Call*> Model::Impl::restores_after(ScopeId fn, std::uint32_t at) const {
  std::vector<const Call*> out;
  const std::uint32_t end = ts_node_end_byte(m.m_scopes[static_cast<size_t>(fn == kNone ? 0 : fn)].node);
  for (auto [i, last] = calls_in(at, end); i < last; ++i) {
    const Call& c = m.m_calls[i];
    if (c.method == "load_state_dict" && c.positional(0) && enclosing_function(c.scope) == fn) {
      out.push_back(&c);
    }
  }
  return out;
}

// Whatever the name says (`load_data`): what a module's `load_state_dict` receives is its state.
bool Model::reaches_load_state_dict(std::string_view name, ScopeId scope_id, std::uint32_t at) const {
  if (name.empty()) {
    return false;
  }
  const ScopeId fn = scope_id == kNone ? kNone : m_impl->enclosing_function(scope_id);
  // Names bound later in the function from the loaded value: `weights = obj["weights"]`.
  std::vector<std::string_view> holders{name};
  for (const Binding& b : bindings()) {
    if (b.stmt_start > at && b.kind == BindingKind::Assign && !ts_node_is_null(b.value) &&
        m_impl->enclosing_function(b.scope) == fn && mentions_identifier(text(b.value), name)) {
      holders.push_back(b.name);
    }
  }
  for (const Call* c : m_impl->restores_after(fn, at)) {
    // A GradScaler's or scheduler's state holds numbers, not tensors on a device.
    if (!ts_node_is_null(c->receiver) && names_data_not_state(text(c->receiver))) {
      continue;
    }
    const std::string_view passed = text(*c->positional(0));
    if (std::any_of(holders.begin(), holders.end(),
                    [&](std::string_view h) { return mentions_identifier(passed, h); })) {
      return true;
    }
  }
  return false;
}

// `x = torch.load(path); state_dict = x["state_dict"]`: the loaded object is read for a model's
// or an optimizer's state by key, later in the same function.
bool Model::reads_state_entries(std::string_view name, ScopeId scope_id, std::uint32_t at) const {
  if (name.empty() || names_data_not_state(name)) {
    return false;
  }
  const ScopeId fn = scope_id == kNone ? kNone : m_impl->enclosing_function(scope_id);
  const TSNode body = scope(fn == kNone ? 0 : fn).node;
  const auto& g = m_impl->g;
  static constexpr std::array<std::string_view, 8> kStateKeys = {"model",     "optimizer", "optim",  "net",
                                                                 "generator", "ema",       "params", "weights"};
  bool found = false;
  syntax::walk_named(body, [&](TSNode n) {
    if (found || ts_node_end_byte(n) <= at) {
      return false;
    }
    if (ts_node_symbol(n) != g.sym.subscript || text(ts_node_child_by_field_id(n, g.field.value)) != name) {
      return true;
    }
    const TSNode key = ts_node_child_by_field_id(n, g.field.subscript);
    if (ts_node_is_null(key) || ts_node_symbol(key) != g.sym.string) {
      return true;
    }
    const auto words = identifier_words(text(key));
    found = (words.contains("state") && words.contains("dict")) ||
            std::any_of(kStateKeys.begin(), kStateKeys.end(), [&](std::string_view w) { return words.contains(w); });
    return !found;
  });
  return found;
}

bool Model::restores_only_small_state(std::string_view name, ScopeId scope_id, std::uint32_t at) const {
  const ScopeId fn = scope_id == kNone ? kNone : m_impl->enclosing_function(scope_id);
  for (const Call* c : m_impl->restores_after(fn, at)) {
    if (name.empty() || !mentions_identifier(text(*c->positional(0)), name)) {
      continue;
    }
    // The first restore says what it is: into a scheduler's state, or into a model or an optimizer.
    return !ts_node_is_null(c->receiver) && names_data_not_state(text(c->receiver));
  }
  if (fn == kNone) {
    return false;
  }
  const auto words = identifier_words(scope(fn).name);
  static constexpr std::array<std::string_view, 4> kSmallState = {"random", "rng", "seed", "seeds"};
  return std::any_of(kSmallState.begin(), kSmallState.end(), [&](std::string_view w) { return words.contains(w); });
}

namespace {

// pytest collects `test_*.py` and `*_test.py` (and reads `conftest.py`): a script's
// `def test_accuracy(net, loader)` in `train.py` is its evaluation, not a test. Folders are not
// read: a path may pass through a `tests/` folder far above the project.
bool is_test_file(std::string_view path) {
  const std::size_t slash = path.find_last_of("/\\");
  const std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  return base.starts_with("test_") || base.ends_with("_test.py") || base == "conftest.py";
}

} // namespace

// `self.lr_scheduler.load_state_dict(torch.load(os.path.join(ckpt, "scheduler.pt")))`: the load goes
// straight into a scheduler, scaler or sampler, or its path names such a file: counters and
// step sizes, no tensors on a device.
bool Model::loads_straight_into_small_state(const Call& load) const {
  const auto& g = syntax::grammar();
  const TSNode list = ts_node_parent(load.node);
  const TSNode consumer = ts_node_is_null(list) ? TSNode{} : ts_node_parent(list);
  if (!ts_node_is_null(consumer) && ts_node_symbol(list) == g.sym.argument_list &&
      ts_node_symbol(consumer) == g.sym.call) {
    const TSNode fn = ts_node_child_by_field_id(consumer, g.field.function);
    if (ts_node_symbol(fn) == g.sym.attribute &&
        names_data_not_state(text(ts_node_child_by_field_id(fn, g.field.object)))) {
      return true;
    }
  }
  const auto path = load.argument("f", 0, source().text());
  if (!path) {
    return false;
  }
  const std::string_view p = text(path->value);
  for (std::string_view file : {"scheduler.pt", "scaler.pt", "rng_state", "sampler.pt", "scheduler.bin"}) {
    if (p.find(file) != std::string_view::npos) {
      return true;
    }
  }
  return false;
}

// A tester's `create_and_check_*` method that nothing calls never runs: in a test file, the
// callers of a test helper are the file's own tests. Set-up and tear-down hooks are the framework's.
bool Model::Impl::uncalled_test_helper(ScopeId fn) const {
  if (fn == kNone || !is_test_file(m.source().path())) {
    return false;
  }
  const Scope& sc = m.m_scopes[static_cast<size_t>(fn)];
  const std::string_view name = sc.name;
  if (sc.class_scope == kNone || is_test_function(fn) || is_test_class(sc.class_scope) || name.starts_with("_") ||
      name.starts_with("setUp") || name.starts_with("tearDown") || name.starts_with("setup") ||
      name.starts_with("teardown") || name.starts_with("on_")) {
    return false;
  }
  // A plain tester class (no base) has no framework calling its methods by their names.
  const std::vector<std::string>& bases = m.m_scopes[static_cast<size_t>(sc.class_scope)].bases;
  if (!bases.empty() && !(bases.size() == 1 && bases.front() == "object")) {
    return false;
  }
  // Its name written once, where it is defined: no call, no `getattr` string, no reference.
  const std::string_view text = m.source().text();
  int mentions = 0;
  for (std::size_t at = text.find(name); at != std::string_view::npos && mentions < 2;
       at = text.find(name, at + name.size())) {
    const bool word_start =
        at == 0 || (std::isalnum(static_cast<unsigned char>(text[at - 1])) == 0 && text[at - 1] != '_');
    const std::size_t after = at + name.size();
    const bool word_end =
        after >= text.size() || (std::isalnum(static_cast<unsigned char>(text[after])) == 0 && text[after] != '_');
    mentions += word_start && word_end ? 1 : 0;
  }
  return mentions == 1;
}

// What pytest and unittest collect: `test_*` functions of a module, and methods of a `Test*` class
// or a `TestCase`. `Exp.test(self, setting)`, the test phase of a trainer class, is no test case.
// In a test file, a `test_*` method of any class is one too: a mixin's tests
// (`class ModelTesterMixin: def test_save_load(self)`) run in every TestCase that inherits them.
bool Model::Impl::is_test_function(ScopeId fn) const {
  const Scope& s = m.scope(fn);
  if (!names::is_test_case_name(s.name)) {
    return false;
  }
  return s.class_scope == kNone || is_test_class(s.class_scope) || is_test_file(m.source().path());
}

bool Model::Impl::is_test_class(ScopeId cls) const {
  const Scope& c = m.scope(cls);
  return c.name.starts_with("Test") ||
         std::any_of(c.bases.begin(), c.bases.end(), [](const std::string& b) { return b.ends_with("TestCase"); });
}

// `def compute_sim_matrix(self, data_loader)` of a model class, called only from other modules
// (an evaluation task, a runner): a module's own method computes, and the callers nobody here sees
// choose the grad mode, so whether what it gathers carries a graph is unknown.
bool Model::grad_mode_left_to_callers(ScopeId scope_id) const {
  const ScopeId fn = m_impl->enclosing_function(scope_id);
  if (fn == kNone) {
    return false;
  }
  const Scope& sc = scope(fn);
  return sc.parent == sc.class_scope && sc.facts.call_sites == 0 && !sc.facts.backprops && !sc.facts.steps_optimizer &&
         !sc.facts.needs_grad && !sc.facts.per_step_method && !sc.facts.calls_train_mode &&
         !m_impl->is_module_forward(fn) && in_module_method(fn);
}

// A method of an nn.Module class (its forward, a rollout, an attention step): whoever calls it
// may back-propagate through what it computes, keeps or carries.
bool Model::in_module_method(ScopeId scope_id) const {
  const ScopeId fn = m_impl->enclosing_function(scope_id);
  if (fn == kNone) {
    return false;
  }
  const ScopeId cls = scope(fn).class_scope;
  return cls != kNone && !m_impl->is_test_class(cls) && m_impl->class_is_module_like(cls);
}

bool Model::in_test_code(ScopeId scope_id) const {
  if (!is_test_file(source().path())) {
    return false;
  }
  // In a file pytest collects, every function serves the tests: the test cases, their nested
  // helpers, a test class's methods, and the module's helpers and tester classes they call. A
  // script that is only named like a test (`test_policy.py` with a `main()`, no test case) is not.
  if (!m_impl->defines_test_cases) {
    bool any = false;
    for (ScopeId s = 0; s < static_cast<ScopeId>(m_scopes.size()) && !any; ++s) {
      const Scope& sc = scope(s);
      any = (sc.kind == ScopeKind::Function && m_impl->is_test_function(s)) ||
            (sc.kind == ScopeKind::Class && m_impl->is_test_class(s));
    }
    m_impl->defines_test_cases = any;
  }
  return *m_impl->defines_test_cases && scope_id != kNone && m_impl->enclosing_function(scope_id) != kNone;
}

bool Model::tests_an_api_without_training(ScopeId scope_id) const {
  const ScopeId fn = scope_id == kNone ? kNone : m_impl->enclosing_function(scope_id);
  return fn != kNone && in_test_code(fn) && m_impl->is_test_function(fn) && !scope(fn).facts.backprops;
}

// `torch.save(resnet, "model.ckpt")` then `torch.load("model.ckpt")` in a module that never puts
// anything on an accelerator: the file this module wrote holds CPU tensors.
bool Model::reads_back_a_cpu_only_save(const Call& load) const {
  const auto path = load.positional(0);
  if (!path || ts_node_symbol(m_impl->unparen(*path)) != m_impl->g.sym.string) {
    return false;
  }
  if (!m_impl->cpu_only_saves_memo) {
    // A fact of the whole module, asked once per load: computed once.
    std::unordered_set<std::string> saved;
    for (const Call& c : m_calls) {
      if (may_place_on_a_device(c) || c.method == "cuda") {
        saved.clear();
        break;
      }
      if (const auto to = c.qualified == "torch.save" ? c.positional(1) : std::nullopt) {
        saved.emplace(text(m_impl->unparen(*to)));
      }
    }
    m_impl->cpu_only_saves_memo = std::move(saved);
  }
  return m_impl->cpu_only_saves_memo->count(std::string(text(m_impl->unparen(*path)))) != 0;
}

// `convert_zero_checkpoint_to_fp32_state_dict(path, ckpt_path)` earlier in the function, then
// `torch.load(ckpt_path)`: the converter wrote CPU tensors there.
bool Model::reads_back_a_cpu_conversion(const Call& load) const {
  const auto path = load.argument("f", 0, source().text());
  const ScopeId fn = function_at(ts_node_start_byte(load.node));
  if (!path || fn == kNone) {
    return false;
  }
  const TSNode wanted = m_impl->unparen(path->value);
  // The same name means the same file only where both see one binding of it (not `ckpt_path = path`
  // in the other branch).
  auto binding_at = [&](TSNode n) {
    return ts_node_symbol(n) == m_impl->g.sym.identifier ? m_impl->lookup(text(n), load.scope, ts_node_start_byte(n))
                                                         : nullptr;
  };
  const Binding* file = binding_at(wanted);
  const auto [first, last] = m_impl->calls_in(ts_node_start_byte(scope(fn).body), ts_node_start_byte(load.node));
  for (size_t i = first; i < last; ++i) {
    const Call& c = m_calls[i];
    const int output = library::cpu_checkpoint_output(text(c.function));
    const auto written = output < 0 ? std::nullopt : c.positional(static_cast<size_t>(output));
    if (written && text(m_impl->unparen(*written)) == text(wanted) && binding_at(m_impl->unparen(*written)) == file) {
      return true;
    }
  }
  return false;
}

namespace {

bool is_download(std::string_view callee) {
  return callee.find("download") != std::string_view::npos || callee == "urlretrieve" || callee == "load_file_from_url";
}

} // namespace

// `model_trt.load_state_dict(torch.load(f))` with `model_trt = TRTModule()`: torch2trt's module keeps
// a serialized TensorRT engine (bytes) and binding names, no tensors to put back on a device.
bool Model::loads_an_engine_module(const Call& load) const {
  const auto& g = m_impl->g;
  TSNode args = ts_node_parent(load.node);
  if (ts_node_is_null(args) || ts_node_symbol(args) != g.sym.argument_list) {
    return false;
  }
  const TSNode consumer = ts_node_parent(args);
  const TSNode fn = m_impl->field(consumer, g.field.function);
  if (ts_node_is_null(fn) || ts_node_symbol(fn) != g.sym.attribute ||
      text(m_impl->field(fn, g.field.attribute)) != "load_state_dict") {
    return false;
  }
  const TSNode object = m_impl->unparen(m_impl->field(fn, g.field.object));
  if (ts_node_symbol(object) != g.sym.identifier) {
    return false;
  }
  const Binding* b = m_impl->lookup(text(object), load.scope, ts_node_start_byte(object));
  if (b == nullptr || b->kind != BindingKind::Assign || b->element != -1 || !b->has_value()) {
    return false;
  }
  const Call* made = call_at(m_impl->unparen(b->value));
  return made != nullptr && m_impl->resolve_qualified(made->function, made->scope).ends_with("TRTModule");
}

// Weights published for everyone to fetch are saved so that a machine without that GPU can load
// them: from the CPU. A file this code downloads when missing is such a file.
bool Model::loads_a_published_download(const Call& load) const {
  const auto path = load.argument("f", 0, source().text());
  if (!path) {
    return false;
  }
  const TSNode p = m_impl->unparen(path->value);
  const bool literal = !ts_node_is_null(p) && ts_node_symbol(p) == m_impl->g.sym.string;
  if (ts_node_is_null(p) || (ts_node_symbol(p) != m_impl->g.sym.identifier && !literal)) {
    return false;
  }
  // A literal path is looked for in the condition without its quotes, which may differ.
  const std::string_view name = literal && text(p).size() > 2 ? text(p).substr(1, text(p).size() - 2) : text(p);
  if (const Binding* b = literal ? nullptr : m_impl->lookup(name, load.scope, ts_node_start_byte(p));
      b != nullptr && b->kind == BindingKind::Assign && b->element == -1 && b->has_value()) {
    if (const Call* made = call_at(m_impl->unparen(b->value)); made != nullptr && is_download(made->method)) {
      return true;
    }
  }
  // `if not os.path.exists(path): load_file_from_url(url, model_dir=...)` before the load, in
  // the same function.
  const ScopeId fn = m_impl->enclosing_function(load.scope);
  const TSNode body = scope(fn == kNone ? 0 : fn).node;
  for (auto [i, end] = m_impl->calls_in(ts_node_start_byte(body), ts_node_start_byte(load.node)); i < end; ++i) {
    const Call& c = m_calls[i];
    if (!is_download(c.method) || m_impl->enclosing_function(c.scope) != fn) {
      continue;
    }
    for (TSNode up = ts_node_parent(c.node); !ts_node_is_null(up); up = ts_node_parent(up)) {
      if (ts_node_symbol(up) != m_impl->g.sym.if_statement) {
        continue;
      }
      const std::string_view condition = text(ts_node_child_by_field_name(up, "condition", 9));
      const bool names_the_path =
          literal ? condition.find(name) != std::string_view::npos : mentions_identifier(condition, name);
      if ((condition.find("exists") != std::string_view::npos || condition.find("isfile") != std::string_view::npos) &&
          names_the_path) {
        return true;
      }
      break;
    }
  }
  return false;
}

namespace {

// `train_args`, `model_args.pth`, `hparams.pt`: the last word names a run's settings.
bool names_settings(std::string_view name) {
  static constexpr std::array<std::string_view, 8> kSettings = {"args",   "hparams", "hyperparams", "hyperparameters",
                                                                "config", "cfg",     "options",     "settings"};
  const auto words = identifier_words(name);
  return words.size() > 0 && std::find(kSettings.begin(), kSettings.end(), words.back()) != kSettings.end();
}

// `x_args.pth` -> `x_args`: the file's name without folders or extension.
std::string_view file_stem(std::string_view path) {
  if (const size_t slash = path.find_last_of("/\\"); slash != std::string_view::npos) {
    path = path.substr(slash + 1);
  }
  return path.substr(0, path.find('.'));
}

// Every value `expr` may take is a string constant that `holds` for.
template <typename Predicate> bool every_constant_string(const Model& m, TSNode expr, Predicate holds) {
  const auto values = ts_node_is_null(expr) ? std::nullopt : m.possible_constants(expr);
  return values && !values->empty() && std::all_of(values->begin(), values->end(), [&](const Constant& c) {
           return c.kind == Constant::Kind::String && holds(c.text);
         });
}

} // namespace

bool Model::loads_saved_settings(const Call& load, std::string_view bound_name) const {
  if (!bound_name.empty() && names_settings(bound_name)) {
    return true; // `train_args = torch.load(path)`
  }
  const auto path = load.argument("f", 0, source().text());
  if (!path) {
    return false;
  }
  // `os.path.join(run_dir, "model_args.pth")`: the file's name is the last part joined.
  TSNode file = m_impl->unparen(path->value);
  if (const Call* join = call_at(file); join != nullptr && join->method == "join" && join->has_argument_list()) {
    const TSNode args = join->arguments;
    const uint32_t n = ts_node_named_child_count(args);
    file = n == 0 ? TSNode{} : ts_node_named_child(args, n - 1);
  }
  return every_constant_string(*this, file, [](std::string_view name) { return names_settings(file_stem(name)); });
}

bool Model::loads_converted_caffe_weights(const Call& load) const {
  const auto path = load.argument("f", 0, source().text());
  if (!path) {
    return false;
  }
  if (identifier_words(text(path->value)).contains("caffe")) {
    return true; // `torch.load(opt.caffe_pretrain_path)`
  }
  return every_constant_string(*this, path->value,
                               [](std::string_view name) { return identifier_words(name).contains("caffe"); });
}

namespace {

// `['params']`, `["params_ema"]`: the keys BasicSR's checkpoint layout nests the weights under.
bool is_basicsr_weights_key(std::string_view key) {
  if (key.size() < 2 || (key.front() != '\'' && key.front() != '"') || key.back() != key.front()) {
    return false;
  }
  key = key.substr(1, key.size() - 2);
  return key == "params" || key == "params_ema";
}

} // namespace

// `torch.load(path)["params_ema"]`, or `ckpt = torch.load(path)` then `ckpt["params"]`: the layout
// of BasicSR's `save_network` (ESRGAN, GFPGAN, CodeFormer, SwinIR, Restormer, KAIR's video
// models), which moves every parameter to the CPU before it saves.
bool Model::loads_a_basicsr_checkpoint(const Call& load, std::string_view bound_name) const {
  const auto& g = m_impl->g;
  const TSNode parent = ts_node_parent(load.node);
  if (!ts_node_is_null(parent) && ts_node_symbol(parent) == g.sym.subscript &&
      ts_node_eq(m_impl->field(parent, g.field.value), load.node)) {
    return is_basicsr_weights_key(text(m_impl->field(parent, g.field.subscript)));
  }
  if (bound_name.empty()) {
    return false;
  }
  const ScopeId fn = function_at(ts_node_start_byte(load.node));
  const TSNode body = scope(fn == kNone ? 0 : fn).node;
  bool keyed = false;
  syntax::walk_named(body, [&](TSNode n) {
    if (keyed || ts_node_symbol(n) != g.sym.subscript || ts_node_start_byte(n) < ts_node_end_byte(load.node)) {
      return !keyed;
    }
    keyed = text(m_impl->field(n, g.field.value)) == bound_name &&
            is_basicsr_weights_key(text(m_impl->field(n, g.field.subscript))) && restored_into_a_module(n);
    return !keyed;
  });
  return keyed;
}

// `net.load_state_dict(ckpt["params"])`, also as a branch of a conditional argument: the entry is
// weights. XLM keeps its settings under the same key (`AttrDict(reloaded["params"])`).
bool Model::restored_into_a_module(TSNode entry) const {
  TSNode up = ts_node_parent(entry);
  for (int depth = 0; depth < 4 && !ts_node_is_null(up); ++depth, up = ts_node_parent(up)) {
    if (ts_node_symbol(up) == m_impl->g.sym.call) {
      const Call* c = call_at(up);
      return c != nullptr && c->method == "load_state_dict";
    }
  }
  return false;
}

} // namespace oomlint::model
