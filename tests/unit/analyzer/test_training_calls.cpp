#include <gtest/gtest.h>

#include "tests/support/model_fixture.hpp"

using oomlint::testing::ModelFixture;

TEST(TrainingCalls, TrainingMethodsByName) {
  ModelFixture f("def evaluate(model, loader):\n"
                 "    for x in loader:\n"
                 "        model(x)\n"
                 "def tune(trainer, model):\n"
                 "    trainer.fit(model)\n"
                 "    model(x)\n");
  const auto& m = f.model();
  EXPECT_FALSE(m.calls_training_methods(m.scope_at(static_cast<std::uint32_t>(m.source().text().find("for x")))));
  EXPECT_TRUE(m.calls_training_methods(m.scope_at(static_cast<std::uint32_t>(m.source().text().find("trainer.fit")))));
}
