// The verifier's figures from recorded samples: growth within each entry into the flagged loop, and
// the NVML view beside the allocator's.
#include <vector>

#include <gtest/gtest.h>

#include "verifier/verifier.hpp"

namespace oomlint::verify {
namespace {

TEST(Growth, ASawToothOfResetAccumulatorsGrowsWithinEachEntry) {
  // Four calls of an evaluation function, five passes each: +100 per pass, freed at each return.
  std::vector<double> ys;
  std::vector<int> entries;
  for (int call = 1; call <= 4; ++call) {
    for (int pass = 0; pass < 5; ++pass) {
      ys.push_back(1000 + 100.0 * pass);
      entries.push_back(call);
    }
  }
  EXPECT_LT(slope(ys), 50.0); // one line through the saw-tooth hides the growth
  EXPECT_DOUBLE_EQ(growth_within_entries(ys, entries), 100.0);
  for (double d : diffs_within_entries(ys, entries)) {
    EXPECT_DOUBLE_EQ(d, 100.0); // the drops at each new entry are not passes
  }
}

TEST(Growth, OneEntryIsThePlainSlope) {
  const std::vector<double> ys = {0, 10, 25, 30, 41, 50};
  EXPECT_DOUBLE_EQ(growth_within_entries(ys, std::vector<int>(ys.size(), 1)), slope(ys));
  EXPECT_DOUBLE_EQ(growth_within_entries(ys, {}), slope(ys)); // samples from a probe without entries
}

TEST(Growth, EntriesOfOnePassMeasureAcrossEntries) {
  // A loop that runs once per call of its function: what is kept across calls is the growth.
  const std::vector<double> ys = {0, 50, 100, 150, 200};
  EXPECT_DOUBLE_EQ(growth_within_entries(ys, {1, 2, 3, 4, 5}), 50.0);
}

TEST(Growth, FlatEntriesDoNotGrow) {
  const std::vector<double> ys = {500, 500, 500, 900, 900, 900, 300, 300, 300};
  EXPECT_DOUBLE_EQ(growth_within_entries(ys, {1, 1, 1, 2, 2, 2, 3, 3, 3}), 0.0);
}

} // namespace
} // namespace oomlint::verify

namespace oomlint::verify {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// What nvidia-smi saw is stated with the part PyTorch's allocator explains, and a difference
// between runs that the allocator does not show is said to be outside it.
TEST(NvmlView, SaysWhatTheAllocatorExplains) {
  VerifyResult r;
  r.device = "cuda";
  r.nvml_peak_baseline = static_cast<std::uint64_t>(950 * kMiB);
  VerifiedFinding v;
  v.finding.code = "OOM401";
  v.verdict = "confirmed";
  v.baseline.peak_reserved = 812 * kMiB;
  v.fixed.peak_reserved = 812 * kMiB;
  v.fixed_nvml_peak = static_cast<std::uint64_t>(3328 * kMiB);
  r.findings.push_back(v);
  const std::string text = verify_text(r, false);
  EXPECT_NE(text.find("as written 950.0 MiB (the allocator reserved at most 812.0 MiB at the probe points: 138.0 MiB "
                      "outside it"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("the difference is not in the allocator's reserve"), std::string::npos) << text;
}

} // namespace
} // namespace oomlint::verify
