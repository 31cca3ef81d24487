#pragma once
// How findings are shown: text (with code frames), concise (one line each), json (Ruff's shape),
// sarif and github (ci_formats.cpp).
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/driver/linter.hpp"
#include "analyzer/rule_api.hpp"

namespace oomlint {

struct EmitOptions {
  bool color = false;
  std::string docs_url_base; // a rule's page is docs_url_base + CODE + ".md"
};

std::string emit_text(const std::vector<FileReport>& reports, const EmitOptions& options);
std::string emit_concise(const std::vector<FileReport>& reports, const EmitOptions& options);
std::string emit_json(const std::vector<FileReport>& reports, const EmitOptions& options);
// SARIF 2.1.0 with the rule catalog in tool.driver.rules, help URIs and fixes.
std::string emit_sarif(const std::vector<FileReport>& reports, const std::vector<const RuleMeta*>& catalog,
                       const EmitOptions& options, std::string_view version);
// GitHub workflow annotations (`::error file=...,line=...::message`).
std::string emit_github(const std::vector<FileReport>& reports);
// JUnit XML: a test suite per file, a failed test case per finding.
std::string emit_junit(const std::vector<FileReport>& reports);
// GitLab Code Quality JSON, with fingerprints that survive lines moving.
std::string emit_gitlab(const std::vector<FileReport>& reports);
// Findings under a header per file (`  41:9 OOM101 [-] message`).
std::string emit_grouped(const std::vector<FileReport>& reports, const EmitOptions& options);
// "Found 3 findings (1 error, 2 warnings)." or "All checks passed!" — never the latter when a
// file could not be checked or something else failed (a path missing, a fix not written).
std::string summary_line(const std::vector<FileReport>& reports, const EmitOptions& options, bool other_errors = false);
// Counts per rule, most frequent first.
std::string emit_statistics(const std::vector<FileReport>& reports, bool json);

// The code frame of one finding: the line(s) with a caret line under the span.
std::string code_frame(const SourceFile& source, const Finding& finding, bool color);

} // namespace oomlint
