// Invariants over the whole rule catalog: what clang-tidy keeps in release-note checklists.
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "analyzer/output/rule_docs.hpp"
#include "rules/registry.hpp"

namespace fs = std::filesystem;

TEST(Registry, CodesAreUniqueSortedAndWellFormed) {
  const auto catalog = oomlint::rules::catalog();
  ASSERT_FALSE(catalog.empty());
  std::set<std::string_view> names;
  for (size_t i = 0; i < catalog.size(); ++i) {
    const auto* m = catalog[i];
    EXPECT_TRUE(std::regex_match(std::string(m->code), std::regex("OOM[0-9]{3}"))) << m->code;
    EXPECT_TRUE(std::regex_match(std::string(m->name), std::regex("[a-z0-9]+(-[a-z0-9]+)*"))) << m->name;
    EXPECT_TRUE(names.insert(m->name).second) << "duplicate name " << m->name;
    if (i > 0) {
      EXPECT_LT(catalog[i - 1]->code, m->code) << "rules.def must be sorted by code";
    }
  }
}

TEST(Registry, EveryRuleIsDocumented) {
  for (const auto* m : oomlint::rules::catalog()) {
    EXPECT_FALSE(m->summary.empty()) << m->code;
    EXPECT_FALSE(m->what.empty()) << m->code;
    EXPECT_FALSE(m->why.empty()) << m->code;
    EXPECT_FALSE(m->example.empty()) << m->code;
    EXPECT_FALSE(m->use_instead.empty()) << m->code;
    EXPECT_FALSE(m->fine_when.empty()) << m->code;
    EXPECT_FALSE(m->references.empty()) << m->code;
    if (m->fix != oomlint::FixAvailability::Never) {
      EXPECT_FALSE(m->fix_safety.empty()) << m->code << ": a rule that can fix says how safe the fix is";
    }
    for (const auto& o : m->options) {
      EXPECT_TRUE(std::regex_match(std::string(o.name), std::regex("[a-z0-9]+(-[a-z0-9]+)*"))) << o.name;
    }
  }
}

TEST(Registry, EveryRuleHasFixturesWithPositivesAndNegatives) {
  const fs::path fixtures = fs::path(OOMLINT_SOURCE_DIR) / "tests" / "fixtures";
  for (const auto* m : oomlint::rules::catalog()) {
    const fs::path dir = fixtures / std::string(m->code);
    ASSERT_TRUE(fs::is_directory(dir)) << "missing fixture folder " << dir;
    EXPECT_TRUE(fs::exists(dir / "negatives.py")) << m->code << " needs negatives.py";
    bool has_expectation = false;
    for (const auto& entry : fs::directory_iterator(dir)) {
      std::ifstream in(entry.path());
      std::stringstream ss;
      ss << in.rdbuf();
      has_expectation |= ss.str().find("# expect: " + std::string(m->code)) != std::string::npos;
    }
    EXPECT_TRUE(has_expectation) << m->code << " has no positive fixture";
  }
}

TEST(Registry, GeneratedDocsAreCurrent) {
  const fs::path docs = fs::path(OOMLINT_SOURCE_DIR) / "docs" / "rules";
  for (const auto* m : oomlint::rules::catalog()) {
    const fs::path page = docs / (std::string(m->code) + ".md");
    std::ifstream in(page);
    ASSERT_TRUE(in.good()) << page << " is missing: run scripts/generate-docs.sh";
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(ss.str(), oomlint::rule_markdown(*m)) << page << " is stale: run scripts/generate-docs.sh";
  }
}

TEST(Registry, FindByCodeOrName) {
  ASSERT_NE(oomlint::rules::find_rule("OOM101"), nullptr);
  EXPECT_EQ(oomlint::rules::find_rule("graph-retaining-accumulation"), oomlint::rules::find_rule("OOM101"));
  EXPECT_EQ(oomlint::rules::find_rule("OOM999"), nullptr);
}

// How each finding is verified is the rule's own declaration: the verifier's sources name no
// rule code, and a rule whose findings may come without a fix declares what to measure instead.
TEST(Registry, TheVerifierReadsRulesMetadataAndNamesNoRule) {
  const std::regex code("\"OOM[0-9]{3}\"");
  for (const char* file :
       {"verifier/verifier.cpp", "verifier/report.cpp", "verifier/nvml_sampler.cpp", "verifier/plan.cpp",
        "verifier/process.cpp", "verifier/samples.cpp", "verifier/verdict.cpp"}) {
    std::ifstream in(fs::path(OOMLINT_SOURCE_DIR) / file);
    ASSERT_TRUE(in.good()) << file;
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    EXPECT_FALSE(std::regex_search(text, code)) << file << " names a rule code";
  }
  int measured = 0;
  for (const auto* m : oomlint::rules::catalog()) {
    if (m->verify.measure == oomlint::VerifyMeasure::None) {
      continue;
    }
    ++measured;
    if (m->fix == oomlint::FixAvailability::Never && m->verify.measure != oomlint::VerifyMeasure::Peak) {
      EXPECT_NE(m->verify.transform, oomlint::VerifyTransform::None)
          << m->code << " has no fix: it must declare what its findings are measured against";
    }
  }
  EXPECT_GE(measured, 10);
}
