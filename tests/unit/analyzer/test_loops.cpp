#include <gtest/gtest.h>

#include "tests/support/model_fixture.hpp"

using oomlint::model::kNone;
using oomlint::testing::ModelFixture;

namespace {

const oomlint::model::Loop& loop_of(const ModelFixture& f, const std::string& inner_text) {
  const TSNode n = f.node(inner_text);
  const auto scope = f.model().scope_at(ts_node_start_byte(n));
  const auto id = f.model().loop_at(ts_node_start_byte(n), scope);
  if (id == kNone) {
    throw std::runtime_error("not in a loop: " + inner_text);
  }
  return f.model().loop(id);
}

} // namespace

TEST(Loops, LoaderLoopIsAStepLoop) {
  ModelFixture f("for i, (x, y) in enumerate(train_loader):\n    a = 1\n");
  EXPECT_TRUE(loop_of(f, "a = 1").is_step);
}

TEST(Loops, EpochLoopIsAPhaseLoop) {
  ModelFixture f("for epoch in range(num_epochs):\n    train_one_epoch(model, loader)\n    b = 2\n"
                 "    for batch in loader:\n        a = 1\n");
  EXPECT_TRUE(loop_of(f, "a = 1").is_step);
  EXPECT_FALSE(loop_of(f, "b = 2").is_step);
  EXPECT_TRUE(loop_of(f, "b = 2").is_phase);
}

TEST(Loops, WhileStepCounterIsAStepLoop) {
  ModelFixture f("while global_step < max_steps:\n    a = 1\n");
  EXPECT_TRUE(loop_of(f, "a = 1").is_step);
}

TEST(Loops, BodyWithBackwardIsAStepLoop) {
  ModelFixture f("for chunk in chunks:\n    loss = criterion(model(chunk), y)\n    loss.backward()\n");
  EXPECT_TRUE(loop_of(f, "loss.backward()").is_step);
  EXPECT_TRUE(loop_of(f, "loss.backward()").backprops);
}

TEST(Loops, ParameterLoopIsNotAStepLoop) {
  ModelFixture f("for name, p in model.named_parameters():\n    a = 1\nfor k, v in batch.items():\n    b = 2\n");
  EXPECT_FALSE(loop_of(f, "a = 1").is_step);
  EXPECT_FALSE(loop_of(f, "b = 2").is_step);
}

TEST(Loops, LoopsInsideAFunctionKnowTheirNesting) {
  ModelFixture f("def train():\n    for epoch in range(3):\n        for x in loader:\n            a = 1\n");
  const auto& inner = loop_of(f, "a = 1");
  ASSERT_NE(inner.parent, kNone);
  EXPECT_TRUE(f.model().loop(inner.parent).is_phase);
}
