// How a syntax error is described: the place CPython would point at, not where tree-sitter's
// recovery gave up.
#include <string>

#include <gtest/gtest.h>

#include "analyzer/syntax/parser.hpp"
#include "analyzer/syntax/recovery.hpp"
#include "analyzer/syntax/syntax_error.hpp"

using namespace oomlint;
using syntax::SyntaxErrorKind;

namespace {

struct Described {
  syntax::SyntaxErrorDescription error;
  std::string detail;     // copied: the description points into the text it was given
  std::string pointed_at; // the source between start and end
};

Described describe(const std::string& text) {
  syntax::Parser parser;
  const syntax::Tree tree = parser.parse(text);
  const auto problem = syntax::first_problem(tree.root());
  if (!problem) {
    ADD_FAILURE() << "no syntax problem in: " << text;
    return {};
  }
  const auto error = syntax::describe_syntax_error(problem->node, problem->missing, text);
  return {error, std::string(error.detail), text.substr(error.start, error.end - error.start)};
}

TEST(SyntaxError, HeaderWithoutColonPointsAtTheEndOfItsLine) {
  const Described d = describe("import torch\n\n\ndef train(model, loader)  # no colon\n    for x in loader:\n"
                               "        pass\n");
  EXPECT_EQ(d.error.kind, SyntaxErrorKind::UnfinishedHeader);
  EXPECT_EQ(d.error.row, 3U);
  EXPECT_EQ(d.pointed_at, ")");
}

TEST(SyntaxError, UnclosedBracketPointsAtTheOpeningBracket) {
  const Described d = describe("import torch\n\nx = (1, 2\n\n\ndef f():\n    return torch.load(\"a.pt\")\n");
  EXPECT_EQ(d.error.kind, SyntaxErrorKind::UnclosedBracket);
  EXPECT_EQ(d.error.row, 2U);
  EXPECT_EQ(d.detail, "(");
  EXPECT_EQ(d.pointed_at, "(");
}

TEST(SyntaxError, MissingTokenIsNamedAndHasNoWidth) {
  const Described d = describe("def f(:\n    pass\n");
  EXPECT_EQ(d.error.kind, SyntaxErrorKind::MissingToken);
  EXPECT_EQ(d.detail, ")");
  EXPECT_EQ(d.error.start, 6U);
  EXPECT_EQ(d.error.end, 6U);
}

TEST(SyntaxError, OtherwiseTheFirstTokenTheParserCouldNotPlace) {
  const Described d = describe("x = 1\ny = 2 $ 3\n");
  EXPECT_EQ(d.error.kind, SyntaxErrorKind::UnexpectedToken);
  EXPECT_EQ(d.error.row, 1U);
  EXPECT_EQ(d.detail, d.pointed_at);
  EXPECT_FALSE(d.detail.empty());
}

} // namespace

namespace {

// Whether the first problem of the parse is one the grammar has where Python has none.
bool first_problem_is_a_grammar_gap(const std::string& text) {
  syntax::Parser parser;
  const syntax::Tree tree = parser.parse(text);
  const auto problem = syntax::first_problem(tree.root());
  if (!problem) {
    ADD_FAILURE() << "the grammar reads this without an error, so there is no gap to test: " << text;
    return false;
  }
  return !problem->missing && syntax::is_grammar_gap(problem->node, text);
}

} // namespace

TEST(SyntaxError, StarredElementsOfAnExpressionListAreAGrammarGap) {
  EXPECT_TRUE(first_problem_is_a_grammar_gap("x = 1\nshape = *((1,) * n), -1, 1\n"));
  EXPECT_TRUE(first_problem_is_a_grammar_gap("def f(r, p):\n    return None, *r.grads, *(None,) * len(p)\n"));
}

TEST(SyntaxError, RealErrorsBesideAStarAreNoGap) {
  EXPECT_FALSE(first_problem_is_a_grammar_gap("x = 2 *\n"));
  EXPECT_FALSE(first_problem_is_a_grammar_gap("x = 1 2 * 3\n"));
  EXPECT_FALSE(first_problem_is_a_grammar_gap("def f(x)\n    return x, *x\n"));
}
