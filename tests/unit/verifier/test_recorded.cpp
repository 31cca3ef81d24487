// The verdict over samples the probe really recorded (tests/verifier/recorded/README.md says
// which programs and machines).
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "verifier/verdict.hpp"

namespace fs = std::filesystem;

namespace oomlint::verify {
namespace {

nlohmann::json recorded(const std::string& run, const std::string& file) {
  std::ifstream in(fs::path(OOMLINT_SOURCE_DIR) / "tests/verifier/recorded" / run / file);
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

struct Recorded {
  MeasuredRun baseline;
  MeasuredRun fixed;
  explicit Recorded(const std::string& run, int probe = 0, bool load = false)
      : baseline(measured(series_of(recorded(run, "baseline.results.json"), probe), load)),
        fixed(measured(series_of(recorded(run, "fixed.results.json"), probe), load)) {}
};

TEST(Recorded, ASmallAccumulationAfterBackwardIsConfirmedFromTheHeap) {
  const Recorded r("cpu-small-accumulate");
  ASSERT_EQ(r.baseline.series.heap.size(), r.baseline.series.seconds.size());
  EXPECT_GT(r.baseline.figures.heap_growth, 1024.0);
  const Verdict v = judge(VerifyMeasure::Growth, false, r.baseline, &r.fixed);
  EXPECT_EQ(v.verdict, "confirmed") << v.reason;
  EXPECT_EQ(judge(VerifyMeasure::Growth, false, r.fixed, &r.fixed).verdict, "not-confirmed");
}

TEST(Recorded, AnEvaluationResetAtEveryCallIsConfirmed) {
  const Recorded r("cpu-epoch-reset");
  std::set<int> entries(r.baseline.series.entry.begin(), r.baseline.series.entry.end());
  EXPECT_GT(entries.size(), 2U) << "the samples span several calls of the evaluation";
  const Verdict v = judge(VerifyMeasure::Growth, false, r.baseline, &r.fixed);
  EXPECT_EQ(v.verdict, "confirmed") << v.reason;
}

// The loaded copy lives only inside `net.load_state_dict(torch.load(path))`: nothing is left
// allocated after the statement, and its own peak shows what it needed.
TEST(Recorded, ALoadIsMeasuredByItsStatementsPeakOnAGpu) {
  const Recorded r("h100-resume-load", 7, true);
  EXPECT_EQ(r.baseline.figures.load_delta, 0.0);
  EXPECT_GT(r.baseline.figures.load_peak_delta, 20.0 * 1024 * 1024);
  EXPECT_EQ(r.fixed.figures.load_peak_delta, 0.0);
  const Verdict v = judge(VerifyMeasure::Load, true, r.baseline, &r.fixed);
  EXPECT_EQ(v.verdict, "confirmed") << v.reason;
  EXPECT_NE(v.reason.find("the load needed +28.1 MiB of GPU memory (0 B still allocated"), std::string::npos)
      << v.reason;
  EXPECT_EQ(judge(VerifyMeasure::Load, true, r.fixed, &r.fixed).verdict, "not-confirmed");
}

TEST(Recorded, AnEvaluationKeepingItsGraphGrowsOnTheGpu) {
  const Recorded r("h100-eval-accumulate", 1);
  ASSERT_FALSE(r.baseline.series.allocated.empty());
  const Verdict v = judge(VerifyMeasure::Growth, true, r.baseline, &r.fixed);
  EXPECT_EQ(v.verdict, "confirmed") << v.reason;
  EXPECT_NE(v.reason.find("GPU memory grows 328.1 MiB per pass"), std::string::npos) << v.reason;
}

TEST(Recorded, SamplesWithoutHeapFiguresFallBackToTheResidentSet) {
  nlohmann::json old = recorded("cpu-small-accumulate", "baseline.results.json");
  for (auto& row : old["samples"]["0"]) {
    row.erase(6); // a probe without mallinfo2, or one written before heap_bytes
  }
  const MeasuredRun run = measured(series_of(old, 0), false);
  EXPECT_TRUE(run.series.heap.empty());
  EXPECT_EQ(run.figures.heap_growth, 0.0);
  EXPECT_EQ(run.figures.passes, static_cast<int>(run.series.seconds.size()));
}

TEST(Recorded, AMissingPointOrMalformedRowsAreEmptyNotACrash) {
  const nlohmann::json results = recorded("cpu-epoch-reset", "baseline.results.json");
  EXPECT_TRUE(series_of(results, 7).seconds.empty());
  EXPECT_TRUE(series_of(nlohmann::json::parse(R"({"samples": {"0": [[1, "x"], "row", [0.5]]}})"), 0).seconds.empty());
  EXPECT_TRUE(series_of(nlohmann::json::parse("[1, 2]"), 0).seconds.empty());
}

} // namespace
} // namespace oomlint::verify
