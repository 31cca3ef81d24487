// When CUDA starts: which calls initialise it (and with it the caching allocator, which reads
// PYTORCH_CUDA_ALLOC_CONF once), which functions do so when called, and whether CUDA has
// started before a given point of the program, following the file's call graph.
#include <algorithm>
#include <array>
#include <unordered_set>

#include "analyzer/model/model_impl.hpp"

namespace oomlint::model {

namespace {

// torch.cuda functions that do not initialise CUDA's allocator.
bool harmless_cuda_query(std::string_view qualified) {
  static constexpr std::array<std::string_view, 10> kHarmless = {
      "torch.cuda.is_available",   "torch.cuda.device_count",
      "torch.cuda.is_initialized", "torch.cuda.get_arch_list",
      "torch.cuda.manual_seed",    "torch.cuda.manual_seed_all",
      "torch.cuda.seed",           "torch.cuda.seed_all",
      "torch.cuda.device",         "torch.cuda.set_per_process_memory_fraction"};
  return std::find(kHarmless.begin(), kHarmless.end(), qualified) != kHarmless.end() ||
         qualified.starts_with("torch.cuda.amp.") || qualified.starts_with("torch.cuda.nvtx.");
}

constexpr int kMaxCallerDepth = 8;

} // namespace

bool Model::Impl::names_cuda_device(TSNode expr, ScopeId scope) const {
  if (null(expr)) {
    return false;
  }
  if (eval(expr, scope, 0).device == Device::Accelerator) {
    return true;
  }
  const std::string_view t = text(expr);
  return t.find("\"cuda") != std::string_view::npos || t.find("'cuda") != std::string_view::npos;
}

bool Model::Impl::call_initialises_cuda(const Call& call) const {
  if (call.qualified.starts_with("torch.cuda.")) {
    return !harmless_cuda_query(call.qualified);
  }
  if (call.method == "cuda" && !null(call.receiver)) {
    return true;
  }
  if (null(call.arguments) || call.qualified == "torch.device") {
    return false;
  }
  if (call.method == "to") {
    if (auto first = call.positional(0)) {
      return names_cuda_device(*first, call.scope);
    }
  }
  if (auto device = call.keyword("device", m.source().text())) {
    return names_cuda_device(*device, call.scope);
  }
  return false;
}

void Model::Impl::mark_cuda_initialising_functions() {
  for (const Call& c : m.m_calls) {
    const ScopeId fn = enclosing_function(c.scope);
    if (fn != kNone && call_initialises_cuda(c)) {
      m.m_scopes[static_cast<size_t>(fn)].facts.initialises_cuda = true;
    }
  }
  for (bool changed = true; changed;) {
    changed = false;
    for (const CallEdge& e : edges) {
      if (e.caller == kNone) {
        continue;
      }
      FunctionFacts& to = m.m_scopes[static_cast<size_t>(e.caller)].facts;
      if (!to.initialises_cuda && m.m_scopes[static_cast<size_t>(e.callee)].facts.initialises_cuda) {
        to.initialises_cuda = true;
        changed = true;
      }
    }
  }
}

const Call* Model::Impl::cuda_started_before(std::uint32_t at, int depth) const {
  const ScopeId fn = m.function_at(at);
  // In the same function (or at module level), before `at`: a call that initialises CUDA, or a
  // call of a function that does.
  const std::uint32_t from = fn == kNone ? 0 : ts_node_start_byte(m.m_scopes[static_cast<size_t>(fn)].body);
  const auto [first, last] = calls_in(from, at);
  for (size_t i = first; i < last; ++i) {
    const Call& c = m.m_calls[i];
    const ScopeId owner = enclosing_function(c.scope);
    if (owner != fn) {
      continue;
    }
    const ScopeId callee = local_callee(c.function, c.scope);
    if (call_initialises_cuda(c) ||
        (callee != kNone && m.m_scopes[static_cast<size_t>(callee)].facts.initialises_cuda)) {
      return &c;
    }
  }
  if (fn == kNone || depth >= kMaxCallerDepth) {
    return nullptr;
  }
  // Module-level code before the function's definition has run by the time it is called.
  if (const Call* early = cuda_started_before(ts_node_start_byte(m.m_scopes[static_cast<size_t>(fn)].node), depth + 1);
      early != nullptr && m.function_at(ts_node_start_byte(early->node)) == kNone) {
    return early;
  }
  // Or the caller started CUDA before calling it.
  for (size_t e : edges_by_callee[static_cast<size_t>(fn)]) {
    if (const Call* c = cuda_started_before(edges[e].at, depth + 1)) {
      return c;
    }
  }
  return started_by_constructor(fn, depth);
}

// A method runs on an object its class's `__init__` has built, so CUDA that `__init__` starts
// (`self.model = model.cuda()`) has started before any other method runs, wherever it is
// called from. Not for what `__init__` calls itself (it may run before the CUDA call), static
// and class methods (no object needed), or the methods that build or tear down the object.
const Call* Model::Impl::started_by_constructor(ScopeId fn, int depth) const {
  const Scope& method = m.m_scopes[static_cast<size_t>(fn)];
  if (method.class_scope == kNone || method.parent != method.class_scope || method.name == "__init__" ||
      method.name == "__new__" || method.name == "__init_subclass__" || method.name == "__class_getitem__" ||
      method.name == "__set_name__") {
    return nullptr;
  }
  for (TSNode d : method.decorators) {
    const std::string_view t = text(d);
    if (t.find("staticmethod") != std::string_view::npos || t.find("classmethod") != std::string_view::npos) {
      return nullptr;
    }
  }
  const ScopeId init = method_of(method.class_scope, "__init__");
  if (init == kNone || !m.m_scopes[static_cast<size_t>(init)].facts.initialises_cuda) {
    return nullptr;
  }
  // Reachable from `__init__` through the file's calls: some call of it may precede CUDA.
  std::vector<ScopeId> reached{init};
  for (size_t i = 0; i < reached.size() && i < 64; ++i) {
    for (const CallEdge& e : edges) {
      if (e.caller == reached[i] && std::find(reached.begin(), reached.end(), e.callee) == reached.end()) {
        if (e.callee == fn) {
          return nullptr;
        }
        reached.push_back(e.callee);
      }
    }
  }
  // The last byte of the body is still inside `__init__`: the search covers all of it.
  return cuda_started_before(ts_node_end_byte(m.m_scopes[static_cast<size_t>(init)].body) - 1, depth + 1);
}

const Call* Model::cuda_initialised_before(std::uint32_t at) const {
  return m_impl->cuda_started_before(at, 0);
}

} // namespace oomlint::model
