#include "rules/alloc_conf.hpp"

#include "analyzer/syntax/python_grammar.hpp"
#include "analyzer/syntax/walk.hpp"

namespace oomlint::rules {

namespace {

bool names_alloc_conf(std::string_view key_text) {
  return key_text.find("PYTORCH_CUDA_ALLOC_CONF") != std::string_view::npos ||
         key_text.find("PYTORCH_ALLOC_CONF") != std::string_view::npos;
}

} // namespace

std::vector<AllocConfWrite> find_alloc_conf_writes(const model::Model& m) {
  std::vector<AllocConfWrite> out;
  const std::string_view src = m.source().text();
  const bool mentions_env = names_alloc_conf(src);
  const bool mentions_runtime = src.find("_set_allocator_settings") != std::string_view::npos;
  if (!mentions_env && !mentions_runtime) {
    return out; // most files: no walk at all
  }
  const auto& g = syntax::grammar();
  for (const model::Call& call : m.calls()) {
    const std::string_view method = call.method;
    if (call.qualified.ends_with("_set_allocator_settings")) {
      AllocConfWrite w;
      w.statement = call.node;
      w.value = ts_node_is_null(call.arguments) ? TSNode{} : ts_node_named_child(call.arguments, 0);
      w.runtime_setting = true;
      out.push_back(w);
      continue;
    }
    if (ts_node_is_null(call.arguments) || !names_alloc_conf(m.text(call.arguments))) {
      continue;
    }
    const std::string receiver = ts_node_is_null(call.receiver) ? std::string() : m.qualified_name(call.receiver);
    auto first = call.positional(0);
    if ((method == "setdefault" && receiver == "os.environ") || call.qualified == "os.putenv") {
      if (first && names_alloc_conf(m.text(*first))) {
        AllocConfWrite w{call.node, call.positional(1).value_or(TSNode{}), true, false};
        out.push_back(w);
      }
    } else if (method == "update" && receiver == "os.environ") {
      AllocConfWrite w{call.node, TSNode{}, true, false};
      if (auto kw = call.keyword("PYTORCH_CUDA_ALLOC_CONF", src)) {
        w.value = *kw;
      } else if (first && ts_node_symbol(*first) == g.sym.dictionary) {
        for (uint32_t i = 0; i < ts_node_named_child_count(*first); ++i) {
          TSNode pair = ts_node_named_child(*first, i);
          if (ts_node_symbol(pair) == g.sym.pair &&
              names_alloc_conf(m.text(ts_node_child_by_field_id(pair, g.field.key)))) {
            w.value = ts_node_child_by_field_id(pair, g.field.value);
          }
        }
      }
      out.push_back(w);
    }
  }
  if (!mentions_env) {
    return out;
  }
  // Assignments and env dict literals are not calls: walk the file once.
  syntax::walk_named(m.scope(0).node, [&](TSNode n) {
    const TSSymbol s = ts_node_symbol(n);
    if (s == g.sym.comment || s == g.sym.string) {
      return false;
    }
    if (s == g.sym.assignment) {
      TSNode left = ts_node_child_by_field_id(n, g.field.left);
      if (ts_node_symbol(left) == g.sym.subscript &&
          m.qualified_name(ts_node_child_by_field_id(left, g.field.value)) == "os.environ" &&
          names_alloc_conf(m.text(ts_node_child_by_field_id(left, g.field.subscript)))) {
        out.push_back(AllocConfWrite{n, ts_node_child_by_field_id(n, g.field.right), true, false});
      }
    } else if (s == g.sym.pair && names_alloc_conf(m.text(ts_node_child_by_field_id(n, g.field.key)))) {
      out.push_back(AllocConfWrite{n, ts_node_child_by_field_id(n, g.field.value), false, false});
    }
    return true;
  });
  return out;
}

} // namespace oomlint::rules
