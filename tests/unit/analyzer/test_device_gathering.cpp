#include <gtest/gtest.h>

#include "tests/support/model_fixture.hpp"

using oomlint::testing::ModelFixture;

namespace {

const oomlint::model::Store& store_in(const ModelFixture& f, std::string_view container) {
  for (const auto& st : f.model().stores()) {
    if (f.model().text(st.container) == container) {
      return st;
    }
  }
  throw std::runtime_error("no store into " + std::string(container));
}

} // namespace

TEST(DeviceGathering, HostConversionsAnywhereAlongTheChainLeaveTheDevice) {
  ModelFixture f("a = logits.argmax(dim=1).cpu()\n"
                 "b = logits.cpu().argmax(dim=1)[0]\n"
                 "c = float(logits.sum())\n"
                 "d = logits.to('cpu', non_blocking=True)\n"
                 "e = logits.argmax(dim=1).tolist()\n"
                 "g = logits.argmax(dim=1)\n"
                 "h = logits.to(device)\n"
                 "i = helper(logits.cpu())\n");
  const auto& m = f.model();
  EXPECT_TRUE(m.leaves_device(f.node("logits.argmax(dim=1).cpu()")));
  EXPECT_TRUE(m.leaves_device(f.node("logits.cpu().argmax(dim=1)[0]")));
  EXPECT_TRUE(m.leaves_device(f.node("float(logits.sum())")));
  EXPECT_TRUE(m.leaves_device(f.node("logits.to('cpu', non_blocking=True)")));
  EXPECT_TRUE(m.leaves_device(f.node("logits.argmax(dim=1).tolist()")));
  EXPECT_FALSE(m.leaves_device(f.node("logits.argmax(dim=1)", 2)));
  EXPECT_FALSE(m.leaves_device(f.node("logits.to(device)")));
  EXPECT_FALSE(m.leaves_device(f.node("helper(logits.cpu())"))); // what `helper` returns is not known
}

TEST(DeviceGathering, ChainOriginIsTheValueTheMethodsStartFrom) {
  ModelFixture f("x = model(inp).logits.argmax(dim=-1)[0].float()\n"
                 "y = (out).softmax(1)\n");
  const auto& m = f.model();
  EXPECT_EQ(m.text(m.method_chain_origin(f.node("model(inp).logits.argmax(dim=-1)[0].float()"))), "model(inp).logits");
  EXPECT_EQ(m.text(m.method_chain_origin(f.node("(out).softmax(1)"))), "out");
}

TEST(DeviceGathering, StoreUnderALengthTestIsBounded) {
  ModelFixture f("import torch\n"
                 "with torch.no_grad():\n"
                 "    for x in loader:\n"
                 "        out = model(x)\n"
                 "        if len(samples) < 8:\n"
                 "            samples.append(out)\n"
                 "        preds.append(out)\n"
                 "        if i < 8:\n"
                 "            others.append(out)\n");
  const auto& m = f.model();
  EXPECT_TRUE(m.bounded_by_length(store_in(f, "samples")));
  EXPECT_FALSE(m.bounded_by_length(store_in(f, "preds")));
  EXPECT_FALSE(m.bounded_by_length(store_in(f, "others")));
}

TEST(DeviceGathering, CollectionLiterals) {
  ModelFixture f("a = (x, y)\nb = [x]\nc = {'k': x}\nd = x\ne = f(x)\n");
  const auto& m = f.model();
  EXPECT_TRUE(m.is_collection_literal(f.node("(x, y)")));
  EXPECT_TRUE(m.is_collection_literal(f.node("[x]")));
  EXPECT_TRUE(m.is_collection_literal(f.node("{'k': x}")));
  EXPECT_FALSE(m.is_collection_literal(f.node("f(x)")));
}

TEST(DeviceGathering, GeneratedIdsAreAModelsOutput) {
  ModelFixture f("@torch.no_grad()\n"
                 "def gen(lm, enc, maker):\n"
                 "    ids = lm.generate(**enc)\n"
                 "    anchors = maker.generate(3)\n");
  EXPECT_EQ(f.model().value_of(f.node("lm.generate(**enc)")).kind, oomlint::model::Kind::ModelOutput);
  EXPECT_NE(f.model().value_of(f.node("maker.generate(3)")).kind, oomlint::model::Kind::ModelOutput);
  EXPECT_FALSE(f.carries("lm.generate(**enc)"));
}

TEST(DeviceGathering, IteratingAModelsOutputGivesItsElements) {
  ModelFixture f("@torch.no_grad()\n"
                 "def run(model, images):\n"
                 "    for det in model(images):\n"
                 "        x = det\n");
  EXPECT_EQ(f.model().value_of(f.node("det", 1)).kind, oomlint::model::Kind::ModelOutput);
}
