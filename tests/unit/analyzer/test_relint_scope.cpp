#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "analyzer/driver/relint_scope.hpp"
#include "analyzer/syntax/parser.hpp"

namespace {

using oomlint::TopLevelUnit;

constexpr std::string_view kModule = R"(import torch
import torch.nn.functional as F

LR = 0.1


def compute_loss(model, x, y):
    return F.cross_entropy(model(x), y)


def train(model, loader, opt):
    for x, y in loader:
        loss = compute_loss(model, x, y)
        loss.backward()
        opt.step()


def unrelated(a):
    return a * 2


if __name__ == "__main__":
    train(None, [], None)
)";

struct Edited {
  std::vector<TopLevelUnit> before;
  std::vector<TopLevelUnit> after;
  std::vector<TSInputEdit> edits;
  std::string text;
};

// `length` bytes at `at` replaced by `replacement`.
Edited edit_at(std::string_view text, std::uint32_t at, std::uint32_t length, std::string_view replacement) {
  oomlint::syntax::Parser parser;
  Edited out;
  out.before = oomlint::top_level_units(parser.parse(text).root(), text);
  out.edits.push_back(oomlint::line_edit(text, at, at + length, replacement));
  out.text = std::string(text);
  out.text.replace(at, length, replacement);
  out.after = oomlint::top_level_units(parser.parse(out.text).root(), out.text);
  return out;
}

Edited edit(std::string_view text, std::string_view find, std::string_view replacement) {
  return edit_at(text, static_cast<std::uint32_t>(text.find(find)), static_cast<std::uint32_t>(find.size()),
                 replacement);
}

// The first line of each unit the scope holds.
std::vector<std::string> first_lines(const Edited& e, const std::vector<std::uint32_t>& starts) {
  std::vector<std::string> out;
  for (std::uint32_t s : starts) {
    out.push_back(e.text.substr(s, e.text.find('\n', s) - s));
  }
  return out;
}

TEST(TopLevelUnits, BindTheNamesEachStatementDefines) {
  oomlint::syntax::Parser parser;
  const auto units = oomlint::top_level_units(parser.parse(kModule).root(), kModule);
  ASSERT_EQ(units.size(), 7U);
  EXPECT_EQ(units[0].binds, std::vector<std::string>{"torch"});
  EXPECT_TRUE(units[0].context);
  EXPECT_EQ(units[2].binds, std::vector<std::string>{"LR"});
  EXPECT_FALSE(units[2].context);
  EXPECT_EQ(units[3].binds, std::vector<std::string>{"compute_loss"});
  EXPECT_TRUE(units[6].binds.empty()); // the `__main__` block calls, it binds nothing
}

TEST(TopLevelUnits, StatementsAnEditLeftAloneAreTakenFromTheEarlierUnits) {
  oomlint::syntax::Parser parser;
  const auto earlier = oomlint::top_level_units(parser.parse(kModule).root(), kModule);
  std::string text(kModule);
  text.replace(text.find("LR = 0.1"), 8, "LR, WD = 0.1, 0.0");
  // The earlier units are marked so that a copy shows: a statement read again would not have it.
  auto marked = earlier;
  for (TopLevelUnit& u : marked) {
    u.methods.push_back("from_earlier");
  }
  const auto units = oomlint::top_level_units(parser.parse(text).root(), text, &marked);
  ASSERT_EQ(units.size(), earlier.size());
  for (std::size_t i = 0; i < units.size(); ++i) {
    const bool edited = i == 2;
    EXPECT_EQ(units[i].methods.empty(), edited) << i;
    const std::uint32_t moved = i > 2 ? 9 : 0; // the edit made the text 9 bytes longer
    EXPECT_EQ(units[i].start, earlier[i].start + moved) << i;
  }
  EXPECT_EQ(units[2].binds, (std::vector<std::string>{"LR", "WD"}));
}

