#pragma once
// Parsing that keeps going after a syntax error. tree-sitter's own error recovery sometimes
// swallows the rest of a file into one ERROR node; then the line where the error starts is
// blanked (replaced by spaces, so every byte offset stays the same) and the text re-parsed,
// a few times at most. The first problem is always reported from the original parse.
#include <optional>
#include <string>
#include <string_view>

#include "analyzer/syntax/parser.hpp"

namespace oomlint::syntax {

struct FirstProblem {
  TSNode node{}; // in `original`
  bool missing = false;
};

struct RecoveredParse {
  Tree original;                       // the parse of the real text
  Tree recovered;                      // empty when the original parsed cleanly or nothing helped
  std::string patched_text;            // the text `recovered` was parsed from
  std::optional<FirstProblem> problem; // the first ERROR or MISSING node of `original`

  [[nodiscard]] const Tree& best() const { return recovered ? recovered : original; }
};

// The first ERROR or MISSING node in document order, found without recursion.
std::optional<FirstProblem> first_problem(TSNode root);

// `previous`, a tree of an earlier text edited with ts_tree_edit to match this one, makes the
// first parse incremental.
RecoveredParse parse_with_recovery(Parser& parser, std::string_view text, int max_attempts = 8,
                                   const Tree* previous = nullptr);

} // namespace oomlint::syntax
