// `oomlint explain` end to end: the real binary reading logs from files and stdin.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_harness.hpp"

namespace {

using oomlint::test::Result;
using oomlint::test::run;
namespace fs = std::filesystem;

class Explain : public oomlint::test::Cli {};

const std::string kGenuinelyFull =
    "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.53 GiB. GPU 0 has a total capacty of "
    "23.65 GiB of which 1.01 GiB is free. Including non-PyTorch memory, this process has 22.63 GiB memory in use. Of "
    "the allocated memory 17.49 GiB is allocated by PyTorch, and 4.84 GiB is reserved by PyTorch but unallocated. If "
    "reserved but unallocated memory is large try setting max_split_size_mb to avoid fragmentation.  See "
    "documentation for Memory Management and PYTORCH_CUDA_ALLOC_CONF\n";

TEST_F(Explain, ReadsALogAndExitsOneOnAnOom) {
  write("train.log", "epoch 1 loss 0.3\n" + kGenuinelyFull);
  const Result r = run({"explain", "train.log"}, m_dir);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("diagnosis: genuinely-full"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Lower the batch size"), std::string::npos) << r.out;
}

TEST_F(Explain, JsonHasEveryFigureAndNullsForTheRest) {
  const Result r = run({"explain", "--output-format", "json", "-"}, m_dir, kGenuinelyFull);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["diagnosis"], "genuinely-full");
  EXPECT_EQ(doc["oom_count"], 1);
  ASSERT_EQ(doc["messages"].size(), 1U);
  const auto& m = doc["messages"][0];
  EXPECT_EQ(m["format"], "D");
  EXPECT_EQ(m["gpu"], 0);
  EXPECT_EQ(m["requested_bytes"], 1642824991ULL);
  EXPECT_EQ(m["total_bytes"], 25393994138ULL);
  EXPECT_EQ(m["free_bytes"], 1084479242ULL);
  EXPECT_EQ(m["allocated_bytes"], 18779744502ULL);
  EXPECT_EQ(m["reserved_unallocated_bytes"], 5196910428ULL);
  EXPECT_EQ(m["reserved_bytes"], 18779744502ULL + 5196910428ULL);
  EXPECT_EQ(m["process_in_use_bytes"], 24298777477ULL);
  EXPECT_TRUE(m["allowed_bytes"].is_null());
  EXPECT_TRUE(m["other_processes"].empty());
  EXPECT_TRUE(doc["summaries"].is_array());
  EXPECT_FALSE(doc["fixes"].empty());
  EXPECT_TRUE(doc["findings"].is_array());
}

TEST_F(Explain, WithoutAnOomExitsZero) {
  write("clean.log", "epoch 1\nIf you see CUDA out of memory, lower the batch size\n");
  const Result r = run({"explain", "clean.log", "--output-format", "json"}, m_dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["diagnosis"], "no-oom");
  EXPECT_EQ(doc["oom_count"], 0);
}

TEST_F(Explain, NamesAMissingLogAndExitsTwo) {
  const Result r = run({"explain", "nope.log"}, m_dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("nope.log"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("terminate"), std::string::npos) << r.err;
  const Result folder = run({"explain", "."}, m_dir);
  EXPECT_EQ(folder.exit_code, 2);
  EXPECT_NE(folder.err.find("is a folder"), std::string::npos) << folder.err;
}

// The traceback names project files: they are linted, and the finding nearest the failing
// frame comes first. The paths are another machine's; their tails exist here.
TEST_F(Explain, LintsTheFilesOfTheTraceback) {
  write("proj/train.py", "import torch\n\n\ndef train(model, loader, optimizer, criterion):\n    total = 0\n"
                         "    for x, y in loader:\n        loss = criterion(model(x), y)\n        loss.backward()\n"
                         "        optimizer.step()\n        total += loss\n    return total\n\n\n"
                         "def load(path):\n    return torch.load(path)\n");
  const std::string log =
      "Traceback (most recent call last):\n"
      "  File \"/cluster/home/me/proj/train.py\", line 7, in train\n"
      "    loss = criterion(model(x), y)\n"
      "  File \"/usr/lib/python3/dist-packages/torch/nn/modules/module.py\", line 1501, in _call_impl\n"
      "    return forward_call(*args, **kwargs)\n" +
      kGenuinelyFull;
  write("run.log", log);
  const Result r = run({"explain", "--output-format", "json", "run.log"}, m_dir);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  ASSERT_GE(doc["findings"].size(), 1U) << r.out;
  EXPECT_EQ(doc["findings"][0]["code"], "OOM101");
  EXPECT_EQ(doc["findings"][0]["location"]["row"], 10);
  EXPECT_EQ(doc["findings"][0]["frame_line"], 7);
  const Result text = run({"explain", "run.log"}, m_dir);
  EXPECT_NE(text.out.find("proj/train.py:10:9: OOM101"), std::string::npos) << text.out;
  const Result quiet = run({"explain", "--no-lint", "--output-format", "json", "run.log"}, m_dir);
  EXPECT_TRUE(nlohmann::json::parse(quiet.out)["findings"].empty());
}

// Logs written by someone else, with every figure, the count and the diagnosis they expect
// (tests/explain/README.md): each must be read exactly.
TEST_F(Explain, HandWrittenLogsReadExactly) {
  const fs::path dir = fs::path(OOMLINT_SOURCE_DIR) / "tests" / "explain";
  std::ifstream in(dir / "expected.json");
  const auto expected = nlohmann::json::parse(in);
  ASSERT_GE(expected.size(), 40U);
  for (const auto& [name, want] : expected.items()) {
    const Result r =
        run({"explain", "--no-lint", "--output-format", "json", (dir / "logs" / (name + ".log")).string()}, m_dir);
    ASSERT_EQ(r.exit_code, want["oom_count"].get<int>() > 0 ? 1 : 0) << name << r.err;
    const auto got = nlohmann::json::parse(r.out);
    EXPECT_EQ(got["oom_count"], want["oom_count"]) << name;
    EXPECT_EQ(got["diagnosis"], want["diagnosis"]) << name;
    ASSERT_EQ(got["messages"].size(), want["messages"].size()) << name;
    for (std::size_t i = 0; i < want["messages"].size(); ++i) {
      for (const auto& [field, value] : want["messages"][i].items()) {
        nlohmann::json actual = got["messages"][i][field];
        if (field == "other_processes") {
          for (auto& p : actual) {
            p = nlohmann::json{{"pid", p["pid"]}, {"bytes", p["bytes"]}};
          }
        }
        EXPECT_EQ(actual, value) << name << " message " << i << " " << field;
      }
    }
  }
}

// Errors PyTorch 2.11 really raised on an H100 (bench/explain/make_real_ooms.py), with what the
// allocator's counters said at the failure: each read as its problem, each figure within the
// rounding of the two decimals printed.
TEST_F(Explain, RealErrorsFromAGpuReadAsTheirProblem) {
  const fs::path dir = fs::path(OOMLINT_SOURCE_DIR) / "tests" / "explain" / "real";
  std::ifstream in(dir / "truth.json");
  const auto truth = nlohmann::json::parse(in);
  const std::map<std::string, std::string> problem = {
      {"too_large", "request-exceeds-capacity"}, {"full", "genuinely-full"}, {"fragmented", "fragmentation"}};
  for (const auto& [name, want] : problem) {
    const Result r = run({"explain", "--no-lint", "--output-format", "json", (dir / (name + ".log")).string()}, m_dir);
    const auto got = nlohmann::json::parse(r.out);
    EXPECT_EQ(got["diagnosis"], want) << name;
    EXPECT_EQ(got["oom_count"], 1) << name;
    const auto& m = got["messages"][0];
    const auto& t = truth[name];
    for (const char* field : {"total_bytes", "free_bytes", "allocated_bytes", "reserved_bytes"}) {
      const double printed = m[field].get<double>();
      const double actual = t[field].get<double>();
      // Two decimals of the unit PyTorch chose: at most half a hundredth of a GiB off.
      EXPECT_NEAR(printed, actual, 0.005 * 1073741824.0) << name << " " << field;
    }
    ASSERT_EQ(got["summaries"].size(), 1U) << name;
    EXPECT_EQ(got["summaries"][0]["allocated_bytes"], t["allocated_bytes"]) << name;
    EXPECT_EQ(got["summaries"][0]["reserved_bytes"], t["reserved_bytes"]) << name;
  }
}

// A real torchrun log (PyTorch 2.11, two ranks on one H100, bench/explain/torchrun_oom.py): both
// ranks' errors behind `[defaultN]:[rankN]:` prefixes, each naming the other rank's process, and
// torchrun's failure summary after them.
TEST_F(Explain, RealTorchrunLogWithTwoRanks) {
  const fs::path log = fs::path(OOMLINT_SOURCE_DIR) / "tests" / "explain" / "real" / "torchrun_two_ranks.log";
  const Result r = run({"explain", "--no-lint", "--output-format", "json", log.string()}, m_dir);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto got = nlohmann::json::parse(r.out);
  EXPECT_EQ(got["oom_count"], 2);
  EXPECT_EQ(got["diagnosis"], "held-elsewhere");
  ASSERT_EQ(got["messages"].size(), 2U);
  EXPECT_EQ(got["messages"][0]["rank"], "rank0");
  EXPECT_EQ(got["messages"][1]["rank"], "rank1");
  EXPECT_EQ(got["messages"][0]["other_processes"][0]["pid"], 540);
  EXPECT_EQ(got["messages"][1]["other_processes"][0]["pid"], 539);
  ASSERT_FALSE(got["frames"].empty());
  EXPECT_EQ(got["frames"].back()["line"], 10);
}

} // namespace
