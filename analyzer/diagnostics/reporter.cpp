#include "analyzer/rule_api.hpp"

namespace oomlint {

void Reporter::report(const RuleMeta& meta, TSNode node, std::string message, std::optional<Fix> fix,
                      std::optional<Severity> severity) {
  report_range(meta, ts_node_start_byte(node), ts_node_end_byte(node), m_model.statement_row(node), std::move(message),
               std::move(fix), severity);
}

void Reporter::report_range(const RuleMeta& meta, std::uint32_t start, std::uint32_t end, std::uint32_t noqa_row,
                            std::string message, std::optional<Fix> fix, std::optional<Severity> severity) {
  Finding f;
  f.code = std::string(meta.code);
  f.name = std::string(meta.name);
  f.severity = severity.value_or(meta.severity);
  f.message = std::move(message);
  f.start = start;
  f.end = end;
  f.noqa_row = noqa_row;
  f.fix = std::move(fix);
  m_findings.push_back(std::move(f));
}

} // namespace oomlint
