#pragma once
// What a verification runs: which findings can be measured and how (their rules' declared
// `verify`), where each one's probe point goes, and the program's texts as written and with a
// finding's fix applied, each with the probe's calls inserted. Nothing is written to the
// user's files: the probe serves these texts through an import hook.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "analyzer/diagnostics/finding.hpp"
#include "analyzer/driver/linter.hpp"
#include "analyzer/rule_api.hpp"
#include "analyzer/service/lint_service.hpp"
#include "analyzer/source/source_file.hpp"
#include "analyzer/support/expected.hpp"

namespace oomlint::verify {

struct PlannedFinding {
  Finding finding;
  std::string path; // absolute, normalised
  VerifyMeasure measure = VerifyMeasure::None;
  int probe = -1;                 // the probe point measuring it; -1 with `skip_reason`
  std::optional<Fix> fix;         // the rule's own fix, or the verification transform
  std::string fix_used;           // what the report calls it
  std::optional<Fix> alternative; // a second fix measured for comparison (`.detach()` alone)
  std::string alternative_used;
  std::string skip_reason;
};

class Plan {
public:
  std::vector<PlannedFinding> findings;

  [[nodiscard]] std::vector<int> probe_ids() const;
  // The probe points around one statement: measured once a before/after pair exists.
  [[nodiscard]] const std::vector<int>& statement_probe_ids() const { return m_statements; }
  [[nodiscard]] const SourceFile& source(const std::string& path) const { return *m_sources.at(path); }
  // Every planned file with its probe calls, as written.
  [[nodiscard]] std::map<std::string, std::string> instrumented() const;
  // The same with these fixes applied to `path` through the lint service (the path `--fix`
  // takes); an error when they cannot be applied as they are.
  [[nodiscard]] Expected<std::map<std::string, std::string>> instrumented_with(const std::string& path,
                                                                               const std::vector<const Fix*>& fixes,
                                                                               const service::LintService& service,
                                                                               syntax::Parser& parser) const;

  void add_source(const std::string& path, std::shared_ptr<const SourceFile> source);
  // A probe point at the first statement of a loop's body or of a function (`at`, a line start),
  // shared by every finding there; `entered`, the loop's own line, marks each entry into it.
  int probe_at(const std::string& path, std::uint32_t at, std::optional<std::uint32_t> entered);
  // A probe point before and after one statement (the lines from `line` to `after`).
  int probe_around(const std::string& path, std::uint32_t line, std::uint32_t after);

private:
  void insert(const std::string& path, std::uint32_t at, std::string_view call, int id);

  std::map<std::string, std::shared_ptr<const SourceFile>> m_sources;
  std::map<std::string, std::vector<Edit>> m_probe_calls;        // path -> insertions
  std::map<std::pair<std::string, std::uint32_t>, int> m_shared; // (path, at) -> probe id
  std::vector<int> m_statements;
  int m_next = 0;
};

// Plans the findings of a lint run that their rules declare measurable.
Plan plan_verification(const std::vector<FileReport>& reports, const LintSettings& settings);

// Where a zero-width insertion at `at` in a text lands once `edits` are applied to it (an
// insertion at the same place goes first); nullopt when an edit rewrites the text around it.
std::optional<std::uint32_t> offset_after_edits(std::uint32_t at, const std::vector<Edit>& edits);

} // namespace oomlint::verify
