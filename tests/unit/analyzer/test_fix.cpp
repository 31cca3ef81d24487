// The fix engine: edit selection, the re-parse check, line endings and BOM, atomic writes,
// unified diffs.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "analyzer/fix/atomic_write.hpp"
#include "analyzer/fix/fixer.hpp"
#include "analyzer/fix/unified_diff.hpp"
#include "analyzer/syntax/parser.hpp"
#include "rules/registry.hpp"

namespace fs = std::filesystem;
using namespace oomlint;

namespace {

Fix insertion(std::uint32_t at, std::string text) {
  Fix f;
  f.applicability = Applicability::Safe;
  f.edits.push_back(Edit{at, at, std::move(text)});
  return f;
}

TEST(ApplyFixes, TakesNonOverlappingFixesInOrder) {
  const std::string text = "abcdef";
  Fix a = insertion(1, "X");
  Fix b = insertion(1, "Y"); // same point: waits for the next pass
  Fix c;
  c.edits.push_back(Edit{3, 5, "Z"});
  std::vector<size_t> chosen;
  const std::string out = apply_fixes(text, {&a, &b, &c}, chosen, "\n");
  EXPECT_EQ(out, "aXbcZf");
  EXPECT_EQ(chosen, (std::vector<size_t>{0, 2}));
}

TEST(ApplyFixes, InsertedLineBreaksFollowTheFile) {
  std::vector<size_t> chosen;
  Fix a = insertion(0, "@dec\n");
  EXPECT_EQ(apply_fixes("def f():\r\n    pass\r\n", {&a}, chosen, "\r\n"), "@dec\r\ndef f():\r\n    pass\r\n");
}

// A rule whose fix breaks the syntax: the fixer must refuse it and say so.
RuleMeta bad_meta() {
  RuleMeta m;
  m.code = "OOM999";
  m.name = "bad-fix";
  m.fix = FixAvailability::Always;
  return m;
}
const RuleMeta kBadMeta = bad_meta();
void bad_check(RuleContext& ctx) {
  Fix fix;
  fix.applicability = Applicability::Safe;
  fix.message = "break it";
  fix.edits.push_back(Edit{0, 0, "def ("});
  ctx.reporter.report_range(kBadMeta, 0, 1, 0, "always", fix);
}

// Fixes `text` with the one rule whose fix always breaks the parse.
FixOutcome fix_with_a_breaking_rule(std::string_view text) {
  LintSettings settings;
  settings.rules = {Rule{&kBadMeta, &bad_check}};
  settings.enabled = {"OOM999"};
  FixPolicy policy;
  policy.fixable = {"OOM999"};
  syntax::Parser parser;
  return fix_source(std::make_shared<const SourceFile>("x.py", std::string(text)), parser, settings, policy);
}

TEST(FixSource, DropsAFixWhoseResultWouldNotParse) {
  const FixOutcome out = fix_with_a_breaking_rule("x = 1\n");
  EXPECT_FALSE(out.changed());
  EXPECT_EQ(out.fixed->text(), "x = 1\n");
  ASSERT_EQ(out.dropped.size(), 1U);
  EXPECT_NE(out.dropped[0].find("would not parse"), std::string::npos);
}

TEST(FixSource, LeavesAFileThatDoesNotParseAlone) {
  const FixOutcome out = fix_with_a_breaking_rule("x = (1\n");
  EXPECT_FALSE(out.changed());
  ASSERT_EQ(out.dropped.size(), 1U);
  EXPECT_NE(out.dropped[0].find("does not parse"), std::string::npos);
}

TEST(FixSource, KeepsBomAndCrLfAndIsIdempotent) {
  LintSettings settings;
  settings.rules = rules::all_rules();
  settings.enabled = {"OOM401", "OOM701"};
  FixPolicy policy;
  policy.unsafe = true;
  policy.fixable = {"OOM401", "OOM701"};
  syntax::Parser parser;
  const std::string text =
      "\xEF\xBB\xBFimport torch\r\nstate = torch.load('a.pt')\r\nopt.zero_grad(set_to_none=False)\r\n";
  auto source = std::make_shared<const SourceFile>("x.py", text);
  const FixOutcome first = fix_source(source, parser, settings, policy);
  ASSERT_EQ(first.applied.size(), 2U);
  EXPECT_TRUE(first.fixed->had_bom());
  EXPECT_EQ(first.fixed->text(),
            "import torch\r\nstate = torch.load('a.pt', map_location=\"cpu\")\r\nopt.zero_grad()\r\n");
  EXPECT_TRUE(first.report.findings.empty());
  const FixOutcome second = fix_source(first.fixed, parser, settings, policy);
  EXPECT_FALSE(second.changed());
}

TEST(FixSource, UnsafeFixesNeedTheFlagAndUnfixableIsRespected) {
  LintSettings settings;
  settings.rules = rules::all_rules();
  settings.enabled = {"OOM401", "OOM701"};
  syntax::Parser parser;
  auto source =
      std::make_shared<const SourceFile>("x.py", "import torch\nckpt = torch.load('a')\nopt.zero_grad(False)\n");
  FixPolicy safe_only;
  safe_only.fixable = {"OOM401", "OOM701"};
  FixOutcome out = fix_source(source, parser, settings, safe_only);
  EXPECT_EQ(out.fixed->text(), "import torch\nckpt = torch.load('a')\nopt.zero_grad()\n"); // OOM401's fix is unsafe

  Config config;
  config.unfixable = {"OOM7"};
  FixPolicy unsafe;
  unsafe.unsafe = true;
  unsafe.fixable = fixable_codes(config, rules::catalog());
  out = fix_source(source, parser, settings, unsafe);
  EXPECT_EQ(out.fixed->text(), "import torch\nckpt = torch.load('a', map_location=\"cpu\")\nopt.zero_grad(False)\n");
}

// Fixes `text` with every rule, `code` enabled and its unsafe fixes allowed.
FixOutcome fix_unsafely(const std::string& code, std::string_view text) {
  LintSettings settings;
  settings.rules = rules::all_rules();
  settings.enabled = {code};
  FixPolicy policy;
  policy.unsafe = true;
  policy.fixable = {code};
  syntax::Parser parser;
  return fix_source(std::make_shared<const SourceFile>("x.py", std::string(text)), parser, settings, policy);
}

// OOM202's rewrite only where the values stay in code that never trains: a helper returning
// embeddings to callers not seen here keeps its finding but gets no edit; `evaluate`, called
// from the file's `main`, gets it.
TEST(FixSource, InferenceModeOnlyWhereValuesStayInEvaluation) {
  const FixOutcome out = fix_unsafely("OOM202", "import torch\n"
                                                "def embeddings(enc, ids):\n"
                                                "    with torch.no_grad():\n"
                                                "        return enc(ids)\n"
                                                "def evaluate(model, x):\n"
                                                "    with torch.no_grad():\n"
                                                "        return model(x)\n"
                                                "def main(model, x):\n"
                                                "    print(evaluate(model, x))\n");
  ASSERT_EQ(out.applied.size(), 1U);
  EXPECT_EQ(out.fixed->text(), "import torch\n"
                               "def embeddings(enc, ids):\n"
                               "    with torch.no_grad():\n"
                               "        return enc(ids)\n"
                               "def evaluate(model, x):\n"
                               "    with torch.inference_mode():\n"
                               "        return model(x)\n"
                               "def main(model, x):\n"
                               "    print(evaluate(model, x))\n");
  ASSERT_EQ(out.report.findings.size(), 1U); // the helper's finding stays, without a fix
  EXPECT_FALSE(out.report.findings[0].fix.has_value());
}

// Under ZeRO-3 or FSDP the forward gathers parameters inside the block: gathered under
// inference_mode they could not train afterwards, so a module that imports a sharder gets no edit.
TEST(FixSource, NoInferenceModeWhereParametersAreSharded) {
  const FixOutcome out = fix_unsafely("OOM202", "import deepspeed\nimport torch\n"
                                                "def evaluate(model, x):\n"
                                                "    with torch.no_grad():\n"
                                                "        return model(x)\n"
                                                "def main(model, x):\n"
                                                "    print(evaluate(model, x))\n");
  EXPECT_FALSE(out.changed());
  ASSERT_EQ(out.report.findings.size(), 1U);
  EXPECT_FALSE(out.report.findings[0].fix.has_value());
}

// OOM601's `.cpu()` is not offered where labels gathered beside the predictions stay on the
// device: the comparison after the loop would mix devices.
TEST(FixSource, NoCpuMoveBesideLabelsThatStayOnTheDevice) {
  LintSettings settings;
  settings.rules = rules::all_rules();
  settings.enabled = {"OOM601"};
  FixPolicy policy;
  policy.unsafe = true;
  policy.fixable = {"OOM601"};
  syntax::Parser parser;
  const std::string text = "import torch\n"
                           "@torch.no_grad()\n"
                           "def top5(model, loader, device):\n"
                           "    preds, targets = [], []\n"
                           "    for x, labels in loader:\n"
                           "        labels = labels.to(device)\n"
                           "        preds.append(model(x.to(device)).argmax(1))\n"
                           "        targets.append(labels)\n"
                           "    return (torch.cat(preds) == torch.cat(targets)).float().mean()\n";
  const FixOutcome out = fix_source(std::make_shared<const SourceFile>("x.py", text), parser, settings, policy);
  EXPECT_EQ(out.fixed->text(), text);
  ASSERT_EQ(out.report.findings.size(), 1U);
  EXPECT_FALSE(out.report.findings[0].fix.has_value());
}

// Without such a sibling the predictions are moved off the device.
TEST(FixSource, CpuMoveWhereNothingElseStaysOnTheDevice) {
  LintSettings settings;
  settings.rules = rules::all_rules();
  settings.enabled = {"OOM601"};
  FixPolicy policy;
  policy.unsafe = true;
  policy.fixable = {"OOM601"};
  syntax::Parser parser;
  const std::string text = "import torch\n"
                           "@torch.no_grad()\n"
                           "def predict(model, loader, device):\n"
                           "    preds = []\n"
                           "    for x in loader:\n"
                           "        preds.append(model(x.to(device)).argmax(1))\n"
                           "    return torch.cat(preds)\n";
  const FixOutcome out = fix_source(std::make_shared<const SourceFile>("x.py", text), parser, settings, policy);
  EXPECT_NE(out.fixed->text().find("argmax(1).cpu())"), std::string::npos) << out.fixed->text();
}

// OOM401 moves a state that `load_state_dict` copies onto the model's device, not a whole module
// or tensors used as they come back.
TEST(FixSource, MapLocationOnlyWhereTheLoadIsAState) {
  LintSettings settings;
  settings.rules = rules::all_rules();
  settings.enabled = {"OOM401"};
  FixPolicy policy;
  policy.unsafe = true;
  policy.fixable = {"OOM401"};
  syntax::Parser parser;
  const std::string text = "import torch\n"
                           "def resume(net, path):\n"
                           "    net.load_state_dict(torch.load(path))\n"
                           "    model = torch.load(path + '.whole')\n"
                           "    ckpt = torch.load(path + '.ckpt')\n"
                           "    return model, ckpt\n";
  const FixOutcome out = fix_source(std::make_shared<const SourceFile>("x.py", text), parser, settings, policy);
  ASSERT_EQ(out.report.findings.size(), 1U); // what is left after fixing: the whole module's load
  EXPECT_FALSE(out.report.findings[0].fix.has_value());
  EXPECT_NE(out.fixed->text().find("torch.load(path, map_location=\"cpu\")"), std::string::npos);
  EXPECT_NE(out.fixed->text().find("torch.load(path + '.ckpt', map_location=\"cpu\")"), std::string::npos);
  EXPECT_NE(out.fixed->text().find("model = torch.load(path + '.whole')\n"), std::string::npos) << out.fixed->text();
}

// OOM201 decorates a whole evaluation function, never a method: a method's callers in other files
// may train with what it returns.
TEST(FixSource, InferenceModeDecoratorOnFunctionsNotMethods) {
  LintSettings settings;
  settings.rules = rules::all_rules();
  settings.enabled = {"OOM201"};
  FixPolicy policy;
  policy.unsafe = true;
  policy.fixable = {"OOM201"};
  syntax::Parser parser;
  const std::string text = "import torch\n"
                           "class Diffusion(Base):\n"
                           "    def model_predictions(self, x, t):\n"
                           "        return self.model(x, t)\n"
                           "def evaluate(model, loader):\n"
                           "    model.eval()\n"
                           "    for x in loader:\n"
                           "        print(model(x).mean().item())\n";
  const FixOutcome out = fix_source(std::make_shared<const SourceFile>("x.py", text), parser, settings, policy);
  ASSERT_EQ(out.applied.size(), 1U);
  EXPECT_NE(out.fixed->text().find("@torch.inference_mode()\ndef evaluate"), std::string::npos) << out.fixed->text();
  EXPECT_NE(out.fixed->text().find("class Diffusion(Base):\n    def model_predictions"), std::string::npos);
  ASSERT_EQ(out.report.findings.size(), 1U); // the method's finding stays, without a fix
  EXPECT_FALSE(out.report.findings[0].fix.has_value());
}

// Inside a module's own method what is kept may be what a loss later reads (an attention's
// alignment): `.detach()` is offered only outside, in the loop that trains.
TEST(FixSource, NoDetachInsideAModulesOwnMethod) {
  LintSettings settings;
  settings.rules = rules::all_rules();
  settings.enabled = {"OOM103"};
  FixPolicy policy;
  policy.unsafe = true;
  policy.fixable = {"OOM103"};
  syntax::Parser parser;
  const std::string text = "import torch\n"
                           "from torch import nn\n"
                           "class Attention(nn.Module):\n"
                           "    def __init__(self):\n"
                           "        super().__init__()\n"
                           "        self.query = nn.Linear(8, 8)\n"
                           "    def forward(self, x):\n"
                           "        weights = torch.softmax(self.query(x), -1)\n"
                           "        self.alignment = weights\n"
                           "        return weights @ x\n"
                           "class Trainer:\n"
                           "    def train(self, loader, opt):\n"
                           "        for x in loader:\n"
                           "            out = self.model(x)\n"
                           "            self.last_out = out\n"
                           "            self.model(x.flip(0)).mean().backward()\n"
                           "            opt.step()\n";
  const FixOutcome out = fix_source(std::make_shared<const SourceFile>("x.py", text), parser, settings, policy);
  ASSERT_EQ(out.applied.size(), 1U);
  EXPECT_NE(out.fixed->text().find("self.last_out = out.detach()"), std::string::npos) << out.fixed->text();
  EXPECT_NE(out.fixed->text().find("self.alignment = weights\n"), std::string::npos) << out.fixed->text();
  ASSERT_EQ(out.report.findings.size(), 1U); // the module's own store stays reported, without a fix
  EXPECT_FALSE(out.report.findings[0].fix.has_value());
}

// A list of scalar losses that only Python reduces stores floats; one handed to the project's own
// helper (`list_mean(losses)` feeding a meter that calls `.detach()`) keeps tensors, on their device.
TEST(FixSource, ScalarLossesHandedOnStayTensors) {
  LintSettings settings;
  settings.rules = rules::all_rules();
  settings.enabled = {"OOM102"};
  FixPolicy policy;
  policy.unsafe = true;
  policy.fixable = {"OOM102"};
  syntax::Parser parser;
  const std::string text = "import torch.nn.functional as F\n"
                           "def train(model, loader, meter, optimizer, subnets):\n"
                           "    losses = []\n"
                           "    for x, y in loader:\n"
                           "        for subnet in subnets:\n"
                           "            model.set_active_subnet(subnet)\n"
                           "            loss = F.cross_entropy(model(x), y)\n"
                           "            loss.backward()\n"
                           "            losses.append(loss)\n"
                           "        optimizer.step()\n"
                           "        meter.update(list_mean(losses))\n"
                           "def evaluate(model, loader):\n"
                           "    losses = []\n"
                           "    for x, y in loader:\n"
                           "        loss = F.cross_entropy(model(x), y)\n"
                           "        losses.append(loss)\n"
                           "    print(sum(losses) / len(losses))\n";
  const FixOutcome out = fix_source(std::make_shared<const SourceFile>("x.py", text), parser, settings, policy);
  EXPECT_NE(out.fixed->text().find("losses.append(loss.detach())\n        optimizer"), std::string::npos)
      << out.fixed->text();
  EXPECT_NE(out.fixed->text().find("losses.append(loss.item())\n    print"), std::string::npos) << out.fixed->text();
}

class AtomicWrite : public ::testing::Test {
protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() / ("oomlint-atomic-" + std::to_string(::getpid()));
    fs::create_directories(m_dir);
  }
  void TearDown() override { fs::remove_all(m_dir); }
  fs::path m_dir;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_F(AtomicWrite, KeepsModeAndLeavesNoTemporaryFile) {
  const fs::path file = m_dir / "a.py";
  std::ofstream(file) << "old\n";
  ::chmod(file.c_str(), 0640);
  auto ok = write_file_atomically(file.string(), "new\n", "old\n");
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  EXPECT_EQ(slurp(file), "new\n");
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640U);
  EXPECT_EQ(std::distance(fs::directory_iterator(m_dir), fs::directory_iterator()), 1);
}

