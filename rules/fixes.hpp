#pragma once
// What the rules share for their fixes and messages: the edit builders of analyzer/fix under
// the names the rules use, and short quotes of source for messages.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "analyzer/fix/edits.hpp"
#include "analyzer/model/model.hpp"

namespace oomlint::rules {

using fix::add_decorator;
using fix::add_keyword_argument;
using fix::append_method_call;
using fix::detach_to_cpu;
using fix::enclosing_statement;
using fix::insert_line_after;
using fix::method_call_text;
using fix::remove_argument;
using fix::replace_node;

// The name under which `import torch` is bound at module level (`torch`, `th`), if any.
std::optional<std::string> module_alias(const model::Model& model, std::string_view module);

// The node's source on one line, shortened for messages: `model(**batch).loss`.
std::string short_text(const model::Model& model, TSNode node, std::size_t max_chars = 48);

} // namespace oomlint::rules
