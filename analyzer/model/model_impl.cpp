// The small syntax helpers that the builder, the evaluator and the analyses share.
#include "analyzer/model/model_impl.hpp"

#include <vector>

#include "analyzer/syntax/parser.hpp"

namespace oomlint::model {

Model::Impl::Impl(Model& model, const ModelOptions& opts)
    : m(model), g(syntax::grammar()), src(model.source().text()), options(opts) {}

std::string_view Model::Impl::text(TSNode n) const {
  return syntax::node_text(n, src);
}

TSNode Model::Impl::unparen(TSNode n) const {
  int guard = 0;
  while (!null(n) && ts_node_symbol(n) == g.sym.parenthesized_expression && guard++ < 256) {
    n = ts_node_named_child(n, 0);
  }
  return n;
}

std::string Model::Impl::dotted(TSNode n) const {
  n = unparen(n);
  std::vector<std::string_view> parts;
  int guard = 0;
  while (!null(n) && guard++ < 64) {
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.identifier) {
      parts.push_back(text(n));
      std::string out;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (!out.empty()) {
          out += '.';
        }
        out += *it;
      }
      return out;
    }
    if (s != g.sym.attribute) {
      return {};
    }
    parts.push_back(text(field(n, g.field.attribute)));
    n = unparen(field(n, g.field.object));
  }
  return {};
}

std::string_view Model::Impl::last_name(TSNode n) const {
  n = unparen(n);
  if (null(n)) {
    return {};
  }
  const TSSymbol s = ts_node_symbol(n);
  if (s == g.sym.identifier) {
    return text(n);
  }
  if (s == g.sym.attribute) {
    return text(field(n, g.field.attribute));
  }
  return {};
}

} // namespace oomlint::model
