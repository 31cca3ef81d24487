#pragma once
// The edits behind the rules' fixes: each builder turns one change of the code (add a keyword
// argument, append `.detach()`, decorate a function, ...) into byte edits of the source. The
// rule decides the wording and the applicability; the fixer applies and re-parses.
#include <string>
#include <string_view>

#include <tree_sitter/api.h>

#include "analyzer/diagnostics/finding.hpp"
#include "analyzer/model/model.hpp"

namespace oomlint::fix {

// `expr` -> `expr.item()`; wraps in parentheses when `expr` is not a primary expression.
// `.detach()` goes before a trailing copy or cast: `logits.cpu()` -> `logits.detach().cpu()`.
Fix append_method_call(const model::Model& model, TSNode expr, std::string_view method, Applicability applicability,
                       std::string message);

// `expr` -> `expr.detach().cpu()`: a kept tensor without its graph and off the accelerator. Where
// `expr` already ends in a copy or cast (`logits.cpu()`), only `.detach()` goes in before it.
Fix detach_to_cpu(const model::Model& model, TSNode expr, Applicability applicability, std::string message);

// What `append_method_call` makes of `text` (the expression's text, shortened for a message):
// `loss.item()`, `(a + b).detach()`.
std::string method_call_text(TSNode expr, std::string_view text, std::string_view method);

// `f(a)` -> `f(a, name=value)`; `keyword` is the whole `name=value` text.
Fix add_keyword_argument(const model::Model& model, const model::Call& call, std::string_view keyword,
                         Applicability applicability, std::string message);

// A decorator line above a function definition, indented like the `def`.
Fix add_decorator(const model::Model& model, TSNode function_definition, std::string_view decorator,
                  Applicability applicability, std::string message);

// Removes one argument of a call with its separating comma: `f(a, b=1)` -> `f(a)`.
Fix remove_argument(const model::Model& model, const model::Call& call, TSNode argument, Applicability applicability,
                    std::string message);

// A new line after the statement holding `node`, indented like it: `h = h.detach()`.
Fix insert_line_after(const model::Model& model, TSNode node, std::string_view line, Applicability applicability,
                      std::string message);

// Replaces a node's text.
Fix replace_node(TSNode node, std::string_view replacement, Applicability applicability, std::string message);

// The statement (a child of a block or the module) that holds the node.
TSNode enclosing_statement(TSNode node);

} // namespace oomlint::fix
