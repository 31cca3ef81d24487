// Where a module's checkpoints were written from: the facts that tell a `torch.load` of CPU
// state from one that puts a GPU-saved checkpoint back on the GPU.
#include <string_view>

#include "analyzer/model/model.hpp"
#include "analyzer/model/model_impl.hpp"

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
  for (const Call& c : calls()) {
    if (ts_node_eq(c.node, expr)) {
      return &c;
    }
  }
  return nullptr;
}

bool Model::saves_checkpoints_from_cpu() const {
  const std::string_view src = source().text();
  for (const Call& c : calls()) {
    // FSDP's FullStateDictConfig / ShardedStateDictConfig gather the state on the CPU.
    if (auto offload = c.keyword("offload_to_cpu", src); offload && is_true_literal(*this, *offload)) {
      return true;
    }
  }
  // `net.cpu()` (or `net.eval().cpu()`) as a statement, then `torch.save(net.state_dict(), ...)`.
  for (const Call& save : calls()) {
    if (save.qualified != "torch.save") {
      continue;
    }
    const auto first = save.positional(0);
    const Call* state = first ? call_at(*first) : nullptr;
    if (state == nullptr || state->method != "state_dict" || ts_node_is_null(state->receiver)) {
      continue;
    }
    const std::string_view saved = text(state->receiver);
    for (const Call& move : calls()) {
      if (move.method == "cpu" && ts_node_start_byte(move.node) < ts_node_start_byte(save.node) &&
          text(strip_mode_switches(*this, move.receiver)) == saved) {
        return true;
      }
    }
  }
  return false;
}

bool Model::reads_back_a_cpu_test_save(const Call& load) const {
  const ScopeId fn = load.scope;
  if (fn == kNone || !scope(fn).is_function() || !scope(fn).name.starts_with("test")) {
    return false;
  }
  bool saved_before = false;
  for (const Call& c : calls()) {
    if (c.scope != fn) {
      continue;
    }
    if (c.qualified == "torch.save" && ts_node_start_byte(c.node) < ts_node_start_byte(load.node)) {
      saved_before = true;
    }
    // Anything sent to a device the test does not name as the CPU may have been saved from it.
    if (m_impl->call_initialises_cuda(c) || scope(fn).facts.initialises_cuda) {
      return false;
    }
    if (c.method == "to" && !ts_node_is_null(c.receiver)) {
      const auto where = c.positional(0);
      if (!where || value_of(*where).device != Device::Cpu) {
        return false;
      }
    }
    if (auto device = c.keyword("device", source().text()); device && value_of(*device).device != Device::Cpu) {
      return false;
    }
  }
  return saved_before;
}

} // namespace oomlint::model
