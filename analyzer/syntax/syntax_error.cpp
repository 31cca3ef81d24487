#include "analyzer/syntax/syntax_error.hpp"

#include <algorithm>
#include <optional>
#include <vector>

#include "analyzer/syntax/parser.hpp"

namespace oomlint::syntax {

namespace {

// Deep enough for any real file; a bound so that a corrupt tree cannot loop forever.
constexpr int kMaxDescent = 100000;
constexpr int kMaxBracketScan = 200000;

TSNode first_leaf(TSNode node) {
  for (int depth = 0; ts_node_child_count(node) > 0 && depth < kMaxDescent; ++depth) {
    node = ts_node_child(node, 0);
  }
  return node;
}

TSNode last_leaf(TSNode node) {
  for (int depth = 0; ts_node_child_count(node) > 0 && depth < kMaxDescent; ++depth) {
    node = ts_node_child(node, ts_node_child_count(node) - 1);
  }
  return node;
}

bool is_comment(TSNode n) {
  return std::string_view(ts_node_type(n)) == "comment";
}

// The first opening bracket inside the error that is never closed, as CPython reports it.
std::optional<TSNode> unclosed_bracket(TSNode error) {
  std::vector<TSNode> open;
  TSTreeCursor cursor = ts_tree_cursor_new(error);
  int budget = kMaxBracketScan;
  bool more = true;
  while (more && budget-- > 0) {
    const TSNode n = ts_tree_cursor_current_node(&cursor);
    if (ts_node_child_count(n) == 0) {
      const std::string_view type = ts_node_type(n);
      if (type == "(" || type == "[" || type == "{") {
        open.push_back(n);
      } else if ((type == ")" || type == "]" || type == "}") && !open.empty()) {
        open.pop_back();
      }
    }
    if (ts_tree_cursor_goto_first_child(&cursor)) {
      continue;
    }
    while (!ts_tree_cursor_goto_next_sibling(&cursor)) {
      if (!ts_tree_cursor_goto_parent(&cursor)) {
        more = false;
        break;
      }
    }
  }
  ts_tree_cursor_delete(&cursor);
  if (open.empty()) {
    return std::nullopt;
  }
  return open.front();
}

// The error starts on a later line than the statement part it belongs to: that header's line
// ended early. Returns the header's last token.
std::optional<TSNode> unfinished_header(TSNode error) {
  const TSNode parent = ts_node_parent(error);
  if (ts_node_is_null(parent)) {
    return std::nullopt;
  }
  const std::string_view type = ts_node_type(parent);
  if (type == "module" || type == "block" || type == "ERROR") {
    return std::nullopt;
  }
  TSNode prev = ts_node_prev_sibling(error);
  while (!ts_node_is_null(prev) && is_comment(prev)) {
    prev = ts_node_prev_sibling(prev);
  }
  if (ts_node_is_null(prev) || ts_node_end_point(prev).row >= ts_node_start_point(error).row) {
    return std::nullopt;
  }
  return last_leaf(prev);
}

SyntaxErrorDescription description_at(SyntaxErrorKind kind, TSNode node, std::string_view detail) {
  return SyntaxErrorDescription{kind, ts_node_start_byte(node), ts_node_end_byte(node), ts_node_start_point(node).row,
                                detail};
}

} // namespace

SyntaxErrorDescription describe_syntax_error(TSNode problem, bool missing, std::string_view source) {
  if (missing) {
    SyntaxErrorDescription out = description_at(SyntaxErrorKind::MissingToken, problem, ts_node_type(problem));
    out.end = out.start; // a missing token has no text; point between its neighbours
    return out;
  }
  if (auto header_end = unfinished_header(problem)) {
    return description_at(SyntaxErrorKind::UnfinishedHeader, *header_end, {});
  }
  if (auto bracket = unclosed_bracket(problem)) {
    return description_at(SyntaxErrorKind::UnclosedBracket, *bracket, ts_node_type(*bracket));
  }
  const TSNode leaf = first_leaf(problem);
  return description_at(SyntaxErrorKind::UnexpectedToken, leaf, node_text(leaf, source));
}

namespace {

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// What precedes `at` on the line, skipping spaces: `=`, `,` or a keyword that opens an
// expression list (`return`, `yield`, `in`). Compound operators (`==`, `+=`, `**=`) do not count.
bool opens_an_expression_list(std::string_view line, std::size_t at) {
  std::size_t i = at;
  while (i > 0 && line[i - 1] == ' ') {
    --i;
  }
  if (i == 0) {
    return false;
  }
  const char before = line[i - 1];
  if (before == ',') {
    return true;
  }
  if (before == '=') {
    return i < 2 || std::string_view("=<>!+-*/%&|^@:").find(line[i - 2]) == std::string_view::npos;
  }
  std::size_t start = i;
  while (start > 0 && is_word_char(line[start - 1])) {
    --start;
  }
  const std::string_view word = line.substr(start, i - start);
  return word == "return" || word == "yield" || word == "in";
}

} // namespace

bool is_grammar_gap(TSNode problem, std::string_view source) {
  const std::uint32_t at = std::min<std::uint32_t>(ts_node_start_byte(problem), source.size());
  const std::size_t line_start = source.rfind('\n', at == 0 ? 0 : at - 1);
  const std::size_t from = line_start == std::string_view::npos || at == 0 ? 0 : line_start + 1;
  const std::size_t line_end = source.find('\n', at);
  const std::string_view line =
      source.substr(from, (line_end == std::string_view::npos ? source.size() : line_end) - from);
  int depth = 0;
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote != 0) {
      quote = c == quote ? 0 : quote;
      continue;
    }
    if (c == '#') {
      break;
    }
    if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '(' || c == '[' || c == '{') {
      ++depth;
    } else if (c == ')' || c == ']' || c == '}') {
      --depth;
    } else if (c == '*' && depth == 0 && (i + 1 >= line.size() || line[i + 1] != '*') &&
               (i == 0 || line[i - 1] != '*') && opens_an_expression_list(line, i)) {
      return true;
    }
  }
  return false;
}

} // namespace oomlint::syntax
