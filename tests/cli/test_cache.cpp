// The cache of earlier runs (`.oomlint_cache`): a warm run finds exactly what a cold one does,
// a change in one module re-lints the modules that import it, a corrupt entry is ignored and
// rewritten, two runs at once are safe, and `--no-cache`, `--cache-dir` and `oomlint clean` do
// what they say.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_harness.hpp"

namespace fs = std::filesystem;
using oomlint::test::kLeaky;
using oomlint::test::Result;
using oomlint::test::run;

namespace {

class Cache : public oomlint::test::Cli {
protected:
  // `file:row:code` for every finding of a JSON run.
  static std::set<std::string> found(const Result& r) {
    std::set<std::string> out;
    for (const auto& f : nlohmann::json::parse(r.out)) {
      out.insert(f["filename"].get<std::string>() + ":" + std::to_string(f["location"]["row"].get<int>()) + ":" +
                 f["code"].get<std::string>());
    }
    return out;
  }
  Result check(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"check", "--isolated", "--output-format", "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.emplace_back(".");
    return run(args, m_dir);
  }
  [[nodiscard]] std::vector<fs::path> entries() const {
    std::vector<fs::path> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(m_dir / ".oomlint_cache", ec);
         !ec && it != fs::recursive_directory_iterator(); ++it) {
      if (it->path().extension() == ".json") {
        out.push_back(it->path());
      }
    }
    return out;
  }
  // A helper in one module whose result decides a finding in another.
  void write_project(bool helper_keeps_graph) {
    write("pkg/__init__.py", "");
    write("pkg/losses.py", std::string("import torch.nn.functional as F\n\n\ndef compute_loss(model, batch):\n"
                                       "    x, y = batch\n    return F.cross_entropy(model(x), y)") +
                               (helper_keeps_graph ? "" : ".item()") + "\n");
    write("pkg/train.py", "from .losses import compute_loss\n\n\n"
                          "def validate(model, loader):\n    total = 0.0\n    for batch in loader:\n"
                          "        total += compute_loss(model, batch)\n    return total\n");
    write("leaky.py", kLeaky);
  }
};

} // namespace

TEST_F(Cache, WarmRunFindsWhatTheColdRunFound) {
  write_project(true);
  const Result uncached = check({"--no-cache"});
  EXPECT_FALSE(fs::exists(m_dir / ".oomlint_cache")) << "--no-cache writes nothing";
  const Result cold = check();
  EXPECT_EQ(cold.out, uncached.out);
  EXPECT_EQ(entries().size(), 4U) << "one entry per file";
  EXPECT_TRUE(fs::exists(m_dir / ".oomlint_cache" / ".gitignore")) << "the cache is never committed";
  const Result warm = check();
  EXPECT_EQ(warm.out, cold.out);
  EXPECT_TRUE(found(warm).count("pkg/train.py:7:OOM101")) << warm.out;
  EXPECT_TRUE(found(warm).count("leaky.py:8:OOM101")) << warm.out;
}

TEST_F(Cache, AChangeInOneModuleReLintsItsImporters) {
  write_project(true);
  EXPECT_TRUE(found(check()).count("pkg/train.py:7:OOM101"));
  write_project(false); // only losses.py changes: its helper now returns a number
  const Result after = check();
  EXPECT_FALSE(found(after).count("pkg/train.py:7:OOM101")) << "train.py must be re-linted: " << after.out;
  write_project(true);
  EXPECT_TRUE(found(check()).count("pkg/train.py:7:OOM101")) << "and again when the helper changes back";
}

TEST_F(Cache, EditedFilesAndOtherSettingsAreNotServedOldResults) {
  write_project(true);
  check();
  write("leaky.py", "x = 1\n");
  const Result edited = check();
  EXPECT_FALSE(found(edited).count("leaky.py:8:OOM101")) << edited.out;
  const Result selected = check({"--select", "OOM401"});
  EXPECT_EQ(nlohmann::json::parse(selected.out).size(), 0U) << "other rules, other results: " << selected.out;
  EXPECT_TRUE(found(check()).count("pkg/train.py:7:OOM101"));
}

TEST_F(Cache, CorruptEntriesAreIgnoredAndRewritten) {
  write_project(true);
  const Result cold = check();
  const std::vector<fs::path> written = entries();
  ASSERT_FALSE(written.empty());
  for (size_t i = 0; i < written.size(); ++i) {
    std::ofstream(written[i], std::ios::trunc) << (i % 2 == 0 ? "{\"path\": " : "not json at all \x01\xff");
  }
  const Result again = check();
  EXPECT_EQ(again.out, cold.out);
  for (const fs::path& p : written) {
    std::ifstream in(p);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    EXPECT_TRUE(nlohmann::json::accept(text)) << p << " was rewritten";
  }
}

TEST_F(Cache, TwoRunsAtOnceAreSafe) {
  for (int i = 0; i < 200; ++i) {
    write("m" + std::to_string(i) + ".py", i % 2 == 0 ? kLeaky : "x = 1\n");
  }
  const Result reference = check({"--no-cache"});
  auto a = std::async(std::launch::async, [&] { return check(); });
  auto b = std::async(std::launch::async, [&] { return check(); });
  EXPECT_EQ(a.get().out, reference.out);
  EXPECT_EQ(b.get().out, reference.out);
  EXPECT_EQ(check().out, reference.out);
  for (const auto& entry : fs::recursive_directory_iterator(m_dir / ".oomlint_cache")) {
    const std::string name = entry.path().filename().string();
    EXPECT_TRUE(entry.is_directory() || name == ".gitignore" || name.ends_with(".json"))
        << "no temporary file left: " << entry.path();
  }
}

TEST_F(Cache, CacheDirAndClean) {
  write_project(true);
  const fs::path elsewhere = m_dir / "elsewhere";
  check({"--cache-dir", elsewhere.string()});
  EXPECT_TRUE(fs::is_directory(elsewhere));
  EXPECT_FALSE(fs::exists(m_dir / ".oomlint_cache"));
  check();
  ASSERT_TRUE(fs::exists(m_dir / ".oomlint_cache"));
  const Result cleaned = run({"clean"}, m_dir);
  EXPECT_EQ(cleaned.exit_code, 0) << cleaned.err;
  EXPECT_FALSE(fs::exists(m_dir / ".oomlint_cache"));
  EXPECT_EQ(run({"clean", "--cache-dir", elsewhere.string()}, m_dir).exit_code, 0);
  EXPECT_FALSE(fs::exists(elsewhere));
}
