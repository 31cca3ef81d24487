#pragma once
// `oomlint explain [FILE|-]`: reads a log, finds its CUDA out-of-memory errors, says which
// problem the last one is and what to do, and lints the project files its traceback names.
#include <optional>
#include <string>

#include "analyzer/service/lint_service.hpp"

namespace oomlint::cli {

struct ExplainArgs {
  std::string input; // a log file, `-` for stdin; empty: stdin, unless it is a terminal
  std::string output_format = "text";
  bool no_lint = false; // do not lint the files of the traceback
};

struct ExplainOutcome {
  int exit_code = 0;                // 1: an OOM was found, 0: none, 2: error
  std::string output;               // for stdout
  std::optional<std::string> error; // for stderr, with exit code 2
};

ExplainOutcome run_explain(const ExplainArgs& args, service::LintService& lint_service);

} // namespace oomlint::cli
