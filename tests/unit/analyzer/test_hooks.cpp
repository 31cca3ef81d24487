#include <gtest/gtest.h>

#include "tests/support/model_fixture.hpp"

using oomlint::testing::ModelFixture;

TEST(Hooks, LambdaAppendingOutputToAGlobalListRetainsIt) {
  ModelFixture f("features = []\n"
                 "model.layer4.register_forward_hook(lambda m, i, o: features.append(o))\n");
  const auto found = f.model().hook_retentions();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].registration_method, "register_forward_hook");
  EXPECT_EQ(found[0].stored_kind, "activation");
  EXPECT_EQ(found[0].parameter, "o");
  EXPECT_EQ(found[0].container, "features");
  EXPECT_FALSE(found[0].detached);
  EXPECT_EQ(ts_node_start_byte(found[0].statement), ts_node_start_byte(f.node("features.append(o)")));
  EXPECT_EQ(ts_node_start_byte(found[0].hook), ts_node_start_byte(f.node("lambda m, i, o: features.append(o)")));
  EXPECT_EQ(found[0].registration, f.call("model.layer4.register_forward_hook(lambda m, i, o: features.append(o))"));
}

TEST(Hooks, MethodHookStoringADetachedGradientOnSelf) {
  ModelFixture f("class Probe:\n"
                 "    def attach(self, layer):\n"
                 "        layer.register_full_backward_hook(self.save)\n"
                 "    def save(self, module, grad_input, grad_output):\n"
                 "        self.grads.append(grad_output[0].detach())\n");
  const auto found = f.model().hook_retentions();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].stored_kind, "gradient");
  EXPECT_EQ(found[0].parameter, "grad_output");
  EXPECT_EQ(found[0].container, "self.grads");
  EXPECT_TRUE(found[0].detached);
}

TEST(Hooks, HookFromAFactoryThroughPartialSkipsTheBoundParameters) {
  ModelFixture f("import functools\n"
                 "acts = []\n"
                 "def save(name, module, inp, out):\n"
                 "    acts.append(name)\n"
                 "    acts.append(out)\n"
                 "layer.register_forward_hook(functools.partial(save, 'fc'))\n");
  const auto found = f.model().hook_retentions();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].parameter, "out");
  EXPECT_EQ(ts_node_start_byte(found[0].statement), ts_node_start_byte(f.node("acts.append(out)")));
}

TEST(Hooks, ReducedMovedOrLocallyCollectedTensorsAreNotRetained) {
  ModelFixture f("stats = []\n"
                 "def hook(m, i, o):\n"
                 "    stats.append(o.mean().item())\n"
                 "    stats.append(o.detach().cpu())\n"
                 "    stats.append(o.to('cpu'))\n"
                 "    local = []\n"
                 "    local.append(o)\n"
                 "layer.register_forward_hook(hook)\n");
  EXPECT_TRUE(f.model().hook_retentions().empty());
}

TEST(Hooks, ListOfOneForwardWhoseHookIsRemovedIsNotRetained) {
  ModelFixture f("def features_of(model, x):\n"
                 "    outs = []\n"
                 "    handle = model.fc.register_forward_hook(lambda m, i, o: outs.append(o))\n"
                 "    model(x)\n"
                 "    handle.remove()\n"
                 "    return outs\n");
  EXPECT_TRUE(f.model().hook_retentions().empty());
}

TEST(Hooks, AHookRegisteredOnManyModulesIsListedOnce) {
  ModelFixture f("acts = []\n"
                 "def hook(m, i, o):\n"
                 "    acts.append(o)\n"
                 "for layer in model.layers:\n"
                 "    layer.register_forward_hook(hook)\n"
                 "model.head.register_forward_hook(hook)\n");
  EXPECT_EQ(f.model().hook_retentions().size(), 1U);
}

TEST(Hooks, HookObjectsRunTheirClassesCall) {
  ModelFixture f("class Probe:\n"
                 "    def __init__(self):\n"
                 "        self.maps = []\n"
                 "    def __call__(self, module, args, output):\n"
                 "        self.maps.append(output[1])\n"
                 "class Cpu:\n"
                 "    def __call__(self, module, args, output):\n"
                 "        self.maps.append(output.detach().cpu())\n"
                 "def attach(model):\n"
                 "    probe = Probe()\n"
                 "    for block in model.blocks:\n"
                 "        block.attn.register_forward_hook(probe)\n"
                 "    model.head.register_forward_hook(Probe())\n"
                 "    model.head.register_forward_hook(Cpu())\n");
  const auto found = f.model().hook_retentions();
  ASSERT_EQ(found.size(), 1U); // one `__call__`, listed at its first registration
  EXPECT_EQ(found[0].parameter, "output");
  EXPECT_EQ(found[0].container, "self.maps");
  EXPECT_EQ(ts_node_start_byte(found[0].statement), ts_node_start_byte(f.node("self.maps.append(output[1])")));
  EXPECT_EQ(found[0].registration, f.call("block.attn.register_forward_hook(probe)"));
}
