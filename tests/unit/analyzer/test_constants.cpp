// The constants a file shows: literals and import paths, through the names that hold them, and
// "unknown" wherever the program may hold something else.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/model_fixture.hpp"

using namespace oomlint;
using model::Constant;
using model::ConstantAssumption;
using oomlint::testing::ModelFixture;

namespace {

// The possible values as `kind:text`, in the evaluator's order; {"?"} when unknown.
std::vector<std::string> values(const ModelFixture& f, const std::string& expr, int nth = 0,
                                ConstantAssumption assume = ConstantAssumption::None) {
  const auto got = f.model().possible_constants(f.node(expr, nth), assume);
  if (!got) {
    return {"?"};
  }
  std::vector<std::string> out;
  for (const Constant& c : *got) {
    const char* kind = c.kind == Constant::Kind::String   ? "str"
                       : c.kind == Constant::Kind::Number ? "num"
                       : c.kind == Constant::Kind::Bool   ? "bool"
                       : c.kind == Constant::Kind::None   ? "none"
                                                          : "path";
    out.push_back(std::string(kind) + ":" + c.text);
  }
  return out;
}

using V = std::vector<std::string>;

TEST(Constants, LiteralsAndImportPaths) {
  ModelFixture f("import torch\nfrom torch import half\n"
                 "a = 'max_split_size_mb:32'\nb = 128\nc = None\nd = torch.bfloat16\ne = half\n"
                 "g = \"\"\"x:1\"\"\"\nh = 'a' 'b'\ni = f'{b}'\n");
  EXPECT_EQ(values(f, "'max_split_size_mb:32'"), V{"str:max_split_size_mb:32"});
  EXPECT_EQ(values(f, "128"), V{"num:128"});
  EXPECT_EQ(values(f, "None"), V{"none:None"});
  EXPECT_EQ(values(f, "torch.bfloat16"), V{"path:torch.bfloat16"});
  EXPECT_EQ(values(f, "half", 1), V{"path:torch.float16"}) << "an alias is spelled canonically";
  EXPECT_EQ(values(f, "\"\"\"x:1\"\"\""), V{"str:x:1"});
  EXPECT_EQ(values(f, "'a' 'b'"), V{"str:ab"});
  EXPECT_EQ(values(f, "f'{b}'"), V{"?"}) << "an interpolation is not a constant";
}

TEST(Constants, AnImportWithAFallbackGivesBoth) {
  ModelFixture f("try:\n    from torch import bfloat16 as LOW\nexcept ImportError:\n    LOW = None\n"
                 "def step():\n    return LOW\n");
  EXPECT_EQ(values(f, "LOW", 2), (V{"path:torch.bfloat16", "none:None"}));
}

TEST(Constants, ModuleConstantReadFromAFunction) {
  ModelFixture f("import torch\nAMP_DTYPE = torch.bfloat16\n"
                 "def step():\n    return AMP_DTYPE\n");
  EXPECT_EQ(values(f, "AMP_DTYPE", 1), V{"path:torch.bfloat16"});
}

TEST(Constants, EveryBindingOfTheNameIsPossible) {
  ModelFixture f("import torch\nDTYPE = torch.bfloat16\n"
                 "if __name__ == '__main__':\n    DTYPE = torch.float16\n"
                 "def step():\n    return DTYPE\n");
  EXPECT_EQ(values(f, "DTYPE", 2), (V{"path:torch.bfloat16", "path:torch.float16"}));
}

TEST(Constants, AGlobalRebindingInAFunctionMakesItUnknown) {
  ModelFixture f("import torch\nDTYPE = torch.bfloat16\n"
                 "def configure(d):\n    global DTYPE\n    DTYPE = torch.float16\n"
                 "def step():\n    return DTYPE\n");
  EXPECT_EQ(values(f, "DTYPE", 3), V{"?"});
}

TEST(Constants, AModuleRewrittenByExecHasNoConstants) {
  ModelFixture f("import torch\nDTYPE = torch.bfloat16\nexec(open('configurator.py').read())\n"
                 "def step():\n    return DTYPE\n");
  EXPECT_EQ(values(f, "DTYPE", 1), V{"?"});
}

TEST(Constants, UnknownSources) {
  ModelFixture f(
      "import torch\n"
      "def train(cfg, amp_dtype, use_bf16=True):\n"
      "    a = pick()\n    b = cfg.amp_dtype\n    for c in (1, 2):\n        pass\n    d = 'x'\n    d += 'y'\n"
      "    return a, b, c, d, amp_dtype, use_bf16\n");
  EXPECT_EQ(values(f, "a", 1), V{"?"}) << "a call's result";
  EXPECT_EQ(values(f, "b", 1), V{"?"}) << "an attribute of an object";
  EXPECT_EQ(values(f, "c", 1), V{"?"}) << "a loop target";
  EXPECT_EQ(values(f, "d", 2), V{"?"}) << "an augmented assignment";
  EXPECT_EQ(values(f, "amp_dtype", 2), V{"?"}) << "a parameter";
  EXPECT_EQ(values(f, "use_bf16", 1), V{"?"}) << "a parameter, even with a default";
  EXPECT_EQ(values(f, "use_bf16", 1, ConstantAssumption::ParameterDefaults), V{"bool:True"});
}

TEST(Constants, ConditionalExpressionGivesBothBranchesUnlessDecided) {
  ModelFixture f("import torch\n"
                 "def train(mixed_precision='bf16'):\n"
                 "    dtype = torch.bfloat16 if mixed_precision == 'bf16' else torch.float32\n"
                 "    return dtype\n");
  EXPECT_EQ(values(f, "dtype", 1), (V{"path:torch.bfloat16", "path:torch.float32"}));
  EXPECT_EQ(values(f, "dtype", 1, ConstantAssumption::ParameterDefaults), V{"path:torch.bfloat16"});
}

TEST(Constants, ComparisonsAndBooleans) {
  ModelFixture f("import torch\nP = 'bf16'\nD = torch.bfloat16\n"
                 "x1 = P != 'no'\nx2 = D == torch.float16\nx3 = not (P == 'bf16')\nx4 = P == 'bf16' and D\n"
                 "x5 = D == other\nx6 = 1 == 1.0\nx7 = P is None\n");
  EXPECT_EQ(f.model().constant_truth(f.node("P != 'no'")), true);
  EXPECT_EQ(f.model().constant_truth(f.node("D == torch.float16")), false);
  EXPECT_EQ(f.model().constant_truth(f.node("not (P == 'bf16')")), false);
  EXPECT_EQ(values(f, "P == 'bf16' and D"), V{"path:torch.bfloat16"});
  EXPECT_EQ(f.model().constant_truth(f.node("D == other")), std::nullopt);
  EXPECT_EQ(f.model().constant_truth(f.node("1 == 1.0")), std::nullopt) << "numbers are not parsed";
  EXPECT_EQ(f.model().constant_truth(f.node("P is None")), false);
}

TEST(Constants, StringConcatenation) {
  ModelFixture f("BASE = 'expandable_segments:True'\nCONF = BASE + ',max_split_size_mb:64'\n");
  EXPECT_EQ(values(f, "CONF", 0), V{"str:expandable_segments:True,max_split_size_mb:64"});
}

TEST(Constants, SelfAttributeSetOnlyInItsClass) {
  ModelFixture f("import torch\nclass Lit:\n"
                 "    def __init__(self):\n        self.amp_dtype = torch.bfloat16\n"
                 "    def step(self):\n        return self.amp_dtype\n");
  EXPECT_EQ(values(f, "self.amp_dtype", 1), V{"path:torch.bfloat16"});
}

TEST(Constants, SelfAttributeSetElsewhereIsUnknown) {
  ModelFixture f("import torch\nclass Lit:\n"
                 "    def __init__(self):\n        self.amp_dtype = torch.bfloat16\n"
                 "    def step(self):\n        return self.amp_dtype\n"
                 "lit = Lit()\nlit.amp_dtype = torch.float16\n");
  EXPECT_EQ(values(f, "self.amp_dtype", 1), V{"?"});
  ModelFixture g("import torch\nclass Lit:\n"
                 "    def __init__(self, dtype):\n        self.amp_dtype = dtype\n"
                 "    def step(self):\n        return self.amp_dtype\n");
  EXPECT_EQ(values(g, "self.amp_dtype", 1), V{"?"});
}

TEST(Constants, TupleUnpackingOfALiteral) {
  ModelFixture f("a, b = 'x:1', 2\nc, d = pair()\n");
  EXPECT_EQ(values(f, "a"), V{"str:x:1"});
  EXPECT_EQ(values(f, "b"), V{"num:2"});
  EXPECT_EQ(values(f, "c"), V{"?"});
}

TEST(Constants, ASelfReferenceIsUnknown) {
  ModelFixture f("x = 'a'\nx = x + 'b'\ny = x\n");
  EXPECT_EQ(values(f, "x", 3), V{"?"});
}

TEST(Constants, BranchesRuledOut) {
  ModelFixture f("import torch\nDTYPE = torch.bfloat16\n"
                 "if DTYPE == torch.float16:\n    a = 1\nelse:\n    b = 2\n"
                 "c = make() if DTYPE == torch.float16 else None\n"
                 "if flag:\n    d = 3\n");
  EXPECT_TRUE(f.model().ruled_out_by_constants(f.node("a = 1")));
  EXPECT_FALSE(f.model().ruled_out_by_constants(f.node("b = 2")));
  EXPECT_TRUE(f.model().ruled_out_by_constants(f.node("make()")));
  EXPECT_FALSE(f.model().ruled_out_by_constants(f.node("None", 0)));
  EXPECT_FALSE(f.model().ruled_out_by_constants(f.node("d = 3")));
}

} // namespace
