#include <gtest/gtest.h>

#include "tests/support/model_fixture.hpp"

using oomlint::testing::ModelFixture;

TEST(GradMode, NoGradContextDisables) {
  ModelFixture f("import torch\nwith torch.no_grad():\n    a = model(x)\nb = model(y)\n");
  EXPECT_TRUE(f.model().grad_disabled_at(f.node("model(x)")));
  EXPECT_FALSE(f.model().grad_disabled_at(f.node("model(y)")));
}

TEST(GradMode, InferenceModeAndSetGradEnabledFalse) {
  ModelFixture f("import torch\n"
                 "with torch.inference_mode():\n    a = model(x)\n"
                 "with torch.set_grad_enabled(False):\n    b = model(y)\n"
                 "with torch.set_grad_enabled(phase == 'train'):\n    c = model(z)\n");
  EXPECT_TRUE(f.model().grad_disabled_at(f.node("model(x)")));
  EXPECT_TRUE(f.model().grad_disabled_at(f.node("model(y)")));
  EXPECT_FALSE(f.model().grad_disabled_at(f.node("model(z)")));
}

TEST(GradMode, EnableGradInsideNoGradEnables) {
  ModelFixture f("import torch\nwith torch.no_grad():\n    with torch.enable_grad():\n        a = model(x)\n");
  EXPECT_FALSE(f.model().grad_disabled_at(f.node("model(x)")));
}

TEST(GradMode, MultipleWithItems) {
  ModelFixture f("import torch\nwith torch.autocast('cuda'), torch.no_grad():\n    a = model(x)\n");
  EXPECT_TRUE(f.model().grad_disabled_at(f.node("model(x)")));
}

TEST(GradMode, DecoratedFunctions) {
  ModelFixture f("import torch\n"
                 "@torch.no_grad()\ndef a():\n    model(x)\n"
                 "@torch.inference_mode()\ndef b():\n    model(y)\n"
                 "@smart_inference_mode()\ndef c():\n    model(z)\n"
                 "def d():\n    model(w)\n");
  EXPECT_TRUE(f.model().grad_disabled_at(f.node("model(x)")));
  EXPECT_TRUE(f.model().grad_disabled_at(f.node("model(y)")));
  EXPECT_TRUE(f.model().grad_disabled_at(f.node("model(z)")));
  EXPECT_FALSE(f.model().grad_disabled_at(f.node("model(w)")));
}

TEST(GradMode, HelperOnlyCalledFromDisabledCallersIsDisabled) {
  ModelFixture f("import torch\n"
                 "def helper(b):\n    return model(b)\n"
                 "@torch.no_grad()\ndef evaluate(loader):\n    for b in loader:\n        helper(b)\n"
                 "def other(b):\n    return model(c)\n"
                 "with torch.no_grad():\n    other(1)\n"
                 "other(2)\n");
  EXPECT_TRUE(f.model().grad_disabled_at(f.node("model(b)")));
  EXPECT_FALSE(f.model().grad_disabled_at(f.node("model(c)"))); // one caller has grad on
}

TEST(GradMode, LightningEvalStepsAreDisabled) {
  ModelFixture f("class M(LightningModule):\n"
                 "    def validation_step(self, batch, i):\n        self.model(batch)\n"
                 "    def training_step(self, batch, i):\n        self.model(x)\n");
  EXPECT_TRUE(f.model().grad_disabled_at(f.node("self.model(batch)")));
  EXPECT_FALSE(f.model().grad_disabled_at(f.node("self.model(x)")));
}

TEST(GradMode, EvalStepsOfPlainModulesFollowTheirCallers) {
  ModelFixture f("import torch\n"
                 "class Plain(torch.nn.Module):\n"
                 "    def validation_step(self, batch):\n        self.net(batch)\n"
                 "    def test_step(self, batch):\n        self.net(x)\n"
                 "def run(m, loader):\n"
                 "    with torch.no_grad():\n        m.validation_step(loader)\n"
                 "    m.test_step(loader)\n");
  EXPECT_TRUE(f.model().grad_disabled_at(f.node("self.net(batch)"))); // its only call is under no_grad
  EXPECT_FALSE(f.model().grad_disabled_at(f.node("self.net(x)")));    // not a Lightning module
}

TEST(GradMode, BareSetGradEnabledStatement) {
  ModelFixture f("import torch\ndef f():\n    a = model(x)\n    torch.set_grad_enabled(False)\n    b = model(y)\n");
  EXPECT_FALSE(f.model().grad_disabled_at(f.node("model(x)")));
  EXPECT_TRUE(f.model().grad_disabled_at(f.node("model(y)")));
}
