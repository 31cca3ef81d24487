#include <gtest/gtest.h>

#include "tests/support/model_fixture.hpp"

using oomlint::testing::ModelFixture;

namespace {

std::vector<std::string> carried_names(const ModelFixture& f) {
  std::vector<std::string> names;
  for (const auto& state : f.model().carried_states()) {
    names.push_back(f.model().bindings()[static_cast<size_t>(state.rebinding)].name);
  }
  return names;
}

} // namespace

TEST(CarriedState, HiddenStateFedBackIntoTheForwardIsCarried) {
  ModelFixture f("import torch.nn.functional as F\n"
                 "def train(model, loader, optimizer):\n"
                 "    hidden = model.init_hidden(32)\n"
                 "    for x, y in loader:\n"
                 "        output, hidden = model(x, hidden)\n"
                 "        loss = F.nll_loss(output, y)\n"
                 "        loss.backward()\n"
                 "        optimizer.step()\n");
  const auto found = f.model().carried_states();
  ASSERT_EQ(found.size(), 1U);
  const auto& last = f.model().bindings()[static_cast<size_t>(found[0].rebinding)];
  EXPECT_EQ(last.name, "hidden");
  EXPECT_EQ(ts_node_start_byte(last.target), ts_node_start_byte(f.node("hidden", 1)));
  // The previous step's value enters the pass as the forward's argument.
  EXPECT_EQ(found[0].read_start, ts_node_start_byte(f.node("hidden", 2)));
  EXPECT_EQ(found[0].read_end, ts_node_end_byte(f.node("hidden", 2)));
  EXPECT_FALSE(found[0].across_calls);
  EXPECT_FALSE(found[0].tuple_state);
}

TEST(CarriedState, StateDetachedAtTheTopOfThePassIsNotCarried) {
  ModelFixture f("import torch.nn.functional as F\n"
                 "def train(model, loader, optimizer, hidden):\n"
                 "    for x, y in loader:\n"
                 "        hidden = hidden.detach()\n"
                 "        output, hidden = model(x, hidden)\n"
                 "        loss = F.nll_loss(output, y)\n"
                 "        loss.backward()\n"
                 "        optimizer.step()\n");
  EXPECT_TRUE(carried_names(f).empty());
}

TEST(CarriedState, LstmStateDetachedInPlaceElementByElementIsNotCarried) {
  ModelFixture f("import torch.nn.functional as F\n"
                 "def train(lstm, loader, optimizer, hidden):\n"
                 "    for x, y in loader:\n"
                 "        hidden[0].detach_()\n"
                 "        hidden[1].detach_()\n"
                 "        output, hidden = lstm(x, hidden)\n"
                 "        loss = F.nll_loss(output, y)\n"
                 "        loss.backward()\n"
                 "        optimizer.step()\n");
  EXPECT_TRUE(carried_names(f).empty());
}

TEST(CarriedState, LstmStateIsATuple) {
  ModelFixture f("import torch.nn.functional as F\n"
                 "def train(lstm, loader, optimizer, hidden):\n"
                 "    for x, y in loader:\n"
                 "        output, hidden = lstm(x, hidden)\n"
                 "        loss = F.nll_loss(output, y)\n"
                 "        loss.backward()\n"
                 "        optimizer.step()\n");
  const auto found = f.model().carried_states();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_TRUE(found[0].tuple_state);
}

TEST(CarriedState, SelfStateOfAPerStepMethodIsCarriedAcrossCalls) {
  ModelFixture f("import torch.nn as nn\n"
                 "class Net(nn.Module):\n"
                 "    def __init__(self):\n"
                 "        super().__init__()\n"
                 "        self.rnn = nn.GRU(8, 8)\n"
                 "        self.state = None\n"
                 "    def forward(self, x):\n"
                 "        out, self.state = self.rnn(x, self.state)\n"
                 "        return out\n");
  const auto found = f.model().carried_states();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(f.model().bindings()[static_cast<size_t>(found[0].rebinding)].name, "self.state");
  EXPECT_TRUE(found[0].across_calls);
}

TEST(CarriedState, LoopWithoutBackwardCarriesNothing) {
  ModelFixture f("import torch\n"
                 "def generate(model, loader, hidden):\n"
                 "    for x in loader:\n"
                 "        output, hidden = model(x, hidden)\n");
  EXPECT_TRUE(carried_names(f).empty());
}

TEST(CarriedState, StateReassignedThroughANameBoundFromTheForward) {
  ModelFixture f("import torch\n"
                 "def train(model, loader, optimizer, hidden):\n"
                 "    for x, y in loader:\n"
                 "        out, new_hidden = model(x, hidden)\n"
                 "        criterion(out, y).backward()\n"
                 "        hidden = new_hidden\n"
                 "def train_detached(model, loader, optimizer, hidden):\n"
                 "    for x, y in loader:\n"
                 "        out, new_hidden = model(x, hidden)\n"
                 "        criterion(out, y).backward()\n"
                 "        hidden = new_hidden.detach()\n");
  EXPECT_EQ(carried_names(f), std::vector<std::string>{"hidden"});
}

TEST(CarriedState, SelfStateOfAMethodThatBackPropagatesEachCall) {
  ModelFixture f("class Trainer:\n"
                 "    def step(self, segment, labels):\n"
                 "        logits, memory = self.model(segment, self.memory)\n"
                 "        criterion(logits, labels).backward()\n"
                 "        self.memory = memory\n"
                 "    def generate(self, segment):\n"
                 "        logits, memory = self.model(segment, self.state)\n"
                 "        self.state = memory\n"
                 "        return logits\n");
  const auto found = f.model().carried_states();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(f.model().bindings()[static_cast<size_t>(found[0].rebinding)].name, "self.memory");
  EXPECT_TRUE(found[0].across_calls);
}
