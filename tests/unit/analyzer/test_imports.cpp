#include <gtest/gtest.h>

#include "analyzer/model/project.hpp"
#include "tests/support/model_fixture.hpp"

using oomlint::testing::ModelFixture;

TEST(Imports, ResolvesModuleAlias) {
  ModelFixture f("import torch as th\nth.cuda.empty_cache()\n");
  ASSERT_NE(f.call("th.cuda.empty_cache()"), nullptr);
  EXPECT_EQ(f.call("th.cuda.empty_cache()")->qualified, "torch.cuda.empty_cache");
}

TEST(Imports, ResolvesFromImportOfSubmodule) {
  ModelFixture f("from torch import cuda\ncuda.empty_cache()\n");
  EXPECT_EQ(f.call("cuda.empty_cache()")->qualified, "torch.cuda.empty_cache");
}

TEST(Imports, ResolvesImportedFunction) {
  ModelFixture f("from torch.cuda import empty_cache\nempty_cache()\n");
  EXPECT_EQ(f.call("empty_cache()")->qualified, "torch.cuda.empty_cache");
}

TEST(Imports, ResolvesAliasedFunction) {
  ModelFixture f("from torch.utils.checkpoint import checkpoint as ckpt\nckpt(block, x)\n");
  EXPECT_EQ(f.call("ckpt(block, x)")->qualified, "torch.utils.checkpoint.checkpoint");
}

TEST(Imports, DottedImportBindsTheTopLevelName) {
  ModelFixture f("import torch.utils.checkpoint\ntorch.utils.checkpoint.checkpoint(f, x)\n");
  EXPECT_EQ(f.call("torch.utils.checkpoint.checkpoint(f, x)")->qualified, "torch.utils.checkpoint.checkpoint");
}

TEST(Imports, LocalFunctionShadowsNothingImported) {
  ModelFixture f("def checkpoint(model, path):\n    pass\ncheckpoint(model, 'x.pt')\n");
  EXPECT_EQ(f.call("checkpoint(model, 'x.pt')")->qualified, "");
}

TEST(Imports, LocalRebindingHidesTheImport) {
  ModelFixture f("import torch\ndef run(torch):\n    torch.load(p)\n");
  EXPECT_EQ(f.call("torch.load(p)")->qualified, "");
}

TEST(Imports, UnimportedTorchInSnippetsStillResolves) {
  ModelFixture f("state = torch.load(path)\n");
  EXPECT_EQ(f.call("torch.load(path)")->qualified, "torch.load");
}

TEST(Imports, ImportAliasIsReported) {
  ModelFixture f("import torch as th\n");
  ASSERT_TRUE(f.model().import_alias("torch").has_value());
  EXPECT_EQ(*f.model().import_alias("torch"), "th");
  EXPECT_FALSE(f.model().import_alias("numpy").has_value());
}

TEST(ProjectModules, RelativeImportsBecomeAbsolute) {
  oomlint::model::ProjectContext ctx;
  ctx.module = "pkg.sub.train";
  EXPECT_EQ(oomlint::model::absolute_import(".losses.f", ctx), "pkg.sub.losses.f");
  EXPECT_EQ(oomlint::model::absolute_import("..utils.g", ctx), "pkg.utils.g");
  EXPECT_EQ(oomlint::model::absolute_import("torch.load", ctx), "torch.load");
  ctx.module = "pkg.sub";
  ctx.is_package = true; // pkg/sub/__init__.py
  EXPECT_EQ(oomlint::model::absolute_import(".losses.f", ctx), "pkg.sub.losses.f");
}
