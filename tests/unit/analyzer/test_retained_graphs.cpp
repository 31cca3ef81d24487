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
