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

TEST(Parser, AParseGivenUpLeavesTheParserReadyForTheNext) {
  std::string big;
  for (int i = 0; i < 20000; ++i) {
    big += "x = f(1, [2, 3], {'a': 4})\n";
  }
  syntax::Parser parser;
  EXPECT_FALSE(static_cast<bool>(parser.parse_within(big, nullptr, 1)));
  const std::string small = "def f(x):\n    return x\n";
  const syntax::Tree after = parser.parse_within(small, nullptr, 1000000);
  ASSERT_TRUE(static_cast<bool>(after));
  char* a = ts_node_string(after.root());
  char* b = ts_node_string(syntax::Parser().parse(small).root());
  EXPECT_STREQ(a, b);
  std::free(a);
  std::free(b);
}

// The earlier tree is reused whichever way the edits are told, and is left as it was.
TEST(Reparse, GivesTheTreeOfAFreshParseAndLeavesTheEarlierTreeAlone) {
  syntax::Parser parser;
  const std::string before = "def f(x):\n    y = x + 1\n    return y\n\nz = f(2)\n";
  const syntax::Tree earlier = parser.parse(before);
  char* earlier_text = ts_node_string(earlier.root());
  std::string after = before;
  after.erase(after.find("+ 1") + 2, 1); // `x + ` : deleted at the end of a line
  TSInputEdit exact{};
  exact.start_byte = static_cast<std::uint32_t>(before.find("+ 1") + 2);
  exact.old_end_byte = exact.start_byte + 1;
  exact.new_end_byte = exact.start_byte;
  exact.start_point = {1, 12};
  exact.old_end_point = {1, 13};
  exact.new_end_point = {1, 12};
  TSInputEdit lines{};
  lines.start_byte = static_cast<std::uint32_t>(before.find("    y"));
  lines.old_end_byte = static_cast<std::uint32_t>(before.find("    return"));
  lines.new_end_byte = lines.old_end_byte - 1;
  lines.start_point = {1, 0};
  lines.old_end_point = {2, 0};
  lines.new_end_point = {2, 0};
  const std::vector<TSInputEdit> exact_edits{exact};
  const std::vector<TSInputEdit> line_edits{lines};
  const syntax::Tree reparsed = syntax::reparse(parser, after, syntax::EarlierTree{earlier, exact_edits, line_edits});
  char* a = ts_node_string(reparsed.root());
  char* b = ts_node_string(syntax::Parser().parse(after).root());
  EXPECT_STREQ(a, b);
  char* still = ts_node_string(earlier.root());
  EXPECT_STREQ(still, earlier_text);
  for (char* s : {a, b, still, earlier_text}) {
    std::free(s);
  }
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
