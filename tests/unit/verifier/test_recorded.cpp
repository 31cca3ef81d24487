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
  explicit Recorded(const std::string& run)
      : baseline(measured(series_of(recorded(run, "baseline.results.json"), 0), false)),
        fixed(measured(series_of(recorded(run, "fixed.results.json"), 0), false)) {}
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
