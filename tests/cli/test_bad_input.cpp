// Bad input, each class tried as a hostile user would: the run gives a clear result for the bad
// file (a finding, an error naming it, or a warning) and goes on with the rest; nothing hangs,
// nothing from a file drives the terminal, and `--fix` loses nothing.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
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

class BadInput : public oomlint::test::Cli {
protected:
  static std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  // The codes found per file, from the JSON output.
  static std::map<std::string, std::vector<std::string>> codes_by_file(const Result& r) {
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& f : nlohmann::json::parse(r.out)) {
      out[f["filename"]].push_back(f["code"]);
    }
    return out;
  }
  Result check(const std::vector<std::string>& paths, const std::string& format = "json") {
    std::vector<std::string> args = {"check", "--isolated", "--output-format", format};
    args.insert(args.end(), paths.begin(), paths.end());
    return run(args, m_dir);
  }
};

// A leak and a checkpoint load: what every readable variant below must still be found to hold.
const char* kLeakLines[] = {"import torch",        "for x, y in loader:", "    loss = model(x)",
                            "    loss.backward()", "    total += loss",   "state = torch.load(p)"};

std::string leak_with(const std::string& newline) {
  std::string out;
  for (const char* line : kLeakLines) {
    out += std::string(line) + newline;
  }
  return out;
}

const std::vector<std::string> kBothFindings = {"OOM101", "OOM401"};

bool has_raw_control_bytes(const std::string& s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n' && c != '\t') || u == 0x7F) {
      return true;
    }
  }
  return false;
}

} // namespace

TEST_F(BadInput, NotUtf8IsNamedWithItsPosition) {
  write("bad.py", "x = '\xFF'\n");
  write("good.py", kLeaky);
  const Result r = check({"bad.py", "good.py"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.py:1:6: not valid UTF-8 (byte 0xFF)"), std::string::npos) << r.err;
  EXPECT_EQ(codes_by_file(r)["good.py"], kBothFindings);
}

TEST_F(BadInput, ByteOrderMarkAndCrlf) {
  write("bom.py", "\xEF\xBB\xBF" + leak_with("\r\n"));
  EXPECT_EQ(codes_by_file(check({"bom.py"}))["bom.py"], kBothFindings);
}

TEST_F(BadInput, CarriageReturnOnlyLineEndingsAreLinesAndSurviveAFix) {
  const fs::path file = write("mac.py", leak_with("\r"));
  const Result r = check({"mac.py"});
  EXPECT_EQ(codes_by_file(r)["mac.py"], kBothFindings) << "no false OOM000, no missed leak";
  EXPECT_NE(r.out.find("\"row\": 5"), std::string::npos) << "rows count `\\r` line breaks";
  const Result fixed = run({"check", "--isolated", "--fix", "--unsafe-fixes", "mac.py"}, m_dir);
  EXPECT_EQ(fixed.exit_code, 0) << fixed.out << fixed.err;
  const std::string after = read_bytes(file);
  EXPECT_EQ(after.find('\n'), std::string::npos) << "the file keeps its `\\r` line endings";
  EXPECT_NE(after.find("total += loss.detach()\r"), std::string::npos) << after;
}

TEST_F(BadInput, MixedTabsAndSpaces) {
  write("tabs.py", "import torch\nif True:\n\tstate = torch.load(p)\nif False:\n        state = torch.load(q)\n");
  EXPECT_EQ(codes_by_file(check({"tabs.py"}))["tabs.py"], (std::vector<std::string>{"OOM401", "OOM401"}));
}

TEST_F(BadInput, NulBytesAndEscapeSequencesNeverReachTheTerminal) {
  using namespace std::string_literals;
  write("esc.py", "# \x1b[2J\x1b]0;owned\x07 title\x00 nul \x7f del\n"s + leak_with("\n"));
  const Result r = check({"esc.py"}, "full");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("OOM000"), std::string::npos) << "Python refuses NUL bytes in source too";
  EXPECT_NE(r.out.find("OOM101"), std::string::npos) << "the rest of the file is still checked";
  EXPECT_FALSE(has_raw_control_bytes(r.out)) << r.out;
  EXPECT_NE(r.out.find("\u241b[2J"), std::string::npos) << "shown as a visible picture of ESC: " << r.out;
}

TEST_F(BadInput, EmptyAndCommentOnlyFiles) {
  write("empty.py", "");
  write("comments.py", "# just a comment\n# and another\n");
  const Result r = check({"empty.py", "comments.py"}, "concise");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("All checks passed!"), std::string::npos);
}