TEST(RelintScope, AFunctionIsAnalysedWithWhatItCallsAndWhatCallsIt) {
  const Edited e = edit(kModule, "return F.cross_entropy(model(x), y)", "return F.cross_entropy(model(x), y) * 2");
  const auto scope = oomlint::relint_scope(e.before, e.after, e.edits, e.text);
  ASSERT_TRUE(scope);
  // `train` calls it, the `__main__` block calls `train`; the module's own statements are read
  // in order, so `LR = 0.1` comes with them. Not `unrelated`.
  const std::vector<std::string> affected = {
      "LR = 0.1", "def compute_loss(model, x, y):", "def train(model, loader, opt):", "if __name__ == \"__main__\":"};
  EXPECT_EQ(first_lines(e, scope->affected), affected);
  const std::vector<std::string> built = {"import torch",
                                          "import torch.nn.functional as F",
                                          "LR = 0.1",
                                          "def compute_loss(model, x, y):",
                                          "def train(model, loader, opt):",
                                          "if __name__ == \"__main__\":"};
  EXPECT_EQ(first_lines(e, scope->built), built);
}

TEST(RelintScope, ALeafFunctionIsAnalysedAloneWithTheImports) {
  const Edited e = edit(kModule, "return a * 2", "return a * 3");
  const auto scope = oomlint::relint_scope(e.before, e.after, e.edits, e.text);
  ASSERT_TRUE(scope);
  EXPECT_EQ(first_lines(e, scope->affected), std::vector<std::string>{"def unrelated(a):"});
  const std::vector<std::string> built = {"import torch", "import torch.nn.functional as F", "def unrelated(a):"};
  EXPECT_EQ(first_lines(e, scope->built), built);
}

TEST(RelintScope, EditsMadeTogetherAreFollowedInTurn) {
  // Two edits before the buffer is linted: the second is in the coordinates of the first's result.
  Edited e = edit(kModule, "return a * 2", "return a * 2 + 1");
  const std::string once = e.text;
  const Edited second = edit(once, "        opt.step()", "        opt.step()\n        opt.zero_grad()");
  e.edits.push_back(second.edits.front());
  e.text = second.text;
  e.after = second.after;
  const auto scope = oomlint::relint_scope(e.before, e.after, e.edits, e.text);
  ASSERT_TRUE(scope);
  const std::vector<std::string> affected = {"LR = 0.1",
                                             "def compute_loss(model, x, y):", "def train(model, loader, opt):",
                                             "def unrelated(a):", "if __name__ == \"__main__\":"};
  EXPECT_EQ(first_lines(e, scope->affected), affected);
}

TEST(RelintScope, BlankLinesBetweenStatementsAnalyseNothing) {
  // A newline typed on the empty line before `def unrelated`.
  const Edited e = edit_at(kModule, static_cast<std::uint32_t>(kModule.find("\n\ndef unrelated")), 0, "\n");
  const auto scope = oomlint::relint_scope(e.before, e.after, e.edits, e.text);
  ASSERT_TRUE(scope);
  EXPECT_TRUE(scope->affected.empty());
  EXPECT_TRUE(scope->built.empty());
}

TEST(RelintScope, AnAssignmentOfTheModuleReachesWhatReadsItsNames) {
  const Edited e = edit(kModule, "LR = 0.1", "LR = 0.2");
  const auto scope = oomlint::relint_scope(e.before, e.after, e.edits, e.text);
  ASSERT_TRUE(scope);
  // Nothing mentions `LR`; the module's own statements are read in order, so they come together.
  const std::vector<std::string> affected = {"LR = 0.2", "if __name__ == \"__main__\":"};
  EXPECT_EQ(first_lines(e, scope->affected), affected);
}

TEST(RelintScope, AChangedShapeLintsTheWholeModule) {
  // A renamed function: its callers now call something else.
  auto e = edit(kModule, "def unrelated(a)", "def other(a)");
  EXPECT_FALSE(oomlint::relint_scope(e.before, e.after, e.edits, e.text));
  // A statement added at the top level.
  e = edit(kModule, "LR = 0.1\n", "LR = 0.1\nBATCH = 8\n");
  EXPECT_FALSE(oomlint::relint_scope(e.before, e.after, e.edits, e.text));
  // An import, or a statement of the module's own code that does more than bind names: every
  // function may read what it does.
  e = edit(kModule, "import torch\n", "import torch  \n");
  EXPECT_FALSE(oomlint::relint_scope(e.before, e.after, e.edits, e.text));
  e = edit("import torch\ntorch.manual_seed(0)\n", "(0)", "(1)");
  EXPECT_FALSE(oomlint::relint_scope(e.before, e.after, e.edits, e.text));
  e = edit("import torch\nctx = torch.no_grad()\n", "no_grad()", "enable_grad()");
  EXPECT_FALSE(oomlint::relint_scope(e.before, e.after, e.edits, e.text));
  // A comment between statements can be a file-wide `# noqa`.
  e = edit("import torch\n# a note\nx = 1\n", "a note", "ruff: noqa");
  EXPECT_FALSE(oomlint::relint_scope(e.before, e.after, e.edits, e.text));
}

