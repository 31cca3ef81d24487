#pragma once
// Applying fixes the way `ruff check --fix` does: non-overlapping edits, repeated until nothing
// changes (a bounded number of passes), every result re-parsed; a fix whose result would not
// parse is dropped with a message instead of being written.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "analyzer/config/config.hpp"
#include "analyzer/diagnostics/finding.hpp"
#include "analyzer/driver/linter.hpp"
#include "analyzer/source/source_file.hpp"
#include "analyzer/support/expected.hpp"

namespace oomlint {

namespace syntax {
class Parser;
}

struct FixPolicy {
  bool unsafe = false;           // --unsafe-fixes
  std::set<std::string> fixable; // codes whose fixes may be applied (config fixable/unfixable)
  int max_passes = 10;
};

struct AppliedFix {
  std::string code;
  std::string name;
  std::string message;
};

struct FixOutcome {
  std::shared_ptr<const SourceFile> original; // as read
  std::shared_ptr<const SourceFile> fixed;    // the text after all passes (same object when unchanged)
  std::vector<AppliedFix> applied;
  std::vector<std::string> dropped; // why a fix was left out ("would not parse", ...)
  FileReport report;                // the findings that remain in the fixed text
  [[nodiscard]] bool changed() const { return !applied.empty(); }
};

// Whether a finding's fix may be applied under the policy.
bool fix_allowed(const Finding& finding, const FixPolicy& policy);

// Fixes one source in memory; nothing is written. `project` gives the run's facts, so that
// fixing finds what `check` finds.
FixOutcome fix_source(std::shared_ptr<const SourceFile> source, syntax::Parser& parser, const LintSettings& settings,
                      const FixPolicy& policy, const model::ProjectContext* project = nullptr);

// Applies exactly these fixes to a source as `--fix` applies a pass (the file's own line
// ending); an error when two of them overlap or the result would not parse. The verifier
// measures a finding's fix through this, so what it runs is what `--fix` would write.
Expected<std::string> apply_exactly(const SourceFile& source, const std::vector<const Fix*>& fixes,
                                    syntax::Parser& parser);

// Applies non-overlapping fixes to a text; `chosen` receives the indices of the fixes used.
std::string apply_fixes(std::string_view text, const std::vector<const Fix*>& fixes, std::vector<size_t>& chosen,
                        std::string_view newline);

// The codes whose fixes configuration allows (`fixable` defaults to every code, `unfixable`
// removes codes).
std::set<std::string> fixable_codes(const Config& config, const std::vector<const RuleMeta*>& catalog);

} // namespace oomlint