TEST_F(BadInput, HundredThousandCharacterLine) {
  write("long.py", "import torch\nx = \"" + std::string(100000, 'a') + "\"\nstate = torch.load(p)\n");
  const Result r = check({"long.py"}, "concise");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("long.py:3:9: OOM401"), std::string::npos) << r.out.substr(0, 300);
}

TEST_F(BadInput, PythonTwoSyntax) {
  write("py2.py", "import torch\nprint \"hello\"\nexec \"x = 1\"\nstate = torch.load(p)\n");
  const Result r = check({"py2.py"});
  EXPECT_LT(r.exit_code, 2) << r.err;
  EXPECT_EQ(codes_by_file(r)["py2.py"].back(), "OOM401");
}

TEST_F(BadInput, PythonThreeTwelveSyntaxIsNotAnError) {
  write("new.py", "import torch\n"
                  "type Vec = list[float]\n"
                  "def first[T](xs: list[T]) -> T:\n"
                  "    return xs[0]\n"
                  "class Box[T]:\n"
                  "    pass\n"
                  "d = {\"a\": 1}\n"
                  "msg = f\"{d[\"a\"]} and {f\"{1 + 1}\"}\"\n"
                  "match msg:\n"
                  "    case \"x\":\n"
                  "        pass\n"
                  "    case _:\n"
                  "        pass\n"
                  "state = torch.load(p)\n");
  EXPECT_EQ(codes_by_file(check({"new.py"}))["new.py"], (std::vector<std::string>{"OOM401"}));
}

