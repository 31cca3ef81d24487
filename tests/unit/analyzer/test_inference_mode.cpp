#include <gtest/gtest.h>

#include "tests/support/model_fixture.hpp"

using oomlint::model::InferenceModeBlocker;
using oomlint::model::NoGradRegion;
using oomlint::testing::ModelFixture;

namespace {

NoGradRegion only_region(const std::vector<NoGradRegion>& regions) {
  if (regions.size() != 1) {
    throw std::runtime_error("expected one no_grad region, got " + std::to_string(regions.size()));
  }
  return regions.front();
}

} // namespace

TEST(InferenceMode, PlainEvaluationBlockCouldBeInferenceMode) {
  ModelFixture f("import torch\n"
                 "def evaluate(model, x):\n"
                 "    with torch.no_grad():\n"
                 "        return model(x)\n");
  const NoGradRegion r = only_region(f.model().no_grad_regions());
  EXPECT_EQ(r.blocker, InferenceModeBlocker::None);
  EXPECT_FALSE(r.decorator);
  EXPECT_EQ(f.model().text(r.site), "torch.no_grad()");
  ASSERT_TRUE(r.rename.has_value());
  EXPECT_EQ(f.model().text(*r.rename), "no_grad");
  EXPECT_EQ(f.model().scope(r.function).name, "evaluate");
}

TEST(InferenceMode, InPlaceParameterUpdateBlocks) {
  ModelFixture f("import torch\n"
                 "def ema(model, shadow):\n"
                 "    with torch.no_grad():\n"
                 "        for p, s in zip(model.parameters(), shadow):\n"
                 "            s.mul_(0.99)\n");
  EXPECT_EQ(only_region(f.model().no_grad_regions()).blocker, InferenceModeBlocker::TouchesAutogradState);
}

TEST(InferenceMode, WritesIntoSelfOrSubscriptBlock) {
  ModelFixture f("import torch\n"
                 "with torch.no_grad():\n"
                 "    buf[0] = x\n"
                 "with torch.no_grad():\n"
                 "    y = model(x)\n");
  const auto regions = f.model().no_grad_regions();
  ASSERT_EQ(regions.size(), 2U);
  EXPECT_EQ(regions[0].blocker, InferenceModeBlocker::TouchesAutogradState);
  EXPECT_EQ(regions[1].blocker, InferenceModeBlocker::None);
  EXPECT_EQ(regions[1].function, oomlint::model::kNone);
}

TEST(InferenceMode, FunctionThatBackPropagatesBlocks) {
  ModelFixture f("import torch\n"
                 "def step(model, x):\n"
                 "    with torch.no_grad():\n"
                 "        target = model(x)\n"
                 "    loss = criterion(model(x), target)\n"
                 "    loss.backward()\n");
  EXPECT_EQ(only_region(f.model().no_grad_regions()).blocker, InferenceModeBlocker::FunctionNeedsAutograd);
}

TEST(InferenceMode, DecoratorIsFoundAtTheWholeExpressionWithOrWithoutParentheses) {
  ModelFixture f("import torch\n"
                 "@torch.no_grad()\n"
                 "def a(model, x):\n"
                 "    return model(x)\n"
                 "@torch.no_grad\n"
                 "def b(model, x):\n"
                 "    return model(x)\n"
                 "@torch.no_grad()\n"
                 "def c(model, x):\n"
                 "    model.weight.fill_(0)\n");
  const auto regions = f.model().no_grad_regions();
  ASSERT_EQ(regions.size(), 3U);
  EXPECT_TRUE(regions[0].decorator);
  EXPECT_EQ(f.model().text(regions[0].site), "torch.no_grad()");
  EXPECT_EQ(f.model().scope(regions[0].function).name, "a");
  EXPECT_EQ(regions[0].blocker, InferenceModeBlocker::None);
  ASSERT_TRUE(regions[0].rename.has_value());
  EXPECT_EQ(f.model().text(*regions[0].rename), "no_grad");
  EXPECT_TRUE(regions[1].decorator);
  EXPECT_EQ(f.model().text(regions[1].site), "torch.no_grad");
  EXPECT_EQ(f.model().scope(regions[1].function).name, "b");
  EXPECT_EQ(regions[1].blocker, InferenceModeBlocker::None);
  ASSERT_TRUE(regions[1].rename.has_value());
  EXPECT_EQ(f.model().text(*regions[1].rename), "no_grad");
  EXPECT_EQ(f.model().scope(regions[2].function).name, "c");
  EXPECT_EQ(regions[2].blocker, InferenceModeBlocker::TouchesAutogradState);
}

