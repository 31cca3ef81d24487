#include <gtest/gtest.h>

#include "tests/support/model_fixture.hpp"

using oomlint::model::StepStateStore;
using oomlint::testing::ModelFixture;

namespace {

std::vector<std::string> stored_names(const ModelFixture& f) {
  std::vector<std::string> out;
  for (const StepStateStore& store : f.model().per_step_state_stores()) {
    out.push_back(f.model().bindings()[static_cast<size_t>(store.binding)].name);
  }
  return out;
}

StepStateStore store_of(const ModelFixture& f, std::string_view name) {
  for (const StepStateStore& store : f.model().per_step_state_stores()) {
    if (f.model().bindings()[static_cast<size_t>(store.binding)].name == name) {
      return store;
    }
  }
  throw std::runtime_error("no per-step store of " + std::string(name));
}

} // namespace

TEST(StepState, SelfAttributesAndGlobalsInPerStepCode) {
  ModelFixture f("import torch\n"
                 "last = None\n"
                 "class Net(nn.Module):\n"
                 "    def __init__(self):\n"
                 "        self.cache = None\n"
                 "    def forward(self, x):\n"
                 "        global last\n"
                 "        h = self.encoder(x)\n"
                 "        self.hidden = h\n"
                 "        self.stats.mean = h\n"
                 "        last = h\n"
                 "        local = h\n"
                 "        with torch.no_grad():\n"
                 "            self.frozen = h\n"
                 "        return h\n");
  EXPECT_EQ(stored_names(f), (std::vector<std::string>{"self.hidden", "last"}));
  const StepStateStore hidden = store_of(f, "self.hidden");
  EXPECT_TRUE(hidden.on_self);
  EXPECT_EQ(hidden.attribute, "hidden");
  const StepStateStore last = store_of(f, "last");
  EXPECT_FALSE(last.on_self);
  EXPECT_EQ(last.attribute, "last");
}

TEST(StepState, AttributeReadByBackpropagatingCode) {
  ModelFixture f("class Aux(nn.Module):\n"
                 "    def forward(self, x):\n"
                 "        self.loss = criterion(x, x)\n"
                 "        self.extra = criterion(x, x)\n"
                 "        return x\n"
                 "def train(model, aux, loader, opt):\n"
                 "    for x in loader:\n"
                 "        out = aux(model(x))\n"
                 "        total = criterion(out, x) + aux.loss\n"
                 "        total.backward()\n"
                 "        opt.step()\n");
  EXPECT_TRUE(f.model().read_by_backprop_code(store_of(f, "self.loss")));
  EXPECT_FALSE(f.model().read_by_backprop_code(store_of(f, "self.extra")));
}

TEST(StepState, ReadBeforeAssignmentIsCarried) {
  ModelFixture f("class Rnn(nn.Module):\n"
                 "    def forward(self, x):\n"
                 "        out, self.state = self.rnn(x, self.state)\n"
                 "        self.last = self.head(out)\n"
                 "        return out\n");
  const auto& m = f.model();
  const auto& bindings = m.bindings();
  const auto& state = bindings[static_cast<size_t>(store_of(f, "self.state").binding)];
  const auto& last = bindings[static_cast<size_t>(store_of(f, "self.last").binding)];
  EXPECT_FALSE(m.read_before_assignment(state)); // read in the same statement, not before it
  EXPECT_FALSE(m.read_before_assignment(last));
}

TEST(StepState, ReadInAnEarlierStatementIsCarried) {
  ModelFixture f("class Rnn(nn.Module):\n"
                 "    def forward(self, x):\n"
                 "        h = self.cell(x, self.state)\n"
                 "        self.state = h\n"
                 "        return h\n");
  const auto& m = f.model();
  const auto& state = m.bindings()[static_cast<size_t>(store_of(f, "self.state").binding)];
  EXPECT_TRUE(m.read_before_assignment(state));
}

TEST(StepState, ConstantKeysNameOneSlot) {
  ModelFixture f("import torch\n"
                 "LATEST = {}\n"
                 "KEY = 'loss'\n"
                 "class Trainer:\n"
                 "    def training_step(self, batch, i):\n"
                 "        loss = self.model(batch).mean()\n"
                 "        self.logs['loss'] = loss\n"
                 "        self.logs[KEY] = loss\n"
                 "        self.logs[i] = loss\n"
                 "        LATEST['loss'] = loss\n"
                 "        self.seen.append(loss)\n"
                 "        return loss\n");
  const auto& m = f.model();
  std::vector<bool> slots;
  for (const auto& st : m.stores()) {
    slots.push_back(m.replaces_one_slot(st));
  }
  EXPECT_EQ(slots, (std::vector<bool>{true, true, false, true, false}));
  std::vector<std::string_view> kept;
  for (const StepStateStore& s : m.per_step_slot_stores()) {
    kept.push_back(s.attribute);
    EXPECT_EQ(s.binding, oomlint::model::kNone);
  }
  EXPECT_EQ(kept, (std::vector<std::string_view>{"logs", "logs", "LATEST"}));
}

TEST(StepState, SlotReadAsANumberIsNotUsedByTheBackward) {
  ModelFixture f("class Trainer:\n"
                 "    def compute_loss(self, batch):\n"
                 "        loss = self.model(batch).mean()\n"
                 "        self.logs['loss'] = loss\n"
                 "        self.aux['reg'] = loss * 0.1\n"
                 "        return loss\n"
                 "    def fit(self, loader):\n"
                 "        for batch in loader:\n"
                 "            loss = self.compute_loss(batch) + self.aux['reg']\n"
                 "            loss.backward()\n"
                 "            print(self.logs['loss'].item())\n");
  const auto slots = f.model().per_step_slot_stores();
  ASSERT_EQ(slots.size(), 2U);
  EXPECT_FALSE(f.model().read_by_backprop_code(slots[0])); // `logs` is read only through `.item()`
  EXPECT_TRUE(f.model().read_by_backprop_code(slots[1]));  // `aux` is summed into the loss
}
