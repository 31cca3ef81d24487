#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "analyzer/config/config.hpp"
#include "rules/registry.hpp"

namespace fs = std::filesystem;
using namespace oomlint;

namespace {

class ConfigTest : public ::testing::Test {
protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() /
            ("oomlint-config-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(m_dir / "sub" / "deeper");
  }
  void TearDown() override { fs::remove_all(m_dir); }
  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(m_dir / name) << text;
    return m_dir / name;
  }
  fs::path m_dir;
};

} // namespace

TEST_F(ConfigTest, ReadsToolOomlintFromPyproject) {
  const auto path =
      write("pyproject.toml",
            "[project]\nname = \"x\"\n\n[tool.oomlint]\nselect = [\"OOM1\"]\nignore = [\"OOM102\"]\n"
            "extra-loss-functions = [\"dice\"]\n[tool.oomlint.per-file-ignores]\n\"tests/*\" = [\"OOM101\"]\n"
            "[tool.oomlint.options.OOM301]\nallow-periodic = false\n");
  auto config = load_config(path, rules::catalog());
  ASSERT_TRUE(config.ok()) << config.error().describe();
  const auto codes = enabled_codes(*config, {}, rules::catalog());
  EXPECT_EQ(codes, (std::set<std::string>{"OOM101", "OOM103", "OOM104", "OOM105", "OOM106"}));
  EXPECT_EQ(config->model.extra_loss_functions, std::vector<std::string>{"dice"});
  EXPECT_EQ(ignored_for_file(*config, m_dir / "tests" / "test_a.py", rules::catalog()),
            std::set<std::string>{"OOM101"});
  EXPECT_TRUE(ignored_for_file(*config, m_dir / "src" / "a.py", rules::catalog()).empty());
  EXPECT_EQ(config->rule_options["OOM301"]["allow-periodic"], std::vector<std::string>{"false"});
}

TEST_F(ConfigTest, UnknownKeyNamesFileAndLine) {
  const auto path = write("oomlint.toml", "select = [\"OOM101\"]\n\nslect = [\"OOM102\"]\n");
  auto config = load_config(path, rules::catalog());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().line, 3);
  EXPECT_NE(config.error().message.find("slect"), std::string::npos);
  EXPECT_NE(config.error().describe().find("oomlint.toml:3:"), std::string::npos);
}

TEST_F(ConfigTest, UnknownCodeNamesFileAndLine) {
  const auto path = write(".oomlint.toml", "ignore = [\n  \"OOM101\",\n  \"OOM999\",\n]\n");
  auto config = load_config(path, rules::catalog());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().line, 3);
  EXPECT_NE(config.error().message.find("OOM999"), std::string::npos);
}

TEST_F(ConfigTest, UnknownRuleOption) {
  const auto path = write("oomlint.toml", "[options.OOM301]\nallow-everything = true\n");
  auto config = load_config(path, rules::catalog());
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("allow-everything"), std::string::npos);
}

TEST_F(ConfigTest, InvalidTomlIsAnErrorWithPosition) {
  const auto path = write("oomlint.toml", "select = [\"OOM101\"\n");
  auto config = load_config(path, rules::catalog());
  ASSERT_FALSE(config.ok());
  EXPECT_GT(config.error().line, 0);
}

TEST_F(ConfigTest, FindsNearestConfigUpwards) {
  write("pyproject.toml", "[tool.oomlint]\nignore = [\"OOM301\"]\n");
  write("sub/pyproject.toml", "[project]\nname = \"no oomlint table\"\n");
  const auto found = find_config_file(m_dir / "sub" / "deeper");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, m_dir / "pyproject.toml");
  write("sub/oomlint.toml", "ignore = []\n");
  EXPECT_EQ(*find_config_file(m_dir / "sub" / "deeper"), m_dir / "sub" / "oomlint.toml");
}

TEST(Selection, CommandLineOverridesAndOffByDefaultRules) {
  Config config;
  config.ignore = {"OOM301"};
  SelectionFlags flags;
  auto codes = enabled_codes(config, flags, rules::catalog());
  EXPECT_EQ(codes.count("OOM301"), 0U);
  EXPECT_EQ(codes.count("OOM101"), 1U);
  flags.select = std::vector<std::string>{"OOM4"};
  codes = enabled_codes(config, flags, rules::catalog());
  EXPECT_EQ(codes, (std::set<std::string>{"OOM401", "OOM402"}));
  EXPECT_TRUE(is_known_selector("ALL", rules::catalog()));
  EXPECT_FALSE(is_known_selector("OOM9", rules::catalog()));
}

TEST(Glob, MatchesComponentsAndPaths) {
  EXPECT_TRUE(glob_matches("build", "a/build/x.py"));
  EXPECT_TRUE(glob_matches("*.egg-info", "pkg.egg-info"));
  EXPECT_TRUE(glob_matches("tests/*", "tests/test_a.py"));
  EXPECT_TRUE(glob_matches("legacy/**", "legacy/a/b.py"));
  EXPECT_FALSE(glob_matches("tests/*", "src/tests.py"));
}