TEST(RelintScope, EditsAreToldAsWholeLines) {
  const std::string_view text = "a = 1\nb = 22\nc = 3\n";
  const TSInputEdit e = oomlint::line_edit(text, 10, 11, ""); // the second `2`
  EXPECT_EQ(e.start_byte, 6U);
  EXPECT_EQ(e.old_end_byte, 13U);
  EXPECT_EQ(e.new_end_byte, 12U);
  EXPECT_EQ(e.start_point.row, 1U);
  EXPECT_EQ(e.start_point.column, 0U);
  EXPECT_EQ(e.old_end_point.row, 2U);
  EXPECT_EQ(e.old_end_point.column, 0U);
  EXPECT_EQ(e.new_end_point.row, 2U);
  EXPECT_EQ(e.new_end_point.column, 0U);
  const TSInputEdit at_end = oomlint::line_edit("x = 1", 5, 5, "\ny = 2");
  EXPECT_EQ(at_end.old_end_byte, 5U);
  EXPECT_EQ(at_end.new_end_byte, 11U);
  EXPECT_EQ(at_end.new_end_point.row, 1U);
  EXPECT_EQ(at_end.new_end_point.column, 5U);
}

TEST(RelintScope, OffsetsAndRowsMoveWithTheEdits) {
  const std::vector<TSInputEdit> edits{oomlint::line_edit("a\nb\nc\n", 2, 2, "x\n")};
  EXPECT_EQ(oomlint::shift_through(0, edits), 0U);
  EXPECT_EQ(oomlint::shift_through(4, edits), 6U); // `c`
  EXPECT_EQ(oomlint::shift_row_through(0, edits), 0U);
  EXPECT_EQ(oomlint::shift_row_through(2, edits), 3U);
}

} // namespace

// Whether the file trains anything decides whether a script's restored models run as inference
// (OOM201): an edit to a function that trains reaches the `__main__` block that calls none of it.
TEST(RelintScope, WhatTrainsReachesTheScriptThatRestoresWeights) {
  constexpr std::string_view kScript = R"(import torch


def finetune(net, x, opt):
    net(x).sum().backward()
    opt.step()


def unrelated(a):
    return a * 2


if __name__ == "__main__":
    net = torch.nn.Linear(4, 4)
    net.load_state_dict(torch.load("w.pt", map_location="cpu"))
    print(net(torch.randn(2, 4)))
)";
  const Edited e = edit(kScript, "net(x).sum().backward()", "net(x).sum()");
  const auto scope = oomlint::relint_scope(e.before, e.after, e.edits, e.text);
  ASSERT_TRUE(scope);
  const std::vector<std::string> affected = {"def finetune(net, x, opt):", "if __name__ == \"__main__\":"};
  EXPECT_EQ(first_lines(e, scope->affected), affected);
}

// A library module is no script: its functions that restore weights do not read what trains.
TEST(RelintScope, WhatTrainsDoesNotReachALibraryThatRestoresWeights) {
  constexpr std::string_view kLibrary = R"(import torch


def finetune(net, x, opt):
    net(x).sum().backward()
    opt.step()


def restore(net, path):
    net.load_state_dict(torch.load(path, map_location="cpu"))
    return net
)";
  const Edited e = edit(kLibrary, "net(x).sum().backward()", "net(x).sum()");
  const auto scope = oomlint::relint_scope(e.before, e.after, e.edits, e.text);
  ASSERT_TRUE(scope);
  EXPECT_EQ(first_lines(e, scope->affected), std::vector<std::string>{"def finetune(net, x, opt):"});
}
