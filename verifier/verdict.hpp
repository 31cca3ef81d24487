#pragma once
// A finding's verdict from the runs measured at its probe point: a pure function of the
// recorded samples, the rule's declared measure and whether the run had CUDA. The thresholds
// start from ../shared/GROUND-TRUTH.md; docs/verify.md gives them as a table.
#include <string>

#include "analyzer/rule_api.hpp"
#include "verifier/samples.hpp"

namespace oomlint::verify {

struct Verdict {
  // confirmed, fix-ineffective, not-confirmed, inconclusive (not-reached and error are decided
  // before any figure exists).
  std::string verdict;
  std::string reason; // one sentence: what the figures show
  double projected_bytes_10k = 0;
  double projected_seconds_10k = 0;
};

// `fixed` is null when there was no fix or verification transform to run.
Verdict judge(VerifyMeasure measure, bool cuda, const MeasuredRun& baseline, const MeasuredRun* fixed);

} // namespace oomlint::verify
