// OOM302 alloc-conf-after-cuda-init: PYTORCH_CUDA_ALLOC_CONF set from Python after CUDA was
// already used, when the caching allocator has read its configuration.
#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "rules/alloc_conf.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM302",
    .name = "alloc-conf-after-cuda-init",
    .severity = Severity::Error,
    .default_enabled = true,
    .fix = FixAvailability::Never,
    .summary = "PYTORCH_CUDA_ALLOC_CONF is set after CUDA was initialised, so it has no effect",
    .what = "Finds `os.environ[\"PYTORCH_CUDA_ALLOC_CONF\"] = ...` (also `setdefault`, `update`, `os.putenv`, "
            "and the newer `PYTORCH_ALLOC_CONF`) that runs after a call that initialises CUDA in the same "
            "function or at module level before it: `.cuda()`, `.to(\"cuda\")`, a tensor made with "
            "`device=\"cuda\"`, or a `torch.cuda` call such as `set_device`, `synchronize` or "
            "`memory_allocated`.",
    .why = "The caching allocator reads its configuration once, when CUDA is initialised. Setting the variable "
           "later changes the environment but not the allocator: `expandable_segments:True` or "
           "`max_split_size_mb` silently do nothing, and the fragmentation they were meant to fix stays.",
    .example = "model = Net().cuda()\nos.environ[\"PYTORCH_CUDA_ALLOC_CONF\"] = \"expandable_segments:True\"\n",
    .use_instead = "os.environ[\"PYTORCH_CUDA_ALLOC_CONF\"] = \"expandable_segments:True\"\nmodel = Net().cuda()\n",
    .fine_when = "It is set before the first CUDA use (`import torch` and `torch.cuda.is_available()` or "
                 "`device_count()` do not initialise the allocator), in a child process's `env` dict, or with "
                 "`torch.cuda.memory._set_allocator_settings`, which applies at run time.",
    .fix_safety = "Moving the line changes program order; set it at the top of the entry script or in "
                  "the launching environment.",
    .options = {},
    .measured = "",
    .references =
        "https://pytorch.org/docs/stable/notes/cuda.html#optimizing-memory-usage-with-pytorch-cuda-alloc-conf",
};

// torch.cuda functions that do not initialise CUDA's allocator.
bool harmless_cuda_query(std::string_view qualified) {
  static constexpr std::string_view kHarmless[] = {
      "torch.cuda.is_available",   "torch.cuda.device_count",
      "torch.cuda.is_initialized", "torch.cuda.get_arch_list",
      "torch.cuda.manual_seed",    "torch.cuda.manual_seed_all",
      "torch.cuda.seed",           "torch.cuda.seed_all",
      "torch.cuda.device",         "torch.cuda.set_per_process_memory_fraction"};
  for (std::string_view h : kHarmless) {
    if (qualified == h) {
      return true;
    }
  }
  return qualified.starts_with("torch.cuda.amp.") || qualified.starts_with("torch.cuda.nvtx.");
}

bool initialises_cuda(const model::Model& m, const model::Call& call) {
  if (call.qualified.starts_with("torch.cuda.")) {
    return !harmless_cuda_query(call.qualified);
  }
  if (call.method == "cuda" && !ts_node_is_null(call.receiver)) {
    return true;
  }
  if (ts_node_is_null(call.arguments) || call.qualified == "torch.device") {
    return false;
  }
  const std::string_view src = m.source().text();
  if (call.method == "to") {
    auto first = call.positional(0);
    auto device = call.keyword("device", src);
    const std::string_view target = first ? m.text(*first) : device ? m.text(*device) : std::string_view();
    return target.find("cuda") != std::string_view::npos;
  }
  if (auto device = call.keyword("device", src)) {
    const std::string_view d = m.text(*device);
    return d.find("\"cuda") != std::string_view::npos || d.find("'cuda") != std::string_view::npos;
  }
  return false;
}

void check(RuleContext& ctx) {
  const model::Model& m = ctx.model;
  for (const AllocConfWrite& w : find_alloc_conf_writes(m)) {
    if (!w.process_env) {
      continue;
    }
    const std::uint32_t at = ts_node_start_byte(w.statement);
    const model::ScopeId fn = m.function_at(at);
    const model::Call* init = nullptr;
    for (const model::Call& call : m.calls()) {
      const std::uint32_t c = ts_node_start_byte(call.node);
      if (c >= at) {
        break; // calls are in document order
      }
      const model::ScopeId call_fn = m.function_at(c);
      if ((call_fn == fn || call_fn == model::kNone) && initialises_cuda(m, call)) {
        init = &call;
        break;
      }
    }
    if (init == nullptr) {
      continue;
    }
    const RowCol pos = m.source().position(ts_node_start_byte(init->node));
    ctx.reporter.report(kMeta, w.statement,
                        fmt::format("the CUDA allocator configuration is set after CUDA was initialised (line {}: "
                                    "`{}`): the allocator read its settings then, so this has no effect; set it "
                                    "before the first CUDA call, or in the launching environment",
                                    pos.row + 1, short_text(m, init->node)));
  }
}

} // namespace

Rule make_OOM302_alloc_conf_after_cuda_init() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
