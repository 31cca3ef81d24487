// The edit builders behind the rules' fixes, applied to real snippets.
#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "analyzer/fix/edits.hpp"
#include "tests/support/model_fixture.hpp"

using namespace oomlint;
using oomlint::testing::ModelFixture;

namespace {

std::string applied(const ModelFixture& f, Fix fix) {
  std::string text(f.model().source().text());
  std::sort(fix.edits.begin(), fix.edits.end(), [](const Edit& a, const Edit& b) { return a.start > b.start; });
  for (const Edit& e : fix.edits) {
    text.replace(e.start, e.end - e.start, e.content);
  }
  return text;
}

TEST(Edits, KeywordArgumentGoesAfterTheLastArgument) {
  ModelFixture f("import torch\nstate = torch.load(path)\nempty = torch.load()\n"
                 "multi = torch.load(\n    path,  # the file\n)\n");
  const auto add = [&](const std::string& call) {
    return applied(f, fix::add_keyword_argument(f.model(), *f.call(call), "map_location=\"cpu\"", Applicability::Unsafe,
                                                "add map_location"));
  };
  EXPECT_NE(add("torch.load(path)").find("torch.load(path, map_location=\"cpu\")\n"), std::string::npos);
  EXPECT_NE(add("torch.load()").find("torch.load(map_location=\"cpu\")\n"), std::string::npos);
  EXPECT_NE(add("torch.load(\n    path,  # the file\n)").find("    path, map_location=\"cpu\",  # the file\n"),
            std::string::npos)
      << "after the argument, not after the comment";
}

TEST(Edits, MethodCallIsAppendedWithParenthesesWhereNeeded) {
  ModelFixture f("total += loss\ntotal += a + b\nkept.append(logits.cpu().float())\n");
  const auto append = [&](const std::string& expr, std::string_view method) {
    return applied(f, fix::append_method_call(f.model(), f.node(expr), method, Applicability::Unsafe, "m"));
  };
  EXPECT_NE(append("loss", "item").find("total += loss.item()\n"), std::string::npos);
  EXPECT_NE(append("a + b", "item").find("total += (a + b).item()\n"), std::string::npos);
  EXPECT_NE(append("logits.cpu().float()", "detach").find("kept.append(logits.detach().cpu().float())"),
            std::string::npos)
      << "detach before copying";
  EXPECT_NE(append("logits.cpu().float()", "item").find("kept.append(logits.cpu().float().item())"), std::string::npos);
}

// The message names the expression as the fix writes it, parentheses included.
TEST(Edits, MethodCallTextMatchesTheEdit) {
  ModelFixture f("mean = (mean * i + loss) / (i + 1)\ntotal += loss\n");
  EXPECT_EQ(fix::method_call_text(f.node("(mean * i + loss) / (i + 1)"), "(mean * i + loss) / (i + 1)", "detach"),
            "((mean * i + loss) / (i + 1)).detach()");
  EXPECT_EQ(fix::method_call_text(f.node("loss", 1), "loss", "item"), "loss.item()");
}

TEST(Edits, DecoratorIsIndentedLikeTheDefAndKeepsLineEndings) {
  ModelFixture lf("class Runner:\n    def evaluate(self):\n        return 1\n");
  const Fix fix = fix::add_decorator(lf.model(), lf.node("def evaluate(self):\n        return 1"),
                                     "torch.inference_mode()", Applicability::Unsafe, "decorate");
  EXPECT_EQ(applied(lf, fix),
            "class Runner:\n    @torch.inference_mode()\n    def evaluate(self):\n        return 1\n");
  ModelFixture crlf("def evaluate(model):\r\n    return 1\r\n");
  EXPECT_EQ(applied(crlf, fix::add_decorator(crlf.model(), crlf.node("def evaluate(model):\r\n    return 1"),
                                             "torch.no_grad()", Applicability::Unsafe, "decorate")),
            "@torch.no_grad()\r\ndef evaluate(model):\r\n    return 1\r\n");
}

TEST(Edits, RemovedArgumentTakesItsComma) {
  ModelFixture f("loss.backward(retain_graph=True)\nf(a, b=1)\ng(a, b)\nh(c=1,)\n");
  const auto remove = [&](const std::string& call, const std::string& argument, int nth = 0) {
    return applied(f,
                   fix::remove_argument(f.model(), *f.call(call), f.node(argument, nth), Applicability::Unsafe, "r"));
  };
  EXPECT_NE(remove("loss.backward(retain_graph=True)", "retain_graph=True").find("loss.backward()\n"),
            std::string::npos);
  EXPECT_NE(remove("f(a, b=1)", "b=1").find("f(a)\n"), std::string::npos);
  EXPECT_NE(remove("g(a, b)", "a", 1).find("g(b)\n"), std::string::npos);
  EXPECT_NE(remove("h(c=1,)", "c=1").find("h()\n"), std::string::npos);
}

TEST(Edits, LineIsInsertedAfterTheWholeStatement) {
  ModelFixture f("for x in loader:\n    out, h = rnn(\n        x, h)\n    use(out)\n");
  EXPECT_EQ(applied(f, fix::insert_line_after(f.model(), f.node("rnn(\n        x, h)"), "h = h.detach()",
                                              Applicability::Unsafe, "detach")),
            "for x in loader:\n    out, h = rnn(\n        x, h)\n    h = h.detach()\n    use(out)\n");
}

TEST(Edits, NodeIsReplaced) {
  ModelFixture f("with torch.no_grad():\n    pass\n");
  EXPECT_EQ(applied(f, fix::replace_node(f.node("torch.no_grad"), "torch.inference_mode", Applicability::Unsafe, "r")),
            "with torch.inference_mode():\n    pass\n");
}

} // namespace
