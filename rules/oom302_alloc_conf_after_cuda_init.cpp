// OOM302 alloc-conf-after-cuda-init: PYTORCH_CUDA_ALLOC_CONF set from Python after CUDA was
// already used, when the caching allocator has read its configuration.
#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
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
            "a name bound to `os.environ`, a key held by a constant, and the newer `PYTORCH_ALLOC_CONF`) that "
            "runs after a call that initialises CUDA: earlier in the same function, in module code before it, "
            "in a function called before it, in a caller before it calls it, or, for a method, in its class's "
            "`__init__` (the object exists before any other method runs; not for methods `__init__` calls "
            "itself, static or class methods): `.cuda()`, `.to(\"cuda\")` or `.to(device)` with a CUDA "
            "`torch.device`, a tensor made with `device=\"cuda\"`, or a `torch.cuda` call such as `set_device`, "
            "`synchronize` or `memory_allocated`.",
    .why = "The caching allocator reads its configuration once, when CUDA is initialised. Setting the variable "
           "later changes the environment but not the allocator: `expandable_segments:True` or "
           "`max_split_size_mb` silently do nothing, and the fragmentation they were meant to fix stays.",
    .example = "model = Net().cuda()\nos.environ[\"PYTORCH_CUDA_ALLOC_CONF\"] = \"expandable_segments:True\"\n",
    .use_instead = "os.environ[\"PYTORCH_CUDA_ALLOC_CONF\"] = \"expandable_segments:True\"\nmodel = Net().cuda()\n",
    .fine_when = "It is set before the first CUDA use (`import torch` and `torch.cuda.is_available()` or "
                 "`device_count()` do not initialise the allocator), in a child process's `env` mapping (a dict "
                 "literal or a copy such as `os.environ.copy()`), or with "
                 "`torch.cuda.memory._set_allocator_settings`, which applies at run time.",
    .fix_safety = "Moving the line changes program order; set it at the top of the entry script or in "
                  "the launching environment.",
    .options = {},
    .measured = "",
    .references =
        "https://pytorch.org/docs/stable/notes/cuda.html#optimizing-memory-usage-with-pytorch-cuda-alloc-conf",
};

void check(RuleContext& ctx) {
  const model::Model& m = ctx.model;
  for (const model::AllocConfSetting& setting : m.alloc_conf_settings()) {
    if (setting.target != model::AllocConfTarget::ProcessEnvironment || !setting.cuda_started_by) {
      continue;
    }
    const model::CudaStart& init = *setting.cuda_started_by;
    ctx.reporter.report(kMeta, setting.statement,
                        fmt::format("the CUDA allocator configuration is set after CUDA was initialised (line {}: "
                                    "`{}`): the allocator read its settings then, so this has no effect; set it "
                                    "before the first CUDA call, or in the launching environment",
                                    m.source().position(init.start).row + 1, short_text(m, init.call->node)));
    ctx.reporter.attach({Related{init.start, init.end, "CUDA, and with it the caching allocator, starts here"}});
  }
}

} // namespace

Rule make_OOM302_alloc_conf_after_cuda_init() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
