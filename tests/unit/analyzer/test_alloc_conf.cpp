// Where a program sets the CUDA caching allocator's configuration, with what, and whether CUDA
// had already started (and read it).
#include <string>

#include <gtest/gtest.h>

#include "tests/support/model_fixture.hpp"

using namespace oomlint;
using model::AllocConfTarget;
using oomlint::testing::ModelFixture;

namespace {

TEST(AllocConf, EnvironmentAssignmentAfterCudaStartedNamesTheCall) {
  ModelFixture f("import os\nimport torch\n\nmodel = Net().cuda()\n"
                 "os.environ[\"PYTORCH_CUDA_ALLOC_CONF\"] = \"max_split_size_mb:128,expandable_segments:True\"\n");
  const auto& settings = f.model().alloc_conf_settings();
  ASSERT_EQ(settings.size(), 1U);
  const model::AllocConfSetting& s = settings[0];
  EXPECT_EQ(s.target, AllocConfTarget::ProcessEnvironment);
  EXPECT_EQ(s.value_text, "\"max_split_size_mb:128,expandable_segments:True\"");
  ASSERT_EQ(s.options.size(), 2U);
  EXPECT_EQ(s.options[0].name, "max_split_size_mb");
  EXPECT_EQ(s.options[0].value, "128");
  EXPECT_EQ(s.options[1].name, "expandable_segments");
  EXPECT_EQ(s.options[1].value, "True");
  EXPECT_TRUE(s.has_option("expandable_segments"));
  EXPECT_FALSE(s.has_option("garbage_collection_threshold"));
  ASSERT_TRUE(s.cuda_started_by.has_value());
  EXPECT_EQ(s.cuda_started_by->call, f.call("Net().cuda()"));
  EXPECT_EQ(
      f.model().source().text().substr(s.cuda_started_by->start, s.cuda_started_by->end - s.cuda_started_by->start),
      "Net().cuda()");
}

TEST(AllocConf, SetBeforeCudaStartsHasNoCudaStart) {
  ModelFixture f("import os\nimport torch\n\n"
                 "os.environ.setdefault(\"PYTORCH_CUDA_ALLOC_CONF\", \"expandable_segments:True\")\n"
                 "if torch.cuda.is_available():\n    model = Net().cuda()\n");
  const auto& settings = f.model().alloc_conf_settings();
  ASSERT_EQ(settings.size(), 1U);
  EXPECT_EQ(settings[0].target, AllocConfTarget::ProcessEnvironment);
  EXPECT_EQ(settings[0].value_text, "\"expandable_segments:True\"");
  EXPECT_FALSE(settings[0].cuda_started_by.has_value());
}

TEST(AllocConf, ChildEnvironmentsAndRuntimeSettingsAreTold) {
  ModelFixture f("import torch\n\nmodel = Net().cuda()\n"
                 "env = {\"PYTORCH_CUDA_ALLOC_CONF\": \"garbage_collection_threshold:0.6,max_split_size_mb:512\"}\n"
                 "torch.cuda.memory._set_allocator_settings(\"max_split_size_mb:256\")\n");
  const auto& settings = f.model().alloc_conf_settings();
  ASSERT_EQ(settings.size(), 2U);
  EXPECT_EQ(settings[0].target, AllocConfTarget::ChildEnvironment);
  EXPECT_FALSE(settings[0].cuda_started_by.has_value()) << "a child process starts its own CUDA";
  ASSERT_EQ(settings[0].options.size(), 2U);
  EXPECT_EQ(settings[0].options[0].name, "garbage_collection_threshold");
  EXPECT_EQ(settings[0].options[0].value, "0.6");
  EXPECT_EQ(settings[1].target, AllocConfTarget::RuntimeSetting);
  EXPECT_EQ(settings[1].value_text, "\"max_split_size_mb:256\"");
}

TEST(AllocConf, EnvironmentUpdateTakesTheKeywordOrTheDictEntry) {
  ModelFixture f("import os\n\nos.environ.update(PYTORCH_CUDA_ALLOC_CONF=\"expandable_segments:True\")\n"
                 "os.environ.update({\"PYTORCH_CUDA_ALLOC_CONF\": f\"max_split_size_mb:{n}\"})\n"
                 "os.putenv(\"PYTORCH_ALLOC_CONF\", conf)\n");
  const auto& settings = f.model().alloc_conf_settings();
  ASSERT_EQ(settings.size(), 4U);
  EXPECT_EQ(settings[0].target, AllocConfTarget::ProcessEnvironment);
  EXPECT_EQ(settings[0].value_text, "\"expandable_segments:True\"");
  EXPECT_EQ(settings[1].target, AllocConfTarget::ProcessEnvironment);
  EXPECT_EQ(settings[1].value_text, "f\"max_split_size_mb:{n}\"");
  ASSERT_EQ(settings[1].options.size(), 1U);
  EXPECT_EQ(settings[1].options[0].value, "{n}");
  EXPECT_EQ(settings[2].target, AllocConfTarget::ChildEnvironment) << "the dict literal itself";
  EXPECT_EQ(settings[3].value_text, "conf");
  EXPECT_TRUE(settings[3].options.empty()) << "a name shows no options";
}

TEST(AllocConf, MentionsThatSetNothingAreNotSettings) {
  ModelFixture f("import os\n\nHELP = \"set PYTORCH_CUDA_ALLOC_CONF=max_split_size_mb:128\"\n"
                 "conf = os.environ.get(\"PYTORCH_CUDA_ALLOC_CONF\", \"\")\n"
                 "OTHER = {\"OMP_NUM_THREADS\": \"max_split_size_mb:1\"}\n");
  EXPECT_TRUE(f.model().alloc_conf_settings().empty());
}

} // namespace
