// Where a value gathered into a container lives: device tensors kept across evaluation
// iterations grow with the dataset even without a graph, values moved off the device or reduced
// to numbers do not, and a container capped by its own length does not grow at all.
#include "analyzer/model/model.hpp"
#include "analyzer/model/model_impl.hpp"
#include "analyzer/support/strings.hpp"
#include "analyzer/syntax/walk.hpp"

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

bool Model::grows_the_decoded_sequence(const Store& store) const {
  const Impl& impl = *m_impl;
  if (store.kind != StoreKind::Concat || store.loop == kNone ||
      ts_node_symbol(store.container) != impl.g.sym.identifier) {
    return false;
  }
  const std::string_view sequence = text(store.container);
  const TSNode token = impl.unparen(store.value);
  const std::string_view new_token = ts_node_symbol(token) == impl.g.sym.identifier ? text(token) : "";
  const Loop& l = loop(store.loop);
  // What the forward is given: the sequence, the new token, or a window of the sequence bound in
  // the loop (`input_ids = idx[:, -ctx_len:]`).
  std::vector<std::string_view> fed{sequence};
  if (!new_token.empty()) {
    fed.push_back(new_token);
  }
  for (const Binding& b : bindings()) {
    if (b.kind == BindingKind::Assign && b.loop == store.loop && b.has_value() &&
        mentions_identifier(text(b.value), sequence) && b.name != sequence) {
      fed.push_back(b.name);
    }
  }
  for (auto [i, end] = impl.calls_in(l.body_start, l.body_end); i < end; ++i) {
    const Call& c = m_calls[i];
    if (!c.is_forward || !c.has_argument_list()) {
      continue;
    }
    const std::string_view args = text(c.arguments);
    if (std::any_of(fed.begin(), fed.end(), [&](std::string_view name) { return mentions_identifier(args, name); })) {
      return true;
    }
  }
  return false;
}

namespace {

bool is_splitting_call(std::string_view name) {
  return name == "split" || name == "chunk" || name == "tensor_split" || name == "unbind";
}

bool reads_a_shape(std::string_view expr) {
  return expr.find(".shape") != std::string_view::npos || expr.find(".size(") != std::string_view::npos;
}

} // namespace

bool Model::drained_as_a_queue(const Store& store) const {
  const std::string_view container = text(store.container);
  const ScopeId fn = function_at(ts_node_start_byte(store.statement));
  // Only the calls of that function (the module's, at module level), not every call of the file.
  const TSNode body = scope(fn == kNone ? 0 : fn).node;
  for (auto [i, end] = m_impl->calls_in(ts_node_start_byte(body), ts_node_end_byte(body)); i < end; ++i) {
    const Call& c = m_calls[i];
    if ((c.method == "pop" || c.method == "popleft") && c.is_method_call() && text(c.receiver) == container &&
        function_at(ts_node_start_byte(c.node)) == fn) {
      return true;
    }
  }
  return false;
}

bool Model::computed_from_a_shape(TSNode expr, ScopeId scope, int depth) const {
  constexpr int kMaxNamesBack = 3;
  if (reads_a_shape(text(expr))) {
    return true;
  }
  if (depth >= kMaxNamesBack) {
    return false;
  }
  bool from_shape = false;
  syntax::walk_named(expr, [&](TSNode n) {
    if (from_shape || ts_node_symbol(n) != m_impl->g.sym.identifier) {
      return !from_shape;
    }
    const Binding* b = m_impl->lookup(text(n), scope, ts_node_start_byte(n));
    from_shape = b != nullptr && b->kind == BindingKind::Assign && b->has_value() &&
                 computed_from_a_shape(b->value, scope, depth + 1);
    return !from_shape;
  });
  return from_shape;
}

bool Model::walks_one_input_in_pieces(LoopId loop_id) const {
  if (loop_id == kNone) {
    return false;
  }
  // `while start < size:` after `size = x.size(2)`: chunks of one signal.
  if (loop(loop_id).kind == LoopKind::While) {
    const TSNode condition = loop(loop_id).iterable;
    return !ts_node_is_null(condition) && computed_from_a_shape(condition, loop(loop_id).scope, 0);
  }
  if (loop(loop_id).kind != LoopKind::For) {
    return false;
  }
  const Impl& impl = *m_impl;
  const auto& g = impl.g;
  TSNode it = impl.unparen(loop(loop_id).iterable);
  if (ts_node_is_null(it) || ts_node_symbol(it) != g.sym.call) {
    return false;
  }
  TSNode fn = impl.field(it, g.field.function);
  if (text(fn) == "enumerate" || text(fn) == "tqdm") {
    const TSNode args = impl.field(it, g.field.arguments);
    it = ts_node_named_child_count(args) > 0 ? impl.unparen(ts_node_named_child(args, 0)) : TSNode{};
    if (ts_node_is_null(it) || ts_node_symbol(it) != g.sym.call) {
      return false;
    }
    fn = impl.field(it, g.field.function);
  }
  const TSNode name = ts_node_symbol(fn) == g.sym.attribute ? impl.field(fn, g.field.attribute) : fn;
  if (is_splitting_call(text(name))) {
    return true;
  }
  if (text(fn) != "range") {
    return false;
  }
  // `range(0, x.shape[0], n)`, or `B, C, H, W = x.shape` before `for i in range(0, H, stride)`
  // and `n = ceil(N / bs)` after `N = x.shape[0]`: a few names back.
  return computed_from_a_shape(impl.field(it, g.field.arguments), loop(loop_id).scope, 0);
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
