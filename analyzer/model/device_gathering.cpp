// Where a value gathered into a container lives: device tensors kept across evaluation
// iterations grow with the dataset even without a graph, values moved off the device or reduced
// to numbers do not, and a container capped by its own length does not grow at all.
#include "analyzer/model/model.hpp"
#include "analyzer/model/model_impl.hpp"

namespace oomlint::model {

namespace {

constexpr int kMaxChainLinks = 32;
constexpr int kMaxGuardDepth = 8;

// Python conversions that turn a tensor into host data.
bool is_host_conversion(std::string_view function) {
  return function == "float" || function == "int" || function == "list" || function == "str" || function == "bool";
}

bool is_host_method(std::string_view method) {
  return method == "cpu" || method == "numpy" || method == "tolist" || method == "item";
}

// Walks a method chain (`logits.argmax(dim=1).float()[0]`) from its outermost call inwards,
// offering each call to `visit`, to the value it starts from, which it returns; a null node when
// `visit` stops the walk by returning true.
template <typename Visit> TSNode walk_method_chain(const Model::Impl& impl, TSNode value, Visit&& visit) {
  const auto& g = impl.g;
  int links = 0;
  while (!ts_node_is_null(value) && links++ < kMaxChainLinks) {
    const TSSymbol s = ts_node_symbol(value);
    if (s == g.sym.parenthesized_expression) {
      value = ts_node_named_child(value, 0);
    } else if (s == g.sym.subscript) {
      value = impl.field(value, g.field.value);
    } else if (s == g.sym.call) {
      if (visit(value)) {
        return {};
      }
      const TSNode fn = impl.field(value, g.field.function);
      if (ts_node_symbol(fn) != g.sym.attribute) {
        return value;
      }
      value = impl.field(fn, g.field.object);
    } else {
      return value;
    }
  }
  return value;
}

} // namespace

TSNode Model::method_chain_origin(TSNode expr) const {
  return walk_method_chain(*m_impl, expr, [](TSNode) { return false; });
}

// Any link counts, up to a plain function call: `x.cpu().cuda()` reads as moved, which real
// code does not write, and `float(...)` or `list(...)` around the chain makes host data.
bool Model::leaves_device(TSNode expr) const {
  const Impl& impl = *m_impl;
  const auto& g = impl.g;
  bool moved = false;
  walk_method_chain(impl, expr, [&](TSNode call) {
    const TSNode fn = impl.field(call, g.field.function);
    if (ts_node_symbol(fn) == g.sym.identifier) {
      moved = is_host_conversion(text(fn));
      return true;
    }
    if (ts_node_symbol(fn) != g.sym.attribute) {
      return true;
    }
    const std::string_view method = text(impl.field(fn, g.field.attribute));
    const bool to_cpu = method == "to" && names::names_the_cpu(text(impl.field(call, g.field.arguments)));
    moved = is_host_method(method) || to_cpu;
    return moved;
  });
  return moved;
}

// `if len(samples) < 8: samples.append(out)`: the `if` holding the store, up to its loop or
// function, tests the container's length.
bool Model::bounded_by_length(const Store& store) const {
  const auto& g = m_impl->g;
  const std::string_view container = text(store.container);
  TSNode n = ts_node_parent(store.statement);
  int depth = 0;
  while (!ts_node_is_null(n) && depth++ < kMaxGuardDepth) {
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.if_statement) {
      const std::string_view condition = text(m_impl->field(n, g.field.condition));
      if (condition.find("len(") != std::string_view::npos && condition.find(container) != std::string_view::npos) {
        return true;
      }
    }
    if (s == g.sym.for_statement || s == g.sym.while_statement || s == g.sym.function_definition) {
      return false;
    }
    n = ts_node_parent(n);
  }
  return false;
}

bool Model::is_collection_literal(TSNode expr) const {
  const TSSymbol s = ts_node_symbol(expr);
  const auto& sym = m_impl->g.sym;
  return s == sym.tuple || s == sym.list || s == sym.dictionary;
}

} // namespace oomlint::model
