#include <gtest/gtest.h>

#include "tests/support/model_fixture.hpp"

using oomlint::testing::ModelFixture;

TEST(RetainedGraphs, StepLoopBackwardWithNothingAfterIt) {
  ModelFixture f("for x, y in loader:\n"
                 "    loss = criterion(model(x), y)\n"
                 "    loss.backward(retain_graph=True)\n"
                 "    optimizer.step()\n");
  const auto found = f.model().retained_graph_backwards();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].call, f.call("loss.backward(retain_graph=True)"));
  EXPECT_EQ(ts_node_start_byte(found[0].flag), ts_node_start_byte(f.node("retain_graph=True")));
  EXPECT_EQ(ts_node_end_byte(found[0].flag), ts_node_end_byte(f.node("retain_graph=True")));
  EXPECT_TRUE(found[0].repeats_every_step);
  EXPECT_EQ(found[0].later_backward, nullptr);
  EXPECT_TRUE(found[0].graph_built_each_pass);
}

TEST(RetainedGraphs, SecondBackwardInTheSameIterationIsFound) {
  ModelFixture f("for x, y in loader:\n"
                 "    d_loss = criterion(disc(x), y)\n"
                 "    d_loss.backward(retain_graph=True)\n"
                 "    g_loss = criterion(gen(x), y)\n"
                 "    g_loss.backward()\n"
                 "    optimizer.step()\n");
  const auto found = f.model().retained_graph_backwards();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].later_backward, f.call("g_loss.backward()"));
}

TEST(RetainedGraphs, GraphBuiltBeforeTheLoopIsNotBuiltEachPass) {
  ModelFixture f("loss = criterion(model(x), y)\n"
                 "for step in range(num_steps):\n"
                 "    loss.backward(retain_graph=True)\n"
                 "    optimizer.step()\n");
  const auto found = f.model().retained_graph_backwards();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_FALSE(found[0].graph_built_each_pass);
}

TEST(RetainedGraphs, InnerLoopOverHeadsDoesNotRepeatEveryStep) {
  ModelFixture f("for x, y in loader:\n"
                 "    out = model(x)\n"
                 "    for head in heads:\n"
                 "        loss = criterion(head(out), y)\n"
                 "        loss.backward(retain_graph=True)\n"
                 "    optimizer.step()\n");
  const auto found = f.model().retained_graph_backwards();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_FALSE(found[0].repeats_every_step);
}

TEST(RetainedGraphs, ComputedOrFalseFlagsAreNotListed) {
  ModelFixture f("for i, (x, y) in enumerate(loader):\n"
                 "    loss = criterion(model(x), y)\n"
                 "    loss.backward(retain_graph=i < n - 1)\n"
                 "    loss.backward(retain_graph=False)\n"
                 "    loss.backward()\n");
  EXPECT_TRUE(f.model().retained_graph_backwards().empty());
}

TEST(RetainedGraphs, FlagThroughANameThatIsAlwaysTrue) {
  ModelFixture f("RETAIN = True\n"
                 "def train(model, loader, keep=True):\n"
                 "    for x, y in loader:\n"
                 "        loss = criterion(model(x), y)\n"
                 "        loss.backward(retain_graph=RETAIN)\n"
                 "        loss.backward(retain_graph=keep)\n");
  const auto found = f.model().retained_graph_backwards();
  ASSERT_EQ(found.size(), 2U);
  ASSERT_TRUE(found[0].flag_origin.has_value()); // the `True` of `RETAIN = True`
  EXPECT_EQ(f.model().text(*found[0].flag_origin), "True");
  EXPECT_EQ(f.model().statement_row(*found[0].flag_origin), 0U);
  ASSERT_TRUE(found[1].flag_origin.has_value());
  EXPECT_EQ(f.model().text(*found[1].flag_origin), "True");
  EXPECT_EQ(ts_node_start_byte(*found[1].flag_origin), ts_node_start_byte(f.node("keep=True")) + 5);
  // What the notes point at: the loop's header and the back-propagated tensor.
  EXPECT_TRUE(found[0].repeats_in_loop);
  EXPECT_EQ(f.model().source().text().substr(found[0].repeat_start, found[0].repeat_end - found[0].repeat_start),
            "for x, y in loader");
  ASSERT_TRUE(found[0].tensor.has_value());
  EXPECT_EQ(f.model().text(*found[0].tensor), "loss");
}

TEST(RetainedGraphs, NamesThatMayNotBeTrueAreNotListed) {
  ModelFixture f("RETAIN = True\n"
                 "OFF = False\n"
                 "def reset():\n"
                 "    global RETAIN\n"
                 "    RETAIN = False\n"
                 "def train(model, loader, keep=True, other=True, plain=None):\n"
                 "    other = other and len(loader) > 1\n"
                 "    for x, y in loader:\n"
                 "        loss = criterion(model(x), y)\n"
                 "        loss.backward(retain_graph=RETAIN)\n"
                 "        loss.backward(retain_graph=OFF)\n"
                 "        loss.backward(retain_graph=keep)\n"
                 "        loss.backward(retain_graph=other)\n"
                 "        loss.backward(retain_graph=plain)\n"
                 "train(model, loader, False)\n");
  EXPECT_TRUE(f.model().retained_graph_backwards().empty());
}

TEST(RetainedGraphs, PerStepMethodIsWhatRepeats) {
  ModelFixture f("class Lit:\n"
                 "    def training_step(self, batch, i):\n"
                 "        loss = self.compute(batch)\n"
                 "        loss.backward(retain_graph=True)\n");
  const auto found = f.model().retained_graph_backwards();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_FALSE(found[0].repeats_in_loop);
  EXPECT_EQ(f.model().source().text().substr(found[0].repeat_start, found[0].repeat_end - found[0].repeat_start),
            "training_step");
  EXPECT_FALSE(found[0].flag_origin.has_value());
}
