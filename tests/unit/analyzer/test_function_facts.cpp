#include <gtest/gtest.h>

#include "tests/support/model_fixture.hpp"

using oomlint::model::ScopeKind;
using oomlint::testing::ModelFixture;

namespace {

const oomlint::model::FunctionFacts& facts(const ModelFixture& f, const std::string& name) {
  for (const auto& s : f.model().scopes()) {
    if (s.kind == ScopeKind::Function && s.name == name) {
      return s.facts;
    }
  }
  throw std::runtime_error("no function " + name);
}

} // namespace

TEST(FunctionFacts, BackpropagationFlowsToCallers) {
  ModelFixture f("def step(batch):\n    loss = criterion(model(batch), y)\n    loss.backward()\n"
                 "def train(loader):\n    for b in loader:\n        step(b)\n"
                 "def log(x):\n    print(x)\n");
  EXPECT_TRUE(facts(f, "step").backprops);
  EXPECT_TRUE(facts(f, "train").backprops);
  EXPECT_FALSE(facts(f, "log").backprops);
}

TEST(FunctionFacts, PerStepMethods) {
  ModelFixture f("class M:\n    def forward(self, x): pass\n    def training_step(self, b, i): pass\n"
                 "    def on_train_batch_end(self, *a): pass\n    def configure_optimizers(self): pass\n"
                 "def train_step(b): pass\n");
  EXPECT_TRUE(facts(f, "forward").per_step_method);
  EXPECT_TRUE(facts(f, "training_step").per_step_method);
  EXPECT_TRUE(facts(f, "on_train_batch_end").per_step_method);
  EXPECT_TRUE(facts(f, "train_step").per_step_method);
  EXPECT_FALSE(facts(f, "configure_optimizers").per_step_method);
}

TEST(FunctionFacts, NeedsGradSignals) {
  ModelFixture f("import torch\n"
                 "def attack(x):\n    x.requires_grad_(True)\n"
                 "def cam(x):\n    g = torch.autograd.grad(out, x)\n"
                 "def plain(x):\n    return model(x)\n");
  EXPECT_TRUE(facts(f, "attack").needs_grad);
  EXPECT_TRUE(facts(f, "cam").needs_grad);
  EXPECT_FALSE(facts(f, "plain").needs_grad);
}

TEST(FunctionFacts, OptimizerSteps) {
  ModelFixture f("def fit():\n    optimizer.step()\ndef sched():\n    scheduler.step()\n");
  EXPECT_TRUE(facts(f, "fit").steps_optimizer);
  EXPECT_FALSE(facts(f, "sched").steps_optimizer);
}

TEST(Accumulations, OnlyTargetsThatOutliveTheIteration) {
  ModelFixture f("total = 0\n"
                 "for x in loader:\n"
                 "    total += criterion(model(x), y)\n"
                 "    step_loss = 0\n"
                 "    step_loss += criterion(model(x), y)\n");
  ASSERT_EQ(f.model().accumulations().size(), 1U);
  EXPECT_EQ(f.model().accumulations()[0].target_key, "total");
}

TEST(Stores, SelfContainersInStepMethodsOutliveTheStep) {
  ModelFixture f("class M:\n    def training_step(self, batch, i):\n        self.outputs.append(batch)\n"
                 "        local = []\n        local.append(batch)\n");
  ASSERT_EQ(f.model().stores().size(), 1U);
  EXPECT_EQ(f.model().stores()[0].container_key, "self.outputs");
}

TEST(EvalRegions, AfterModelEvalUntilTrain) {
  ModelFixture f(
      "model.eval()\nfor x in loader:\n    out = model(x)\nmodel.train()\nfor x in loader:\n    out2 = model(x)\n");
  ASSERT_EQ(f.model().eval_regions().size(), 1U);
  const auto& r = f.model().eval_regions()[0];
  ASSERT_EQ(r.forward_calls.size(), 1U);
  EXPECT_EQ(ts_node_start_byte(f.model().calls()[r.forward_calls[0]].node), ts_node_start_byte(f.node("model(x)")));
}

TEST(EvalRegions, TrainingAfterEvalIsNotEvaluation) {
  ModelFixture f("model.eval()\nfor x in loader:\n    loss = criterion(model(x), y)\n    loss.backward()\n");
  EXPECT_TRUE(f.model().eval_regions().empty());
}

// A method whose result the caller back-propagates computes the step's loss: per step, whatever
// its name. One that only logs, or whose result is printed, is not.
TEST(FunctionFacts, MethodsWhoseResultIsBackpropagatedArePerStep) {
  ModelFixture f("class Trainer:\n"
                 "    def shared(self, batch):\n"
                 "        return self.model(batch).mean()\n"
                 "    def report(self, batch):\n"
                 "        return self.model(batch).mean()\n"
                 "    def fit(self, loader):\n"
                 "        for batch in loader:\n"
                 "            loss = self.shared(batch)\n"
                 "            total = loss * 2\n"
                 "            total.backward()\n"
                 "            print(self.report(batch))\n");
  EXPECT_TRUE(facts(f, "shared").per_step_method);
  EXPECT_FALSE(facts(f, "report").per_step_method);
  EXPECT_FALSE(facts(f, "fit").per_step_method);
}
