// How a call passes an argument, and literal flags: `zero_grad(set_to_none=False)`,
// `GradScaler(enabled=True)`. The model answers so that rules never look at argument syntax.
#include "analyzer/model/model.hpp"
#include "analyzer/model/model_impl.hpp"

namespace oomlint::model {

std::optional<Argument> Call::argument(std::string_view name, std::size_t position, std::string_view source) const {
  if (auto value = keyword(name, source)) {
    return Argument{ts_node_parent(*value), *value};
  }
  if (auto value = positional(position)) {
    return Argument{*value, *value};
  }
  return std::nullopt;
}

std::optional<bool> Model::bool_literal(TSNode expr) const {
  const TSSymbol s = ts_node_symbol(expr);
  if (s == m_impl->g.sym.true_) {
    return true;
  }
  if (s == m_impl->g.sym.false_) {
    return false;
  }
  return std::nullopt;
}

} // namespace oomlint::model
