#pragma once
// Pre-order walks over a subtree with a TSTreeCursor (no recursion, no allocation per node).
#include <tree_sitter/api.h>

namespace oomlint::syntax {

// Calls `visit(node)` for `root` and its named descendants in document order; when `visit`
// returns false the node's children are skipped.
template <typename Visit> void walk_named(TSNode root, Visit&& visit) {
  if (ts_node_is_null(root)) {
    return;
  }
  TSTreeCursor cursor = ts_tree_cursor_new(root);
  bool descend = visit(root);
  while (true) {
    if (descend && ts_tree_cursor_goto_first_child(&cursor)) {
      // fall through to visit the child
    } else {
      bool moved = false;
      while (!moved) {
        if (ts_tree_cursor_goto_next_sibling(&cursor)) {
          moved = true;
        } else if (!ts_tree_cursor_goto_parent(&cursor)) {
          ts_tree_cursor_delete(&cursor);
          return;
        }
      }
    }
    const TSNode node = ts_tree_cursor_current_node(&cursor);
    descend = ts_node_is_named(node) ? visit(node) : false;
  }
}

// Calls `visit(child)` for each named child of `node` in order, until `visit` returns false.
// ts_node_named_child(node, i) walks the children from the first each time (tree-sitter 0.20),
// so a loop over it costs the square of their number; a cursor steps once per child.
template <typename Visit> void for_each_named_child(TSNode node, Visit&& visit) {
  if (ts_node_is_null(node)) {
    return;
  }
  TSTreeCursor cursor = ts_tree_cursor_new(node);
  for (bool more = ts_tree_cursor_goto_first_child(&cursor); more; more = ts_tree_cursor_goto_next_sibling(&cursor)) {
    const TSNode child = ts_tree_cursor_current_node(&cursor);
    if (ts_node_is_named(child) && !visit(child)) {
      break;
    }
  }
  ts_tree_cursor_delete(&cursor);
}

} // namespace oomlint::syntax
