// The walk: one iterative TSTreeCursor pass that opens statements, skips what the model cannot
// read, and hands each named node to its visit_* method (see builder.hpp).
#include "analyzer/model/builder.hpp"

#include <algorithm>

namespace oomlint::model {

void Model::Impl::build(TSNode root) {
  // Typical training code binds a name every 60 bytes and calls something every 50; growing the
  // vectors from nothing moved every binding and call about twice.
  bindings.reserve(src.size() / 60 + 16);
  m.m_calls.reserve(src.size() / 50 + 16);
  ModelBuilder(*this).build(root);
}

ModelBuilder::ModelBuilder(Model::Impl& impl) : d(impl), m(impl.m), g(impl.g) {}

void ModelBuilder::build(TSNode root) {
  Scope module_scope;
  module_scope.kind = ScopeKind::Module;
  module_scope.node = root;
  module_scope.body = root;
  m.m_scopes.push_back(module_scope);
  d.scope_names.emplace_back();
  tree_has_error = ts_node_has_error(root);

  TSTreeCursor cursor = ts_tree_cursor_new(root);
  frames.reserve(256);
  bool done = false;
  while (!done) {
    TSNode node = ts_tree_cursor_current_node(&cursor);
    if (frames.size() == 1 && !in_focus(node)) {
      // A top-level statement outside the focus: not built, as if the module did not hold it.
      if (ts_tree_cursor_goto_next_sibling(&cursor)) {
        continue;
      }
      ts_tree_cursor_goto_parent(&cursor);
      leave(frames.back());
      frames.pop_back();
      break;
    }
    const TSSymbol sym = ts_node_symbol(node);
    // Field lookups cost a scan of the parent's field map: only blocks need theirs.
    const TSFieldId fid = sym == g.sym.block ? ts_tree_cursor_current_field_id(&cursor) : 0;
    Frame frame;
    frame.node = node;
    const bool descend = enter(node, sym, fid, frame);
    frames.push_back(frame);
    if (descend && ts_tree_cursor_goto_first_child(&cursor)) {
      continue;
    }
    // Leave nodes until one has a next sibling.
    while (true) {
      leave(frames.back());
      frames.pop_back();
      if (ts_tree_cursor_goto_next_sibling(&cursor)) {
        break;
      }
      if (!ts_tree_cursor_goto_parent(&cursor)) {
        done = true;
        break;
      }
    }
  }
  ts_tree_cursor_delete(&cursor);
}

bool ModelBuilder::in_focus(TSNode top_level) const {
  const std::vector<std::uint32_t>& focus = d.options.focus;
  return focus.empty() || std::binary_search(focus.begin(), focus.end(), ts_node_start_byte(top_level));
}

bool ModelBuilder::enter(TSNode node, TSSymbol sym, TSFieldId fid, Frame& frame) {
  if (!frames.empty() && ts_node_is_named(node) && sym != g.sym.comment) {
    open_statement(node, frame);
  }
  if (tree_has_error && (sym == g.sym.error || ts_node_is_missing(node))) {
    if (!m.m_syntax_problem) {
      m.m_syntax_problem = SyntaxProblem{node, ts_node_is_missing(node)};
    }
    return false; // the model skips what it cannot read instead of guessing
  }
  if (!ts_node_is_named(node)) {
    return false;
  }
  return dispatch(node, sym, fid, frame) && ts_node_child_count(node) > 0;
}

// A node directly in a block or the module is a statement, nested in the one around it.
void ModelBuilder::open_statement(TSNode node, Frame& frame) {
  const TSSymbol parent_sym = ts_node_symbol(frames.back().node);
  if (parent_sym == g.sym.block || parent_sym == g.sym.module) {
    const std::int32_t parent_statement = open_statements.empty() ? kNone : open_statements.back();
    d.statements.push_back(StatementSpan{ts_node_start_byte(node), ts_node_end_byte(node),
                                         ts_node_start_point(node).row, parent_statement});
    open_statements.push_back(static_cast<std::int32_t>(d.statements.size() - 1));
    frame.pops_statement = true;
  }
}

bool ModelBuilder::dispatch(TSNode node, TSSymbol sym, TSFieldId fid, Frame& frame) {
  if (sym == g.sym.comment) {
    m.m_comments.push_back(node);
  } else if (sym == g.sym.string || sym == g.sym.parameters || sym == g.sym.lambda_parameters ||
             sym == g.sym.decorator || sym == g.sym.type) {
    // Nothing inside strings, parameter lists (read directly by bind_parameters), decorators
    // (read by the function facts) or annotations matters to a rule: do not walk into them.
    return false;
  } else if (sym == g.sym.expression_statement) {
    visit_expression_statement(node);
  } else if (sym == g.sym.call) {
    visit_call(node);
  } else if (sym == g.sym.assignment) {
    visit_assignment(node);
  } else if (sym == g.sym.augmented_assignment) {
    visit_augmented_assignment(node);
  } else if (sym == g.sym.function_definition) {
    visit_function_definition(node, frame);
  } else if (sym == g.sym.class_definition) {
    visit_class_definition(node, frame);
  } else if (sym == g.sym.lambda) {
    visit_lambda(node, frame);
  } else if (sym == g.sym.list_comprehension || sym == g.sym.set_comprehension ||
             sym == g.sym.dictionary_comprehension || sym == g.sym.generator_expression) {
    visit_comprehension(node, frame);
  } else if (sym == g.sym.for_in_clause) {
    visit_for_in_clause(node);
  } else if (sym == g.sym.for_statement || sym == g.sym.while_statement) {
    visit_loop(node, sym, frame);
  } else if (sym == g.sym.with_statement) {
    visit_with(node, frame);
  } else if (sym == g.sym.block && fid == g.field.body && !frames.empty()) {
    visit_body_block(node, frame);
  } else if (sym == g.sym.import_statement || sym == g.sym.import_from_statement) {
    visit_import(node, sym == g.sym.import_from_statement);
    return false;
  } else if (sym == g.sym.return_statement) {
    visit_return(node);
  } else if (sym == g.sym.global_statement || sym == g.sym.nonlocal_statement) {
    visit_global(node);
  } else if (sym == g.sym.except_clause) {
    visit_except_clause(node, frame);
  } else if (sym == g.sym.if_statement) {
    visit_if(node);
  } else if (sym == g.sym.named_expression) {
    visit_named_expression(node);
  }
  return true;
}

void ModelBuilder::leave(const Frame& frame) {
  if (frame.restores_scope) {
    scope = frame.saved_scope;
  }
  if (frame.restores_loop) {
    loop = frame.saved_loop;
    lexical_loop = frame.saved_lexical_loop;
  }
  if (frame.pops_except) {
    --except_depth;
  }
  if (frame.pops_statement) {
    open_statements.pop_back();
  }
}

TSNode ModelBuilder::parent_node() const {
  return frames.empty() ? TSNode{} : frames.back().node;
}

void ModelBuilder::enter_scope(Frame& frame, ScopeId inner) {
  frame.saved_scope = scope;
  frame.saved_loop = loop;
  frame.saved_lexical_loop = lexical_loop;
  frame.restores_scope = frame.restores_loop = true;
  scope = inner;
  loop = kNone;
}

} // namespace oomlint::model
