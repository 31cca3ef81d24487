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

// The name under which `import torch` is bound at module level (`torch`, `th`), if any.
std::optional<std::string> module_alias(const model::Model& model, std::string_view module);

} // namespace oomlint::rules

namespace oomlint::rules {

// The node's source on one line, shortened for messages: `model(**batch).loss`.
std::string short_text(const model::Model& model, TSNode node, std::size_t max_chars = 48);

} // namespace oomlint::rules
