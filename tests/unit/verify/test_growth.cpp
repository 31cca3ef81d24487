// Growth per pass from recorded samples: within each entry into the flagged loop.
#include <vector>

#include <gtest/gtest.h>

#include "analyzer/verify/verifier.hpp"

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
