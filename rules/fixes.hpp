#pragma once
// Fix builders shared by the rules. Each returns the edits; the rule decides the wording
// and the applicability.
#include <optional>
#include <string>
#include <string_view>

#include "analyzer/diagnostics/finding.hpp"
#include "analyzer/model/model.hpp"

namespace oomlint::rules {

// `expr` -> `expr.item()`; wraps in parentheses when `expr` is not a primary expression.
Fix append_method_call(const model::Model& model, TSNode expr, std::string_view method, Applicability applicability,
                       std::string message);

// `f(a)` -> `f(a, name=value)`.
Fix add_keyword_argument(const model::Model& model, const model::Call& call, std::string_view keyword,
                         Applicability applicability, std::string message);

// A decorator line above a function definition, indented like the `def`.
Fix add_decorator(const model::Model& model, TSNode function_definition, std::string_view decorator,
                  Applicability applicability, std::string message);

// Removes one argument of a call with its separating comma: `f(a, b=1)` -> `f(a)`.
Fix remove_argument(const model::Model& model, const model::Call& call, TSNode argument, Applicability applicability,
                    std::string message);

// A new line after the statement holding `node`, indented like it: `h = h.detach()`.
Fix insert_line_after(const model::Model& model, TSNode statement, std::string_view line, Applicability applicability,
                      std::string message);

// Replaces a node's text.
Fix replace_node(TSNode node, std::string_view replacement, Applicability applicability, std::string message);

// The statement (a child of a block or the module) that holds the node.
TSNode enclosing_statement(TSNode node);

// The name under which `import torch` is bound at module level (`torch`, `th`), if any.
std::optional<std::string> module_alias(const model::Model& model, std::string_view module);

} // namespace oomlint::rules

namespace oomlint::rules {

// The node's source on one line, shortened for messages: `model(**batch).loss`.
std::string short_text(const model::Model& model, TSNode node, std::size_t max_chars = 48);

} // namespace oomlint::rules