TEST_F(AtomicWrite, RefusesWhenTheFileChangedOnDisk) {
  const fs::path file = m_dir / "a.py";
  std::ofstream(file) << "edited meanwhile\n";
  auto result = write_file_atomically(file.string(), "fixed\n", "as read\n");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("changed on disk"), std::string::npos);
  EXPECT_EQ(slurp(file), "edited meanwhile\n");
}

TEST_F(AtomicWrite, WritesThroughASymlink) {
  const fs::path file = m_dir / "real.py";
  const fs::path link = m_dir / "link.py";
  std::ofstream(file) << "old\n";
  fs::create_symlink(file, link);
  ASSERT_TRUE(write_file_atomically(link.string(), "new\n", "old\n").ok());
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(slurp(file), "new\n");
}

TEST(UnifiedDiff, HunksWithContext) {
  const std::string before = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n";
  const std::string after = "a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nk\nl\n";
  const std::string diff = unified_diff(before, after, "x.py", "x.py");
  // Changes more than 2 * 3 lines apart make two hunks; closer ones merge (as GNU diff does).
  EXPECT_EQ(diff, "--- x.py\n+++ x.py\n"
                  "@@ -1,7 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n"
                  "@@ -9,3 +9,4 @@\n i\n j\n k\n+l\n");
  EXPECT_EQ(unified_diff("a\nb\nc\n", "a\nB\nc\nd\n", "f", "f"), "--- f\n+++ f\n@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n");
  EXPECT_EQ(unified_diff(before, before, "x", "x"), "");
}

TEST(UnifiedDiff, MissingFinalNewline) {
  EXPECT_EQ(unified_diff("a", "b", "f", "f"), "--- f\n+++ f\n@@ -1,1 +1,1 @@\n-a\n\\ No newline at end of file\n+b\n"
                                              "\\ No newline at end of file\n");
}

} // namespace
