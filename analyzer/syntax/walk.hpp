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

} // namespace oomlint::syntax
