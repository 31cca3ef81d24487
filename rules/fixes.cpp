#include "rules/fixes.hpp"

#include "analyzer/support/strings.hpp"

namespace oomlint::rules {

std::optional<std::string> module_alias(const model::Model& model, std::string_view module) {
  return model.import_alias(module);
}

std::string short_text(const model::Model& model, TSNode node, std::size_t max_chars) {
  return one_line_excerpt(model.text(node), max_chars);
}

} // namespace oomlint::rules
