#pragma once
// Parsing that keeps going after a syntax error. tree-sitter's own error recovery sometimes
// swallows the rest of a file into one ERROR node; then the line where the error starts is
// blanked (replaced by spaces, so every byte offset stays the same) and the text re-parsed,
// a few times at most. The first problem is always reported from the original parse.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// A tree of an earlier text, not edited, and the edits made to that text since, in order, told
// two ways: exactly as made, and as changes of the whole lines they touch (line_edit() in
// analyzer/driver/relint_scope.hpp).
struct EarlierTree {
  const Tree& tree;
  const std::vector<TSInputEdit>& exact;
  const std::vector<TSInputEdit>& lines;
};

// `text` parsed reusing `earlier`. tree-sitter 0.20 re-parses only what changed for most edits,
// but for some it re-parses far more, more slowly than from scratch: told exactly, a character
// deleted at the end of a line; told as whole lines, a line before a change of indentation. Each
// way is given a short time (about a quarter of a parse from scratch), then the text is parsed from
// scratch.
Tree reparse(Parser& parser, std::string_view text, const EarlierTree& earlier);

// The first ERROR or MISSING node in document order, found without recursion.
std::optional<FirstProblem> first_problem(TSNode root);

// `earlier` makes the first parse incremental (reparse()).
RecoveredParse parse_with_recovery(Parser& parser, std::string_view text, int max_attempts = 8,
                                   const EarlierTree* earlier = nullptr);

} // namespace oomlint::syntax
