#include "analyzer/syntax/syntax_error.hpp"

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

} // namespace oomlint::syntax