// Found on real code: a `\` between a `with` statement's items is a node of its own.
TEST_F(BadInput, LineContinuationBetweenWithItems) {
  write("split.py", "import torch\n"
                    "def train(model, loader, opt, path):\n"
                    "    with open(path) as log, \\\n"
                    "            torch.no_grad():\n"
                    "        pass\n"
                    "    total = 0\n"
                    "    for x in loader:\n"
                    "        loss = model(x)\n"
                    "        loss.backward()\n"
                    "        total += loss\n");
  const Result r = check({"split.py"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(codes_by_file(r)["split.py"], (std::vector<std::string>{"OOM101"}));
}

TEST_F(BadInput, DirectoryNamedLikeAPythonFileIsSearched) {
  write("x.py/inner.py", kLeaky);
  const Result r = check({"."});
  EXPECT_EQ(codes_by_file(r)["x.py/inner.py"], kBothFindings) << r.err;
}

TEST_F(BadInput, FifoNamedPyNeverHangs) {
  ASSERT_EQ(::mkfifo((m_dir / "y.py").c_str(), 0644), 0);
  write("good.py", kLeaky);
  const auto started = std::chrono::steady_clock::now();
  const Result walked = check({"."});
  EXPECT_EQ(codes_by_file(walked)["good.py"], kBothFindings);
  const Result named = check({"y.py", "good.py"});
  EXPECT_EQ(named.exit_code, 2);
  EXPECT_NE(named.err.find("y.py: is a FIFO (named pipe), not a Python file"), std::string::npos) << named.err;
  EXPECT_EQ(codes_by_file(named)["good.py"], kBothFindings);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(60));
}

TEST_F(BadInput, DeviceNamedOnTheCommandLineIsRefusedAtOnce) {
  const Result r = check({"/dev/zero"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/dev/zero: is a character device, not a Python file"), std::string::npos) << r.err;
}

TEST_F(BadInput, DanglingSymlinkAndMissingPath) {
  fs::create_symlink(m_dir / "nowhere.py", m_dir / "dangling.py");
  write("good.py", kLeaky);
  const Result r = check({"dangling.py", "missing.py", "good.py"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("dangling.py"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("missing.py"), std::string::npos) << r.err;
  EXPECT_EQ(codes_by_file(r)["good.py"], kBothFindings);
}

TEST_F(BadInput, UnreadableFileForAnotherUser) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root to run the check as another user (nobody)";
  }
  fs::permissions(m_dir, fs::perms::all);
  write("locked.py", kLeaky);
  write("good.py", kLeaky);
  fs::permissions(m_dir / "locked.py", fs::perms::owner_read | fs::perms::owner_write);
  const Result r =
      run({"check", "--isolated", "--output-format", "concise", "locked.py", "good.py"}, m_dir, "", {}, 65534);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("locked.py: cannot open for reading (Permission denied)"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("good.py:8:"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("All checks passed!"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 file could not be checked"), std::string::npos) << r.out;
}

TEST_F(BadInput, AllChecksPassedIsNeverSaidAfterAnError) {
  write("bad.py", "x = '\xFF'\n");
  write("clean.py", "x = 1\n");
  const Result r = check({"bad.py", "clean.py"}, "concise");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out.find("All checks passed!"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("No findings in what was checked, but 1 file could not be checked"), std::string::npos) << r.out;
}

TEST_F(BadInput, LargeLogNamedExplicitlyIsNotParsedForMinutes) {
  std::string log;
  while (log.size() < 11U * 1024U * 1024U) {
    log += "2026-12-06 07:00:00 INFO step 1234 loss=0.123 lr=3e-4 throughput=1234.5 samples/s\n";
  }
  write("train.log", log);
  const auto started = std::chrono::steady_clock::now();
  const Result r = check({"train.log"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("train.log: skipped: 11.0 MB is over the 10.0 MB limit"), std::string::npos) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST_F(BadInput, TwentyThousandSmallFiles) {
  for (int i = 0; i < 20000; ++i) {
    std::ofstream(m_dir / ("m" + std::to_string(i) + ".py")) << (i % 5000 == 0 ? kLeaky : "x = 1\n");
  }
  const Result r = run({"check", "--isolated", "--statistics", "."}, m_dir);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("    4\tOOM101"), std::string::npos) << r.out;
}

TEST_F(BadInput, FileNameThatIsNotUtf8KeepsTheJsonValid) {
  write("e\xff\x1b.py", kLeaky);
  const Result r = check({"."});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto list = nlohmann::json::parse(r.out); // throws (and fails) on invalid output
  ASSERT_EQ(list.size(), 2U);
  EXPECT_EQ(list[0]["filename"], "e\xef\xbf\xbd\x1b.py");
  const Result text = check({"."}, "concise");
  EXPECT_FALSE(has_raw_control_bytes(text.out)) << text.out;
}

TEST_F(BadInput, Pep263Latin1IsDecodedAndWrittenBackAsLatin1) {
  const fs::path file = write("latin.py", "# -*- coding: latin-1 -*-\n# caf\xe9\n" + leak_with("\n"));
  const Result r = check({"latin.py"});
  EXPECT_EQ(codes_by_file(r)["latin.py"], kBothFindings) << r.err;
  EXPECT_EQ(run({"check", "--isolated", "--fix", "--unsafe-fixes", "latin.py"}, m_dir).exit_code, 0);
  const std::string after = read_bytes(file);
  EXPECT_NE(after.find("# caf\xe9\n"), std::string::npos) << "still one Latin-1 byte, not UTF-8";
  EXPECT_NE(after.find("total += loss.detach()"), std::string::npos);
}

TEST_F(BadInput, UnsupportedEncodingCookieSaysSo) {
  write("jp.py", "# coding: euc-jp\nx = '\xa4\xa2'\n");
  const Result r = check({"jp.py"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("jp.py: declares the encoding `euc-jp` (PEP 263)"), std::string::npos) << r.err;
}

TEST_F(BadInput, FixRefusesReadOnlyFilesAndKeepsTheirFindings) {
  const fs::path file = write("ro.py", kLeaky);
  fs::permissions(file, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  const Result r = run({"check", "--isolated", "--fix", "--unsafe-fixes", "ro.py"}, m_dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("ro.py: is read-only (mode 0444)"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("OOM101"), std::string::npos) << "the file on disk still has its findings: " << r.out;
  EXPECT_EQ(read_bytes(file), kLeaky);
}

TEST_F(BadInput, FixKeepsHardLinksAndSetuidBits) {
  const fs::path file = write("linked.py", kLeaky);
  fs::create_hard_link(file, m_dir / "other_name.py");
  ASSERT_EQ(::chmod(file.c_str(), 04755), 0);
  const Result r = run({"check", "--isolated", "--fix", "--unsafe-fixes", "linked.py"}, m_dir);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(fs::hard_link_count(file), 2U);
  EXPECT_EQ(read_bytes(m_dir / "other_name.py"), read_bytes(file)) << "both names see the fix";
  EXPECT_NE(read_bytes(file).find("running += loss.item()"), std::string::npos) << read_bytes(file);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755U);
  for (const auto& entry : fs::directory_iterator(m_dir)) {
    EXPECT_EQ(entry.path().filename().string().find(".oomlint-"), std::string::npos) << "temporary file left behind";
  }
}

TEST_F(BadInput, InvalidConfigurationValues) {
  write("a.py", "x = 1\n");
  write("pyproject.toml", "[tool.oomlint]\n[tool.oomlint.options.OOM301]\nallow-periodic = \"yes\"\n");
  Result r = run({"check", "a.py"}, m_dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("pyproject.toml:3:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("`options.OOM301.allow-periodic` must be a bool"), std::string::npos) << r.err;
  write("pyproject.toml", "[tool.oomlint]\nexclude = [\"gen[erated\"]\n");
  r = run({"check", "a.py"}, m_dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("invalid glob `gen[erated` in `exclude`"), std::string::npos) << r.err;
  write("pyproject.toml", "[tool.oomlint]\nmax-file-size-mb = \"big\"\n");
  EXPECT_EQ(run({"check", "a.py"}, m_dir).exit_code, 2);
  write("pyproject.toml", "[tool.oomlint\n");
  r = run({"check", "a.py"}, m_dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("pyproject.toml:"), std::string::npos) << r.err;
  r = run({"check", "--isolated", "--extend-exclude", "a[", "a.py"}, m_dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("invalid glob `a[` in --extend-exclude"), std::string::npos) << r.err;
}

TEST_F(BadInput, NoqaWithAnUnknownCodeIsAWarning) {
  write("a.py", "import torch\nstate = torch.load(p)  # noqa: OOM4O1, E501\n");
  const Result r = check({"a.py"}, "concise");
  EXPECT_EQ(r.exit_code, 1) << "a misspelt code silences nothing";
  EXPECT_NE(r.err.find("warning: a.py:2: `# noqa` names `OOM4O1`, which is not an oomlint rule"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("E501"), std::string::npos) << "other tools' codes are theirs: " << r.err;
}

TEST_F(BadInput, NotebooksAreSkippedWithAWord) {
  write("explore.ipynb", "{\"cells\": []}\n");
  write("train.py", kLeaky);
  const Result r = check({"."});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("warning: skipped 1 Jupyter notebook (`explore.ipynb`)"), std::string::npos) << r.err;
}