TEST(InferenceMode, RestoringTrainModeAfterTheBlockIsEvaluation) {
  ModelFixture f("import torch\n"
                 "def validate(model, loader):\n"
                 "    model.eval()\n"
                 "    with torch.no_grad():\n"
                 "        n = sum((model(x).argmax(-1) == y).sum().item() for x, y in loader)\n"
                 "    model.train()\n"
                 "    return n\n"
                 "def pseudo_labels(model, data, fit):\n"
                 "    model.eval()\n"
                 "    with torch.no_grad():\n"
                 "        labels = [model(u) for u in data]\n"
                 "    model.train()\n"
                 "    fit(model, data, labels)\n"
                 "def warm(model, data):\n"
                 "    model.train()\n"
                 "    with torch.no_grad():\n"
                 "        return [model(u) for u in data]\n");
  const auto regions = f.model().no_grad_regions();
  ASSERT_EQ(regions.size(), 3U);
  EXPECT_EQ(regions[0].blocker, InferenceModeBlocker::None);
  EXPECT_TRUE(regions[0].restores_train_mode);
  EXPECT_EQ(f.model().text(regions[0].function_name), "validate");
  // Training follows the `.train()`, on what the block made.
  EXPECT_EQ(regions[1].blocker, InferenceModeBlocker::FunctionNeedsAutograd);
  // `.train()` before the block.
  EXPECT_EQ(regions[2].blocker, InferenceModeBlocker::FunctionNeedsAutograd);
}

TEST(InferenceMode, CallSitesInTheFileAreKnownForTheNotes) {
  ModelFixture f("import torch\n"
                 "@torch.no_grad()\n"
                 "def evaluate(model, x, y):\n"
                 "    return (model(x).argmax(-1) == y).float().mean().item()\n"
                 "def report(model, x, y):\n"
                 "    print(evaluate(model, x, y))\n");
  const NoGradRegion r = only_region(f.model().no_grad_regions());
  EXPECT_EQ(r.blocker, InferenceModeBlocker::None);
  EXPECT_TRUE(r.returns_values);
  ASSERT_EQ(r.call_sites.size(), 1U);
  EXPECT_EQ(r.call_sites[0], f.call("evaluate(model, x, y)"));
}

TEST(InferenceMode, BareImportedNoGradHasNothingToRename) {
  ModelFixture f("from torch import no_grad\n"
                 "with no_grad():\n"
                 "    y = model(x)\n");
  const NoGradRegion r = only_region(f.model().no_grad_regions());
  EXPECT_FALSE(r.rename.has_value());
  EXPECT_EQ(r.blocker, InferenceModeBlocker::None);
}

TEST(InferenceMode, OnlyNoGradAsTheWithsOwnContextManager) {
  ModelFixture f("import torch\n"
                 "ctx = torch.no_grad()\n"
                 "with torch.inference_mode():\n"
                 "    y = model(x)\n"
                 "with torch.autocast('cuda'), torch.no_grad():\n"
                 "    z = model(x)\n");
  const NoGradRegion r = only_region(f.model().no_grad_regions());
  EXPECT_EQ(f.model().text(r.site), "torch.no_grad()");
  EXPECT_EQ(f.model().statement_row(r.site), 4U);
}

TEST(InferenceMode, ModuleLevelTrainingScriptBlocks) {
  ModelFixture f("import torch\n"
                 "for x, y in loader:\n"
                 "    with torch.no_grad():\n"
                 "        target = target_net(y)\n"
                 "    loss = criterion(net(x), target)\n"
                 "    loss.backward()\n");
  EXPECT_EQ(only_region(f.model().no_grad_regions()).blocker, InferenceModeBlocker::FunctionNeedsAutograd);
}

TEST(InferenceMode, HelperWhoseCallerTrainsBlocks) {
  ModelFixture f("import torch\n"
                 "def embed(enc, ids):\n"
                 "    with torch.no_grad():\n"
                 "        return enc(ids)\n"
                 "def main(unet, enc, batch, opt):\n"
                 "    loss = unet(batch, embed(enc, batch)).mean()\n"
                 "    loss.backward()\n"
                 "    opt.step()\n");
  EXPECT_EQ(only_region(f.model().no_grad_regions()).blocker, InferenceModeBlocker::ResultsReachTraining);
}

