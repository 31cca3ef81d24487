#pragma once
// Lints sources with a set of rules: parse, build the model, run the enabled rules, drop
// suppressed findings. lint_files() spreads files over a pool of workers, one parser each.
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "analyzer/config/config.hpp"
#include "analyzer/diagnostics/finding.hpp"
#include "analyzer/driver/relint_scope.hpp"
#include "analyzer/model/project.hpp"
#include "analyzer/rule_api.hpp"
#include "analyzer/source/source_file.hpp"
#include "analyzer/support/expected.hpp"
#include "analyzer/syntax/parser.hpp"

namespace oomlint {

class LintCache;

struct LintSettings {
  std::vector<Rule> rules;       // the whole catalog
  std::set<std::string> enabled; // codes to run
  const Config* config = nullptr;
  const LintCache* cache = nullptr; // results of earlier runs (`oomlint check`); none: lint everything
};

struct FileReport {
  std::string path;
  std::shared_ptr<const SourceFile> source; // null when the file could not be read
  std::vector<Finding> findings;
  std::optional<Error> error;
  // Worth a warning, not a failure: a `# noqa` naming an oomlint code that does not exist.
  std::vector<std::string> notices;
};

// Lints one source on its own (stdin, fixes); `project` adds the run's facts when given.
FileReport lint_source(std::shared_ptr<const SourceFile> source, syntax::Parser& parser, const LintSettings& settings,
                       const model::ProjectContext* project = nullptr);

// What linting a buffer again starts from: its last lint and the edits made to it since.
struct PreviousLint {
  const syntax::Tree& tree; // the last parse, not edited
  const FileReport* report; // null: analyse the whole buffer again (only the parse is incremental)
  const std::vector<TopLevelUnit>& units;
  const std::vector<TSInputEdit>& edits;       // in the order they were made, as whole lines (line_edit)
  const std::vector<TSInputEdit>& exact_edits; // the same edits as made (exact_edit)
};

struct BufferResult {
  FileReport report;
  syntax::Tree tree;
  std::vector<TopLevelUnit> units; // what the next incremental lint starts from
  // Only what the edits reach was analysed (relint_scope.hpp); a lint of the whole module may
  // still differ where a fact of the whole module changed.
  bool provisional = false;
};

// Lints a buffer after edits: the statements the edits can reach are analysed again, the rest
// of the previous findings move with the text. Without `previous` (or when the edits changed
// the module's shape), the whole buffer is linted.
BufferResult lint_buffer_incrementally(std::shared_ptr<const SourceFile> source, syntax::Parser& parser,
                                       const LintSettings& settings, const model::ProjectContext* project,
                                       const PreviousLint* previous);

// Runs `work(i, parser)` for i in [0, count) on up to `jobs` threads, one parser per thread.
void for_each_parallel(size_t count, int jobs, const std::function<void(size_t, syntax::Parser&)>& work);

// One module of a project run: a file to read, or a text already in memory (stdin, an edited
// buffer) under its path.
struct LintInput {
  std::string path;
  std::shared_ptr<const SourceFile> source; // null: read `path`
};

// A whole run's results, with what is needed to lint one of its modules again with the same
// project-wide facts (the fix loop re-lints each pass's text).
struct ProjectRun {
  std::vector<FileReport> reports;             // in the order of the inputs
  std::vector<model::ProjectContext> contexts; // per input; `facts` points into `facts` below
  std::unique_ptr<model::ProjectFacts> facts;
};

// Reads and lints every input as one project: each module is parsed once, summarised, and
// re-analysed (from the same tree) where another module's facts change what it means.
// Reports come back in the order of the inputs, whatever `jobs` is.
ProjectRun lint_project(const std::vector<LintInput>& inputs, const LintSettings& settings, int jobs);

// lint_project() over files on disk.
std::vector<FileReport> lint_files(const std::vector<std::string>& paths, const LintSettings& settings, int jobs);

} // namespace oomlint
