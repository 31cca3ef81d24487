#include <gtest/gtest.h>

#include "analyzer/syntax/parser.hpp"
#include "analyzer/syntax/recovery.hpp"
#include "tests/support/model_fixture.hpp"

using namespace oomlint;

TEST(Recovery, CleanFileIsParsedOnce) {
  syntax::Parser parser;
  const auto parsed = syntax::parse_with_recovery(parser, "import torch\nx = torch.load(p)\n");
  EXPECT_FALSE(parsed.problem.has_value());
  EXPECT_FALSE(static_cast<bool>(parsed.recovered));
}

TEST(Recovery, BlankingTheBrokenLineRecoversTheRest) {
  const std::string text = "import torch\n\ndef f(x)\n    pass\n\nstate = torch.load(p)\n";
  syntax::Parser parser;
  const auto parsed = syntax::parse_with_recovery(parser, text);
  ASSERT_TRUE(parsed.problem.has_value());
  EXPECT_EQ(ts_node_start_point(parsed.problem->node).row, 2U); // reported from the original parse
  ASSERT_TRUE(static_cast<bool>(parsed.recovered));
  EXPECT_FALSE(ts_node_has_error(parsed.recovered.root()));
  EXPECT_EQ(parsed.patched_text.size(), text.size()) << "offsets must not move";
  EXPECT_NE(parsed.patched_text.find("state = torch.load(p)"), std::string::npos);
}

TEST(Recovery, MissingTokensAreProblemsButNeedNoReparse) {
  syntax::Parser parser;
  const auto parsed = syntax::parse_with_recovery(parser, "x = f(1, 2\n");
  ASSERT_TRUE(parsed.problem.has_value());
}

TEST(StatementRow, MultiLineStatementsUseTheirFirstLine) {
  oomlint::testing::ModelFixture f(
      "import torch\nstate = torch.load(\n    path,\n)\nfor x in tqdm(\n        loader):\n    y = 1\n");
  EXPECT_EQ(f.model().statement_row(f.node("torch.load(\n    path,\n)")), 1U);
  EXPECT_EQ(f.model().statement_row(f.node("path")), 1U);
  EXPECT_EQ(f.model().statement_row(f.node("loader")), 4U);
  EXPECT_EQ(f.model().statement_row(f.node("y = 1")), 6U);
}
