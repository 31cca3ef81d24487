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

// A few PPO epochs over one batch's trajectory, or a loop over time steps, inside a pass over the
// loader: each pass is still one step. A loop over the loader inside it makes it a phase.
TEST(Loops, LoaderPassWithInnerLoopsNotOverDataIsAStep) {
  ModelFixture f("for batch in dataloader:\n    a = 1\n    for _ in range(ppo_epochs):\n        b = 2\n"
                 "for shard in shards:\n    c = 3\n    for batch in loader:\n        d = 4\n");
  EXPECT_TRUE(loop_of(f, "a = 1").is_step);
  EXPECT_FALSE(loop_of(f, "c = 3").is_step);
  EXPECT_TRUE(loop_of(f, "d = 4").is_step);
}

// `for mb in range(0, mini_batch_size, micro_batch_size):` running backward: gradient accumulation,
// so the loop around it takes one optimizer step per pass.
TEST(Loops, LoopAroundMicroBatchesThatBackpropIsAStep) {
  ModelFixture f("for start in range(0, n, mini_batch_size):\n    a = 1\n"
                 "    for mb in range(0, mini_batch_size, micro_batch_size):\n"
                 "        loss = model(x[mb]).mean()\n        loss.backward()\n");
  EXPECT_TRUE(loop_of(f, "a = 1").is_step);
}

// `for update in range(num_updates): data = next(it)`: the pass draws its own batch, so loops
// inside it that only cut that batch into chunks or run a few epochs over it keep it one step.
TEST(Loops, PassThatDrawsItsBatchIsAStep) {
  ModelFixture f(
      "train_iter = iter(loader)\nfor update in range(num_updates):\n    data = next(train_iter)\n    a = 1\n"
      "    for i in range(0, data.shape[0], chunk):\n        b = 2\n"
      "    for e in range(ppo_epochs):\n        c = 3\n");
  EXPECT_TRUE(loop_of(f, "a = 1").is_step);
  EXPECT_FALSE(loop_of(f, "c = 3").is_step);
}

// Without the draw, the loop around a walk over the dataset is a phase.
TEST(Loops, PassAroundAWalkOverTheDataIsAPhase) {
  ModelFixture f("for rnd in range(num_updates):\n    a = 1\n"
                 "    for i in range(0, len(dataset), bs):\n        b = 2\n");
  EXPECT_FALSE(loop_of(f, "a = 1").is_step);
  EXPECT_TRUE(loop_of(f, "b = 2").is_step);
}

TEST(Loops, RangeOverTheLengthOfADatasetIsAStep) {
  ModelFixture f("for idx in range(rank, len(val_dataset), world_size):\n    a = 1\n"
                 "for idx in range(rank, len(boxes), world_size):\n    b = 2\n");
  EXPECT_TRUE(loop_of(f, "a = 1").is_step);
  EXPECT_FALSE(loop_of(f, "b = 2").is_step);
}