TEST(InferenceMode, PerStepMethodsAndForwardsBlockButEvaluationStepsDoNot) {
  ModelFixture f("import torch\n"
                 "class T:\n"
                 "    def compute_loss(self, model, x):\n"
                 "        with torch.no_grad():\n"
                 "            t = self.teacher(x)\n"
                 "        return (model(x) - t).pow(2).mean()\n"
                 "    def prediction_step(self, model, x):\n"
                 "        with torch.no_grad():\n"
                 "            return model(x)\n"
                 "class M(torch.nn.Module):\n"
                 "    @torch.no_grad()\n"
                 "    def forward(self, x):\n"
                 "        return x.argmax(-1)\n");
  const auto regions = f.model().no_grad_regions();
  ASSERT_EQ(regions.size(), 3U);
  EXPECT_EQ(regions[0].blocker, InferenceModeBlocker::ResultsReachTraining);
  EXPECT_EQ(regions[1].blocker, InferenceModeBlocker::None);
  // `prediction` says evaluation, but its results go to a trainer this file does not show, which
  // may change them in place.
  EXPECT_TRUE(regions[1].results_leave_unseen);
  EXPECT_EQ(regions[2].blocker, InferenceModeBlocker::ResultsReachTraining);
}

TEST(InferenceMode, EnableGradOptimizerStepAndInPlaceAttributesBlock) {
  ModelFixture f("import torch\n"
                 "class A(torch.optim.Optimizer):\n"
                 "    @torch.no_grad()\n"
                 "    def step(self, closure=None):\n"
                 "        return None\n"
                 "@torch.no_grad()\n"
                 "def g(closure):\n"
                 "    with torch.enable_grad():\n"
                 "        closure()\n"
                 "@torch.no_grad()\n"
                 "def fuse(conv, w):\n"
                 "    conv.weight += w\n"
                 "@torch.no_grad()\n"
                 "def swap(net, m):\n"
                 "    setattr(net, 'head', m)\n");
  const auto regions = f.model().no_grad_regions();
  ASSERT_EQ(regions.size(), 4U);
  EXPECT_EQ(regions[0].blocker, InferenceModeBlocker::FunctionNeedsAutograd);
  EXPECT_EQ(regions[1].blocker, InferenceModeBlocker::FunctionNeedsAutograd);
  EXPECT_EQ(regions[2].blocker, InferenceModeBlocker::TouchesAutogradState);
  EXPECT_EQ(regions[3].blocker, InferenceModeBlocker::TouchesAutogradState);
}

TEST(InferenceMode, ResultsForUnseenCallersAreMarked) {
  ModelFixture f("import torch\n"
                 "def embeddings(enc, ids):\n"
                 "    with torch.no_grad():\n"
                 "        e = enc(ids)\n"
                 "    return e\n"
                 "def evaluate(model, x):\n"
                 "    with torch.no_grad():\n"
                 "        return model(x)\n"
                 "def show(model, x):\n"
                 "    with torch.no_grad():\n"
                 "        print(model(x))\n"
                 "def predict(model, x):\n"
                 "    with torch.no_grad():\n"
                 "        return model(x)\n"
                 "def main(model, x):\n"
                 "    print(evaluate(model, x))\n");
  const auto regions = f.model().no_grad_regions();
  ASSERT_EQ(regions.size(), 4U);
  for (const NoGradRegion& r : regions) {
    EXPECT_EQ(r.blocker, InferenceModeBlocker::None);
  }
  EXPECT_TRUE(regions[0].results_leave_unseen);
  EXPECT_FALSE(regions[1].results_leave_unseen); // evaluation by name, and its caller is in sight
  EXPECT_FALSE(regions[2].results_leave_unseen);
  EXPECT_TRUE(regions[3].results_leave_unseen); // evaluation by name, but nobody here calls it
}

TEST(InferenceMode, NoGradFirstBesideAnotherContextManager) {
  ModelFixture f("import torch\n"
                 "def evaluate(model, x):\n"
                 "    with torch.no_grad(), torch.autocast('cuda', dtype=torch.bfloat16):\n"
                 "        return model(x)\n");
  const NoGradRegion r = only_region(f.model().no_grad_regions());
  EXPECT_EQ(f.model().text(r.site), "torch.no_grad()");
  EXPECT_EQ(r.blocker, InferenceModeBlocker::None);
  EXPECT_EQ(f.model().text(r.body), "return model(x)");
}
