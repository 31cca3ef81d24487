#pragma once
// How a syntax error reads to a user. tree-sitter reports an ERROR or MISSING node where its
// recovery gave up, which is often far from the mistake; CPython's messages point at the
// cause instead (a header without its `:`, a bracket never closed), and so do we.
#include <cstdint>
#include <string_view>

#include <tree_sitter/api.h>

namespace oomlint::syntax {

enum class SyntaxErrorKind : std::uint8_t {
  MissingToken,     // the parser needed a token that is not there; `detail` names it (`)`, `:`)
  UnfinishedHeader, // a line ends before its statement does, typically without its `:`
  UnclosedBracket,  // `detail` is the bracket that is never closed
  UnexpectedToken,  // `detail` is the source of the first token the parser could not place
};

struct SyntaxErrorDescription {
  SyntaxErrorKind kind = SyntaxErrorKind::UnexpectedToken;
  std::uint32_t start = 0; // the bytes to point at
  std::uint32_t end = 0;
  std::uint32_t row = 0;   // 0-based row of `start`
  std::string_view detail; // see SyntaxErrorKind; may be empty for an unexpected token
};

// Describes the first syntax problem of a parse (`recovery.hpp`'s `first_problem`, an ERROR
// node or, with `missing`, a MISSING one) in the original `source`. Checked in this order:
// a missing token, a header line that ended early, a bracket the error leaves open, and
// otherwise the error's first token.
SyntaxErrorDescription describe_syntax_error(TSNode problem, bool missing, std::string_view source);

// Whether the line an ERROR node starts on is Python that the grammar cannot read: a starred
// element at the top level of an expression list (`shape = *lead, -1, 1`, `return a, *rest`),
// valid since Python 3.5/3.8. Reporting a syntax error there would be wrong.
bool is_grammar_gap(TSNode problem, std::string_view source);

} // namespace oomlint::syntax
