#include <gtest/gtest.h>

#include "tests/support/model_fixture.hpp"

using oomlint::testing::ModelFixture;

TEST(Autocast, OnlyBfloat16WhenEveryAutocastNamesIt) {
  EXPECT_TRUE(ModelFixture("import torch\n"
                           "with torch.autocast('cuda', dtype=torch.bfloat16):\n    y = model(x)\n"
                           "with torch.cuda.amp.autocast(dtype=torch.bfloat16):\n    z = model(x)\n")
                  .model()
                  .autocasts_only_to_bfloat16());
  EXPECT_FALSE(ModelFixture("import torch\n"
                            "with torch.autocast('cuda', dtype=torch.bfloat16):\n    y = model(x)\n"
                            "with torch.autocast('cuda'):\n    z = model(x)\n")
                   .model()
                   .autocasts_only_to_bfloat16());
  EXPECT_FALSE(ModelFixture("import torch\n"
                            "with torch.autocast('cuda', dtype=amp_dtype):\n    y = model(x)\n")
                   .model()
                   .autocasts_only_to_bfloat16());
  EXPECT_FALSE(ModelFixture("import torch\ny = model(x)\n").model().autocasts_only_to_bfloat16());
}

TEST(Autocast, ThroughImportAliases) {
  ModelFixture f("import torch as th\n"
                 "from torch import autocast\n"
                 "with autocast('cuda', dtype=th.bfloat16):\n    y = model(x)\n");
  EXPECT_TRUE(f.model().autocasts_only_to_bfloat16());
}
