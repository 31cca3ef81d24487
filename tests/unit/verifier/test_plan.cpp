// Where the verifier puts its probe calls and how it applies a finding's fix: through the lint
// service, with the probe calls moved to where the fixed text has them.
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "analyzer/service/lint_service.hpp"
#include "analyzer/syntax/parser.hpp"
#include "rules/registry.hpp"
#include "verifier/plan.hpp"

namespace oomlint::verify {
namespace {

TEST(ProbeCalls, MoveWithTheEditsBeforeThem) {
  const std::vector<Edit> edits = {Edit{10, 10, "abc"}, Edit{20, 24, "x"}, Edit{40, 40, "later"}};
  EXPECT_EQ(offset_after_edits(5, edits), 5u);
  EXPECT_EQ(offset_after_edits(10, edits), 13u);          // an insertion at the same place goes first
  EXPECT_EQ(offset_after_edits(30, edits), 30u);          // +3, then 4 bytes replaced by 1
  EXPECT_EQ(offset_after_edits(22, edits), std::nullopt); // inside a rewritten span
}

struct Planned {
  service::LintService service{rules::all_rules(), "https://example.org/rules/"};
  std::shared_ptr<const service::Settings> settings;
  ProjectRun run;
  Plan plan;

  explicit Planned(const std::string& text) {
    service::Overrides overrides;
    overrides.isolated = true;
    settings = *service.settings_for({}, overrides);
    auto source = std::make_shared<const SourceFile>("/tmp/oomlint-plan/train.py", text);
    run = service.lint({LintInput{"/tmp/oomlint-plan/train.py", source}}, *settings, 1);
    plan = plan_verification(run.reports, settings->lint());
  }
};

constexpr const char* kLeak = R"(import torch

def train(model, opt, batches):
    total = 0
    for x, y in batches:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        total += loss
    return total
)";

TEST(Plan, TicksTheLoopBodyAndMarksEachEntry) {
  Planned p(kLeak);
  ASSERT_EQ(p.plan.findings.size(), 1u);
  EXPECT_EQ(p.plan.findings[0].finding.code, "OOM101");
  EXPECT_EQ(p.plan.findings[0].measure, VerifyMeasure::Growth);
  const std::string text = p.plan.instrumented().begin()->second;
  EXPECT_NE(text.find("    __oomlint_probe__.enter(0)\n    for x, y in batches:\n        __oomlint_probe__.tick(0)\n"
                      "        opt.zero_grad()"),
            std::string::npos)
      << text;
}

TEST(Plan, TheFixedTextIsWhatTheFixWritesWithTheSameProbeCalls) {
  Planned p(kLeak);
  ASSERT_EQ(p.plan.findings.size(), 1u);
  const PlannedFinding& f = p.plan.findings[0];
  ASSERT_TRUE(f.fix.has_value());
  syntax::Parser parser;
  const auto fixed = p.plan.instrumented_with(f.path, {&*f.fix}, p.service, parser);
  ASSERT_TRUE(fixed) << fixed.error().message;
  const std::string text = fixed->begin()->second;
  EXPECT_NE(text.find("total += loss.detach()"), std::string::npos) << text;
  EXPECT_NE(text.find("    for x, y in batches:\n        __oomlint_probe__.tick(0)\n"), std::string::npos) << text;
}

TEST(Plan, AFixThatWouldNotParseIsNotRun) {
  Planned p(kLeak);
  ASSERT_EQ(p.plan.findings.size(), 1u);
  const PlannedFinding& f = p.plan.findings[0];
  const Fix broken{Applicability::Unsafe, "broken", {Edit{f.finding.start, f.finding.end, "total +="}}};
  syntax::Parser parser;
  const auto fixed = p.plan.instrumented_with(f.path, {&broken}, p.service, parser);
  ASSERT_FALSE(fixed);
  EXPECT_NE(fixed.error().message.find("would not parse"), std::string::npos);
}

constexpr const char* kLoad = R"(import torch

def resume(net, path):
    net.load_state_dict(torch.load(path))
    return net
)";

TEST(Plan, ALoadIsProbedBeforeAndAfterItsStatement) {
  Planned p(kLoad);
  ASSERT_EQ(p.plan.findings.size(), 1u);
  EXPECT_EQ(p.plan.findings[0].measure, VerifyMeasure::Load);
  const std::string text = p.plan.instrumented().begin()->second;
  EXPECT_NE(text.find("    __oomlint_probe__.tick(0)\n    net.load_state_dict(torch.load(path))\n"
                      "    __oomlint_probe__.tick(0)\n    return net"),
            std::string::npos)
      << text;
}

} // namespace
} // namespace oomlint::verify

namespace oomlint::verify {
namespace {

constexpr const char* kSampling = R"(import torch

def train(gen, disc, opt, noise, steps):
    for step in range(steps):
        loss = disc(gen(torch.randn(8, 4))).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            gen.eval()
            sample = gen(noise)
            print(sample.shape)
            gen.train()
)";

// A forward flagged for autograd with no fix of its own is measured with its statement under
// `torch.no_grad()`, written on the statement's own line so nothing is re-indented.
TEST(Plan, AForwardWithoutAFixIsMeasuredUnderNoGrad) {
  Planned p(kSampling);
  const PlannedFinding* f = nullptr;
  for (const PlannedFinding& q : p.plan.findings) {
    if (q.finding.code == "OOM201") {
      f = &q;
    }
  }
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->fix.has_value()) << f->fix_used;
  syntax::Parser parser;
  const auto fixed = p.plan.instrumented_with(f->path, {&*f->fix}, p.service, parser);
  ASSERT_TRUE(fixed) << fixed.error().message;
  EXPECT_NE(fixed->begin()->second.find("            with __oomlint_probe__.no_grad(): sample = gen(noise)\n"),
            std::string::npos)
      << fixed->begin()->second;
}

} // namespace
} // namespace oomlint::verify

namespace oomlint::verify {
namespace {

constexpr const char* kItems = R"(import torch

def train(model, opt, loader):
    meters = {}
    for x, y in loader:
        losses = model(x, y)
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
        for name, value in losses.items():
            meters[name] = meters.get(name, 0.0) + value
)";

// An accumulation inside a loop over a dict's items grows once per step: the probe counts the
// step loop's passes, not the inner loop's.
TEST(Plan, AnInnerLoopOverItemsIsProbedAtTheStepLoop) {
  Planned p(kItems);
  ASSERT_EQ(p.plan.findings.size(), 1u);
  const std::string text = p.plan.instrumented().begin()->second;
  EXPECT_NE(text.find("    __oomlint_probe__.enter(0)\n    for x, y in loader:\n        __oomlint_probe__.tick(0)\n"),
            std::string::npos)
      << text;
}

} // namespace
} // namespace oomlint::verify
