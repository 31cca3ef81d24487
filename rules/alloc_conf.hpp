#pragma once
// Where a program sets the CUDA caching allocator's configuration (OOM302, OOM303):
// `os.environ["PYTORCH_CUDA_ALLOC_CONF"] = ...`, `os.environ.setdefault(...)`, `os.putenv(...)`,
// `os.environ.update(...)`, an env dict literal, or `torch.cuda.memory._set_allocator_settings(...)`.
#include <vector>

#include "analyzer/model/model.hpp"

namespace oomlint::rules {

struct AllocConfWrite {
  TSNode statement{};           // what to report
  TSNode value{};               // the configuration string expression (may be null)
  bool process_env = false;     // writes this process's environment (not a child's env dict)
  bool runtime_setting = false; // `_set_allocator_settings`: takes effect at any time
};

std::vector<AllocConfWrite> find_alloc_conf_writes(const model::Model& model);

} // namespace oomlint::rules
