#pragma once
// The one traversal that builds the model: an iterative TSTreeCursor walk (no recursion, so
// 10,000 nested brackets cannot overflow the stack) that records scopes, bindings, loops,
// grad-mode regions, calls and the statements rules ask about.
//
// The walk (builder.cpp) hands each named node to one visit_* method by its kind. What the
// visits share (the scope and loop around the node, the statement call, the open `except`
// clauses) lives in members; what entering a node changed is kept in its Frame, so leaving the
// node undoes exactly that. The visits are split into files by concept:
//   builder_scopes.cpp    functions, classes, lambdas, comprehensions, loops, returns, globals
//   builder_bindings.cpp  assignments, imports, loop and walrus targets; accumulation and store candidates
//   builder_calls.cpp     calls: backward, requires_grad, mode switches, appends and meters
//   builder_regions.cpp   `with` grad modes, `if` guards, `except` clauses
#include <cstdint>
#include <string>
#include <vector>

#include <tree_sitter/api.h>

#include "analyzer/model/model_impl.hpp"

namespace oomlint::model {

class ModelBuilder {
public:
  explicit ModelBuilder(Model::Impl& impl);
  // Walks the tree once, recording into the model and its Impl.
  void build(TSNode root);

private:
  enum class GradEffect : std::uint8_t { None, Disable, Enable };

  // What entering a node changed, so leaving it can undo exactly that.
  struct Frame {
    TSNode node{};
    bool pops_statement = false;
    ScopeId saved_scope = kNone;
    LoopId saved_loop = kNone;
    LoopId saved_lexical_loop = kNone;
    bool restores_scope = false;
    bool restores_loop = false;
    bool pops_except = false;
    LoopId created_loop = kNone;               // for/while: the loop its body block activates
    GradEffect with_effect = GradEffect::None; // with: what its body block runs under
  };

  [[nodiscard]] static bool null(TSNode n) { return ts_node_is_null(n); }

  // --- the walk (builder.cpp)
  // Records the node and says whether to walk into its children.
  // The module-level statement is one the model builds (ModelOptions::focus).
  [[nodiscard]] bool in_focus(TSNode top_level) const;
  bool enter(TSNode node, TSSymbol sym, TSFieldId fid, Frame& frame);
  void open_statement(TSNode node, Frame& frame);
  // Hands a named node to its visit_* method; false when its children hold nothing to record.
  bool dispatch(TSNode node, TSSymbol sym, TSFieldId fid, Frame& frame);
  void leave(const Frame& frame);
  // The node's parent, or null at the root.
  [[nodiscard]] TSNode parent_node() const;
  // Enters a new scope (and a fresh loop nesting) for the node's children.
  void enter_scope(Frame& frame, ScopeId inner);

  // --- scopes and loops (builder_scopes.cpp)
  ScopeId new_scope(ScopeKind kind, TSNode node, TSNode body, std::string name);
  LoopId new_loop(LoopKind kind, TSNode node, TSNode iterable, std::uint32_t body_start, std::uint32_t body_end);
  void bind_parameters(TSNode params, ScopeId fn);
  void visit_function_definition(TSNode node, Frame& frame);
  void visit_class_definition(TSNode node, Frame& frame);
  void visit_lambda(TSNode node, Frame& frame);
  void visit_comprehension(TSNode node, Frame& frame);
  void visit_loop(TSNode node, TSSymbol sym, Frame& frame); // for and while statements
  void visit_body_block(TSNode node, Frame& frame);
  void visit_return(TSNode node);
  void visit_global(TSNode node); // global and nonlocal statements

  // --- bindings, accumulations and stores (builder_bindings.cpp)
  void visit_assignment(TSNode node);
  // `t = t + v`, `preds = torch.cat([preds, out])`: candidates for OOM101/OOM102-style questions.
  void record_assignment_candidates(TSNode node, TSNode target, TSNode right);
  void record_concat_store(TSNode node, TSNode target, const std::string& key, TSNode cat_call);
  void visit_augmented_assignment(TSNode node);
  void visit_import(TSNode node, bool from);
  void visit_for_in_clause(TSNode node);
  void visit_named_expression(TSNode node);
  void add_store(StoreKind kind, TSNode statement, TSNode container, TSNode value);
  void add_accumulation(AccumulationKind kind, TSNode statement, TSNode target, TSNode value);
  // `stats` for `stats["loss"]`, `self.history` for `self.history[k]`.
  [[nodiscard]] std::string root_key(TSNode n) const;
  // Whether `key` (or an attribute of it) is used inside `expr`.
  [[nodiscard]] bool mentions(TSNode expr, const std::string& key) const;

  // --- calls (builder_calls.cpp)
  void visit_expression_statement(TSNode node);
  void visit_call(TSNode node);
  void record_backward(Call& c, Scope& owner);
  void mark_backprop_names(TSNode expr, Scope& owner) const;
  void record_function_facts(const Call& c, Scope& owner);
  void record_statement_call(const Call& c, Scope& owner);
  void record_call_candidates(const Call& c);
  void note_module_bound_from_chain(TSNode call);

  // --- grad-mode regions and guards (builder_regions.cpp)
  [[nodiscard]] GradEffect classify_with_item(TSNode expr) const;
  [[nodiscard]] GradEffect classify_conditional_with_item(TSNode expr) const;
  [[nodiscard]] GradEffect exit_stack_effect(TSNode item, TSNode alias, TSNode body) const;
  [[nodiscard]] GradEffect classify_named_context(TSNode name, bool called) const;
  [[nodiscard]] GradEffect classify_returned_context(TSNode callee) const;
  void visit_with(TSNode node, Frame& frame);
  void visit_except_clause(TSNode node, Frame& frame);
  [[nodiscard]] bool flag_of_an_interval(TSNode condition) const;
  void visit_if(TSNode node);

  Model::Impl& d;
  Model& m;
  const syntax::Grammar& g;

  ScopeId scope = 0;
  LoopId loop = kNone;         // innermost loop of the current function
  LoopId lexical_loop = kNone; // innermost loop around the current node, across functions
  int except_depth = 0;
  std::uint32_t statement_call_id_start = UINT32_MAX; // start byte of a call that is a whole statement
  TSNode statement_call{};
  TSNode statement_node{};
  std::uint32_t statement_block_end = 0; // end of the block that holds statement_node
  std::vector<std::int32_t> open_statements;
  std::vector<Frame> frames; // the nodes entered and not yet left, outermost first
  bool tree_has_error = false;
};

} // namespace oomlint::model
