#pragma once
// Which problem an out-of-memory error is, from its figures, and the fix path for it: the
// article's decision rule ("read the error message first"), made exact in docs/explain.md.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/explain/memory_summary.hpp"
#include "analyzer/explain/oom_message.hpp"

namespace oomlint::explain {

enum class Diagnosis : std::uint8_t {
  NoOom,                  // no OOM and no memory_summary() table
  Unparseable,            // an OOM whose figures could not all be read, and no complete message
  RequestExceedsCapacity, // one request larger than the whole device
  HeldElsewhere,          // memory outside PyTorch's reservation: other processes, contexts, NCCL
  Fragmentation,          // reserved far above allocated
  GenuinelyFull,          // allocated close to reserved, reserved close to capacity
};

std::string_view diagnosis_name(Diagnosis d);

// The decision rule over one complete message (first match wins): Q > T; H = max(0, T - F - R)
// at least 25% of T and 1 GiB; U = R - A at least 25% of R and 1 GiB; otherwise genuinely full.
Diagnosis diagnose_message(const OomMessage& m);

// A table alone: the fragmentation test on its Allocated / GPU reserved "Cur Usage" cells.
Diagnosis diagnose_summary(const MemorySummary& s);

struct FixStep {
  std::string title;
  std::string detail;
};

// The fix path for a diagnosis, in the order to try it. `message` (may be null) names the
// processes holding memory for HeldElsewhere.
std::vector<FixStep> fix_path(Diagnosis d, const OomMessage* message);

// `2147483648` -> `2.00 GiB`, as PyTorch prints sizes.
std::string format_bytes(std::uint64_t bytes);

} // namespace oomlint::explain
