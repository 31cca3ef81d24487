// The verdict as a pure function of recorded samples.
#include <gtest/gtest.h>

#include "verifier/verdict.hpp"

namespace oomlint::verify {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// A CPU run: `passes` samples whose RSS grows `per_pass` bytes each pass.
MeasuredRun host_run(int passes, double per_pass, std::vector<int> entries = {}) {
  Series s;
  for (int i = 0; i < passes; ++i) {
    s.seconds.push_back(0.01 * i);
    s.rss.push_back(200 * kMiB + per_pass * i);
    s.entry.push_back(entries.empty() ? 1 : entries[static_cast<size_t>(i)]);
  }
  return measured(s, false);
}

TEST(Verdict, HostGrowthRemovedByTheFixIsConfirmed) {
  const MeasuredRun baseline = host_run(22, 64 * 1024);
  const MeasuredRun fixed = host_run(22, 0);
  const Verdict v = judge(VerifyMeasure::Growth, false, baseline, &fixed);
  EXPECT_EQ(v.verdict, "confirmed") << v.reason;
  EXPECT_NE(v.reason.find("host resident memory grows 64.0 KiB per pass"), std::string::npos) << v.reason;
  EXPECT_NEAR(v.projected_bytes_10k, 64 * 1024 * 10000.0, 1.0);
}

// A CPU run with malloc's bytes in use: `per_pass` kept each pass, under resident-set noise of
// whole pages that a slope over 20 passes can turn either way.
MeasuredRun heap_run(int passes, double per_pass) {
  Series s;
  for (int i = 0; i < passes; ++i) {
    s.seconds.push_back(0.01 * i);
    s.rss.push_back(200 * kMiB + (i % 3 == 0 ? 132 * 1024.0 : 0.0));
    s.heap.push_back(50 * kMiB + per_pass * i);
    s.entry.push_back(1);
  }
  return measured(s, false);
}

TEST(Verdict, AFewKiBOfAutogradNodesPerPassAreConfirmedFromTheHeap) {
  const MeasuredRun baseline = heap_run(22, 12 * 1024);
  const MeasuredRun fixed = heap_run(22, 0);
  EXPECT_LT(baseline.figures.host_growth, 10 * 1024.0); // the resident set alone would not tell
  const Verdict v = judge(VerifyMeasure::Growth, false, baseline, &fixed);
  EXPECT_EQ(v.verdict, "confirmed") << v.reason;
  EXPECT_NE(v.reason.find("host memory in use (malloc) grows 12.0 KiB per pass"), std::string::npos) << v.reason;
  EXPECT_EQ(judge(VerifyMeasure::Growth, false, fixed, &fixed).verdict, "not-confirmed");
}

// A preview stored every fifth pass: one pass in five grows, and they add up to the slope.
TEST(Verdict, AStoreEveryFewPassesIsSteadyGrowth) {
  Series s;
  for (int i = 0; i < 22; ++i) {
    s.seconds.push_back(0.01 * i);
    s.rss.push_back(200 * kMiB);
    s.heap.push_back(50 * kMiB + 1024.0 * 1024.0 * static_cast<double>(i / 5) + (i % 2 == 0 ? 512.0 : 0.0));
    s.entry.push_back(1);
  }
  const MeasuredRun baseline = measured(s, false);
  const MeasuredRun fixed = heap_run(22, 0);
  const Verdict v = judge(VerifyMeasure::Growth, false, baseline, &fixed);
  EXPECT_EQ(v.verdict, "confirmed") << v.reason;
  // Noise around a level that does not rise is not growth, whatever one pass does.
  Series flat = s;
  for (size_t i = 0; i < flat.heap.size(); ++i) {
    flat.heap[i] = 50 * kMiB + (i == 12 ? 256 * 1024.0 : 0.0) + (i % 2 == 0 ? 4096.0 : 0.0);
  }
  EXPECT_NE(judge(VerifyMeasure::Growth, false, measured(flat, false), &fixed).verdict, "confirmed");
}

TEST(Verdict, AConfirmedFixThatLeavesGrowthSaysSo) {
  const MeasuredRun baseline = heap_run(22, 400 * 1024);
  const MeasuredRun fixed = heap_run(22, 190 * 1024);
  const Verdict v = judge(VerifyMeasure::Growth, false, baseline, &fixed);
  EXPECT_EQ(v.verdict, "confirmed") << v.reason;
  EXPECT_NE(v.reason.find("the fix removes only part of it: 190.0 KiB per pass remains"), std::string::npos)
      << v.reason;
}

TEST(Verdict, GrowthTheFixKeepsIsFixIneffective) {
  const MeasuredRun baseline = host_run(22, 64 * 1024);
  const MeasuredRun fixed = host_run(22, 60 * 1024);
  EXPECT_EQ(judge(VerifyMeasure::Growth, false, baseline, &fixed).verdict, "fix-ineffective");
}

TEST(Verdict, NoGrowthIsNotConfirmed) {
  const MeasuredRun baseline = host_run(22, 0);
  const MeasuredRun fixed = host_run(22, 0);
  EXPECT_EQ(judge(VerifyMeasure::Growth, false, baseline, &fixed).verdict, "not-confirmed");
}

TEST(Verdict, TooFewPassesAreInconclusive) {
  const MeasuredRun baseline = host_run(4, 64 * 1024);
  const MeasuredRun fixed = host_run(22, 0);
  EXPECT_EQ(judge(VerifyMeasure::Growth, false, baseline, &fixed).verdict, "inconclusive");
  EXPECT_EQ(judge(VerifyMeasure::Growth, false, host_run(22, 1e5), nullptr).verdict, "inconclusive");
}

TEST(Verdict, AnAccumulatorResetAtEachCallIsStillGrowth) {
  // Four calls of an evaluation function, six passes each, the sum freed at each return.
  std::vector<int> entries;
  Series s;
  for (int call = 1; call <= 4; ++call) {
    for (int pass = 0; pass < 6; ++pass) {
      s.seconds.push_back(0.01 * static_cast<double>(s.seconds.size()));
      s.rss.push_back(200 * kMiB + 128 * 1024.0 * pass);
      s.entry.push_back(call);
    }
  }
  const MeasuredRun baseline = measured(s, false);
  const MeasuredRun fixed = host_run(24, 0);
  const Verdict v = judge(VerifyMeasure::Growth, false, baseline, &fixed);
  EXPECT_EQ(v.verdict, "confirmed") << v.reason;
}

MeasuredRun load_run(double before, double after, double peak) {
  Series s;
  for (int i = 0; i < 2; ++i) {
    s.seconds.push_back(i);
    s.rss.push_back(100 * kMiB);
    s.allocated.push_back(i == 0 ? before : after);
    s.reserved.push_back(after);
    s.peak.push_back(i == 0 ? before : peak);
    s.entry.push_back(0);
    s.gpu_entry.push_back(0);
  }
  return measured(s, true);
}

TEST(Verdict, ALoadThatOnlyPeaksInsideItsStatementIsConfirmedOnCuda) {
  const MeasuredRun baseline = load_run(10 * kMiB, 10 * kMiB, 38 * kMiB); // gone by the end of the statement
  const MeasuredRun fixed = load_run(10 * kMiB, 10 * kMiB, 10 * kMiB);
  const Verdict v = judge(VerifyMeasure::Load, true, baseline, &fixed);
  EXPECT_EQ(v.verdict, "confirmed") << v.reason;
  EXPECT_NE(v.reason.find("+28.0 MiB"), std::string::npos) << v.reason;
  EXPECT_EQ(judge(VerifyMeasure::Load, true, fixed, &fixed).verdict, "not-confirmed");
  EXPECT_EQ(judge(VerifyMeasure::Load, false, baseline, &fixed).verdict, "not-confirmed");
}

// A CUDA run whose passes peak at `base`, and at `every_n`-th pass at `high`.
MeasuredRun gpu_run(int passes, double base, double high, int every_n) {
  Series s;
  for (int i = 0; i < passes; ++i) {
    s.seconds.push_back(0.01 * i);
    s.rss.push_back(500 * kMiB);
    s.allocated.push_back(100 * kMiB);
    s.reserved.push_back(2048 * kMiB);
    s.peak.push_back(i % every_n == every_n - 1 ? high : base);
    s.entry.push_back(1);
    s.gpu_entry.push_back(1);
  }
  return measured(s, false);
}

TEST(Verdict, AForwardEveryFewPassesIsJudgedByTheHighestPeak) {
  const MeasuredRun baseline = gpu_run(22, 400 * kMiB, 1400 * kMiB, 10); // sampling with autograd on
  const MeasuredRun fixed = gpu_run(22, 400 * kMiB, 700 * kMiB, 10);
  const Verdict v = judge(VerifyMeasure::Peak, true, baseline, &fixed);
  EXPECT_EQ(v.verdict, "confirmed") << v.reason;
  EXPECT_NE(v.reason.find("the highest pass's peak allocated is 1.37 GiB as written, 700.0 MiB fixed"),
            std::string::npos)
      << v.reason;
  EXPECT_EQ(judge(VerifyMeasure::Peak, true, fixed, &fixed).verdict, "not-confirmed");
}

TEST(Verdict, TimeIsOnlyJudgedWithCuda) {
  MeasuredRun slow = host_run(22, 0);
  MeasuredRun fast = host_run(22, 0);
  slow.figures.step_seconds = 0.012;
  fast.figures.step_seconds = 0.010;
  EXPECT_EQ(judge(VerifyMeasure::Time, true, slow, &fast).verdict, "confirmed");
  EXPECT_EQ(judge(VerifyMeasure::Time, false, slow, &fast).verdict, "not-confirmed");
  EXPECT_EQ(judge(VerifyMeasure::Time, true, fast, &fast).verdict, "not-confirmed");
}

} // namespace
} // namespace oomlint::verify
