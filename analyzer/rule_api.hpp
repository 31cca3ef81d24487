#pragma once
// The interface between the analyzer and the rules: a rule is metadata plus a check that
// asks the semantic model questions and reports findings. The analyzer never names a rule.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tree_sitter/api.h>

#include "analyzer/diagnostics/finding.hpp"
#include "analyzer/model/model.hpp"

namespace oomlint {

struct RuleOption {
  std::string_view name; // kebab-case
  std::string_view type; // "list[str]", "bool", ...
  std::string_view default_value;
  std::string_view doc;
};

// How `oomlint verify` measures a rule's findings: declared by each rule, read by the verifier,
// which names no rule.
enum class VerifyMeasure : std::uint8_t {
  None,   // not measured
  Growth, // memory growth per pass of the flagged loop, as written against fixed
  Peak,   // the per-pass peak of allocated memory
  Time,   // the time per pass
  Load,   // what the flagged statement needs, its own peak included
};

// What a finding without a fix of its own is measured against.
enum class VerifyTransform : std::uint8_t {
  None,             // only the rule's fix
  DropStatement,    // the flagged statement replaced by `pass`
  StoreDetachedCpu, // the stored value (the finding, or its first note with at_first_note) stored
                    // `.detach().cpu()`, and `.detach()` alone for comparison
  NoGradStatement,  // the statement around the finding run under `torch.no_grad()`
};

struct Verification {
  VerifyMeasure measure = VerifyMeasure::None;
  VerifyTransform transform = VerifyTransform::None;
  // Probe where the finding's first note points (a hook's store), not where the finding is.
  bool at_first_note = false;
};

std::string_view to_string(VerifyMeasure m);

struct RuleMeta {
  std::string_view code;
  std::string_view name;
  Severity severity = Severity::Warning;
  bool default_enabled = true;
  FixAvailability fix = FixAvailability::Never;
  std::string_view summary;
  std::string_view what;
  std::string_view why;
  std::string_view example;
  std::string_view use_instead;
  std::string_view fine_when;
  std::string_view fix_safety;
  std::vector<RuleOption> options;
  std::string_view measured;
  std::string_view references;
  Verification verify{};
};

// Per-rule option values from configuration, as TOML-ish strings lists.
using RuleOptionValues = std::map<std::string, std::vector<std::string>>;

class Reporter {
public:
  explicit Reporter(const model::Model& model) : m_model(model) {}
  // Reports a finding on the node's span; the severity defaults to the rule's.
  void report(const RuleMeta& meta, TSNode node, std::string message, std::optional<Fix> fix = std::nullopt,
              std::optional<Severity> severity = std::nullopt);
  void report_range(const RuleMeta& meta, std::uint32_t start, std::uint32_t end, std::uint32_t noqa_row,
                    std::string message, std::optional<Fix> fix = std::nullopt,
                    std::optional<Severity> severity = std::nullopt);
  // Adds the evidence chain to the finding reported last.
  void attach(std::vector<Related> related) {
    if (!m_findings.empty()) {
      m_findings.back().related = std::move(related);
    }
  }
  [[nodiscard]] std::vector<Finding>& findings() { return m_findings; }

private:
  const model::Model& m_model;
  std::vector<Finding> m_findings;
};

// A note on a node for a finding's evidence (text notes, JSON `related`, SARIF, LSP).
inline Related note_at(TSNode node, std::string message) {
  return Related{ts_node_start_byte(node), ts_node_end_byte(node), std::move(message)};
}

struct RuleContext {
  const model::Model& model;
  const RuleOptionValues& options;
  Reporter& reporter;
  [[nodiscard]] std::string_view text(TSNode n) const { return model.text(n); }
};

struct Rule {
  const RuleMeta* meta = nullptr;
  void (*check)(RuleContext&) = nullptr;
};

} // namespace oomlint
