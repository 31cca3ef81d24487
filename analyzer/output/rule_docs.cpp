#include "analyzer/output/rule_docs.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace oomlint {

std::string_view to_string(VerifyMeasure m) {
  switch (m) {
  case VerifyMeasure::None:
    return "none";
  case VerifyMeasure::Growth:
    return "growth";
  case VerifyMeasure::Peak:
    return "peak";
  case VerifyMeasure::Time:
    return "time";
  case VerifyMeasure::Load:
    return "load";
  }
  return "none";
}

namespace {

// What `oomlint verify` measures for the rule, in a sentence.
std::string verification_sentence(const RuleMeta& m) {
  switch (m.verify.measure) {
  case VerifyMeasure::None:
    return "not measured by `oomlint verify`";
  case VerifyMeasure::Growth:
    return "`oomlint verify` measures memory growth per pass of the flagged loop, as written and fixed";
  case VerifyMeasure::Peak:
    return "`oomlint verify` measures the peak allocated memory per pass, as written and fixed";
  case VerifyMeasure::Time:
    return "`oomlint verify` measures the time per pass, as written and fixed";
  case VerifyMeasure::Load:
    return "`oomlint verify` measures what the flagged statement needs on the GPU (its own peak included), as "
           "written and fixed";
  }
  return {};
}

// What a finding without a fix of its own is measured against.
std::string transform_clause(const RuleMeta& m) {
  switch (m.verify.transform) {
  case VerifyTransform::None:
    return "";
  case VerifyTransform::DropStatement:
    return "; a finding without a fix is measured against the program without the flagged statement";
  case VerifyTransform::StoreDetachedCpu:
    return "; a finding without a fix is measured against storing `.detach().cpu()` (and `.detach()` alone, for "
           "comparison)";
  case VerifyTransform::NoGradStatement:
    return "; a finding without a fix is measured against its statement run under `torch.no_grad()`";
  }
  return "";
}

std::string code_block(std::string_view code) {
  std::string body(code);
  if (!body.empty() && body.back() != '\n') {
    body += '\n';
  }
  return fmt::format("```python\n{}```\n", body);
}

nlohmann::json meta_json(const RuleMeta& m) {
  nlohmann::json options = nlohmann::json::array();
  for (const RuleOption& o : m.options) {
    options.push_back({{"name", o.name}, {"type", o.type}, {"default", o.default_value}, {"doc", o.doc}});
  }
  return {{"code", m.code},
          {"name", m.name},
          {"severity", to_string(m.severity)},
          {"default_enabled", m.default_enabled},
          {"fix", to_string(m.fix)},
          {"summary", m.summary},
          {"what", m.what},
          {"why", m.why},
          {"example", m.example},
          {"use_instead", m.use_instead},
          {"fine_when", m.fine_when},
          {"fix_safety", m.fix_safety},
          {"options", options},
          {"measured", m.measured},
          {"references", m.references},
          {"verify", to_string(m.verify.measure)}};
}

} // namespace

std::string rule_markdown(const RuleMeta& m) {
  std::string out = fmt::format("# {} {}\n\n", m.code, m.name);
  out += fmt::format("{}.\n\n", m.summary);
  out += fmt::format("Severity: {}. Enabled by default: {}. Fix: {}.\n\n", to_string(m.severity),
                     m.default_enabled ? "yes" : "no", to_string(m.fix));
  out += fmt::format("## What it does\n\n{}\n\n", m.what);
  out += fmt::format("## Why it costs memory\n\n{}\n\n", m.why);
  out += fmt::format("## Example\n\n{}\n", code_block(m.example));
  out += fmt::format("## Use instead\n\n{}\n", code_block(m.use_instead));
  out += fmt::format("## When it is fine\n\n{}\n\n", m.fine_when);
  if (m.fix != FixAvailability::Never) {
    out += fmt::format("## Fix safety\n\n{}\n\n", m.fix_safety);
  } else if (!m.fix_safety.empty()) {
    out += fmt::format("## Why there is no fix\n\n{}\n\n", m.fix_safety);
  }
  if (!m.options.empty()) {
    out += "## Options\n\n";
    for (const RuleOption& o : m.options) {
      out += fmt::format("- `{}` ({}, default `{}`): {} Set it under `[tool.oomlint.options.{}]`.\n", o.name, o.type,
                         o.default_value, o.doc, m.code);
    }
    out += "\n";
  }
  out += fmt::format("## Measured impact\n\n{}\n\n", m.measured.empty() ? "Not measured yet." : m.measured);
  out += fmt::format("Verification: {}{}.\n\n", verification_sentence(m), transform_clause(m));
  out += fmt::format("## References\n\n- {}\n", m.references);
  return out;
}

std::string rule_catalog_text(const std::vector<const RuleMeta*>& catalog) {
  std::string out;
  for (const RuleMeta* m : catalog) {
    out += fmt::format("{}  {:<32} {:<8} fix:{:<10} {}{}\n", m->code, m->name, to_string(m->severity),
                       to_string(m->fix), m->summary, m->default_enabled ? "" : " (off by default)");
  }
  return out;
}

std::string rule_catalog_json(const std::vector<const RuleMeta*>& catalog) {
  nlohmann::json list = nlohmann::json::array();
  for (const RuleMeta* m : catalog) {
    list.push_back(meta_json(*m));
  }
  return list.dump(2) + "\n";
}

std::string rule_json(const RuleMeta& meta) {
  return meta_json(meta).dump(2) + "\n";
}

} // namespace oomlint
