#include "analyzer/syntax/recovery.hpp"

namespace oomlint::syntax {

namespace {

bool is_error(TSNode n) {
  return ts_node_symbol(n) == static_cast<TSSymbol>(-1);
}

// The first node (in document order) that `matches`, visiting only subtrees holding errors.
template <typename Match> std::optional<TSNode> find_first(TSNode root, Match matches) {
  if (!ts_node_has_error(root)) {
    return std::nullopt;
  }
  TSTreeCursor cursor = ts_tree_cursor_new(root);
  std::optional<TSNode> found;
  while (true) {
    TSNode n = ts_tree_cursor_current_node(&cursor);
    if (matches(n)) {
      found = n;
      break;
    }
    if (ts_node_has_error(n) && ts_tree_cursor_goto_first_child(&cursor)) {
      continue;
    }
    bool done = false;
    while (!ts_tree_cursor_goto_next_sibling(&cursor)) {
      if (!ts_tree_cursor_goto_parent(&cursor)) {
        done = true;
        break;
      }
    }
    if (done) {
      break;
    }
  }
  ts_tree_cursor_delete(&cursor);
  return found;
}

// The first ERROR node; a tree with only MISSING tokens is structurally fine.
std::optional<TSNode> first_error(TSNode root) {
  return find_first(root, is_error);
}

} // namespace

Tree reparse(Parser& parser, std::string_view text, const EarlierTree& earlier) {
  // tree-sitter parses about 20 MB/s here: a quarter of a parse from scratch, and at least 0.5 ms.
  const std::uint64_t budget_micros = 500 + text.size() / 80;
  // Something deleted up to the end of a line is the case told exactly that goes wrong: there
  // the whole lines are tried first.
  bool deletes_to_line_end = false;
  for (std::size_t k = 0; k < earlier.exact.size() && k < earlier.lines.size(); ++k) {
    const TSInputEdit& e = earlier.exact[k];
    deletes_to_line_end =
        deletes_to_line_end || (e.old_end_byte > e.start_byte && e.old_end_byte + 1 == earlier.lines[k].old_end_byte);
  }
  const auto* first = deletes_to_line_end ? &earlier.lines : &earlier.exact;
  const auto* second = deletes_to_line_end ? &earlier.exact : &earlier.lines;
  for (const std::vector<TSInputEdit>* edits : {first, second}) {
    Tree edited(ts_tree_copy(earlier.tree.get()));
    for (const TSInputEdit& e : *edits) {
      ts_tree_edit(edited.get(), &e);
    }
    if (Tree tree = parser.parse_within(text, &edited, budget_micros)) {
      return tree;
    }
  }
  return parser.parse(text);
}

std::optional<FirstProblem> first_problem(TSNode root) {
  const auto node = find_first(root, [](TSNode n) { return is_error(n) || ts_node_is_missing(n); });
  if (!node) {
    return std::nullopt;
  }
  return FirstProblem{*node, ts_node_is_missing(*node)};
}

RecoveredParse parse_with_recovery(Parser& parser, std::string_view text, int max_attempts,
                                   const EarlierTree* earlier) {
  RecoveredParse out;
  out.original = earlier != nullptr ? reparse(parser, text, *earlier) : parser.parse(text);
  if (!out.original) {
    return out;
  }
  out.problem = first_problem(out.original.root());
  if (!out.problem) {
    return out;
  }
  std::string patched(text);
  const Tree* current = &out.original;
  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    const std::optional<TSNode> error = first_error(current->root());
    if (!error) {
      break;
    }
    // Blank the line where the error starts; keep newlines so rows and offsets stay put.
    size_t start = ts_node_start_byte(*error);
    while (start > 0 && patched[start - 1] != '\n') {
      --start;
    }
    size_t end = ts_node_start_byte(*error);
    while (end < patched.size() && patched[end] != '\n') {
      ++end;
    }
    bool changed = false;
    for (size_t i = start; i < end; ++i) {
      if (patched[i] != ' ' && patched[i] != '\r') {
        patched[i] = ' ';
        changed = true;
      }
    }
    if (!changed) {
      break;
    }
    // Blanking keeps every offset and point: the tree just parsed, told of it, is reused. It is
    // told the whole line with its newline (see line_edit() in analyzer/driver/relint_scope.hpp).
    Tree edited(ts_tree_copy(current->get()));
    const std::uint32_t row = ts_node_start_point(*error).row;
    const bool newline = end < patched.size();
    TSInputEdit blanked{};
    blanked.start_byte = static_cast<std::uint32_t>(start);
    blanked.old_end_byte = static_cast<std::uint32_t>(newline ? end + 1 : end);
    blanked.new_end_byte = blanked.old_end_byte;
    blanked.start_point = TSPoint{row, 0};
    blanked.old_end_point = newline ? TSPoint{row + 1, 0} : TSPoint{row, static_cast<std::uint32_t>(end - start)};
    blanked.new_end_point = blanked.old_end_point;
    ts_tree_edit(edited.get(), &blanked);
    Tree next = parser.parse(patched, &edited);
    if (!next) {
      break;
    }
    out.recovered = std::move(next);
    current = &out.recovered;
  }
  if (out.recovered) {
    out.patched_text = std::move(patched);
  }
  return out;
}

} // namespace oomlint::syntax
