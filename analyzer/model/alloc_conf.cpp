// Where the program configures the CUDA caching allocator: `os.environ["PYTORCH_CUDA_ALLOC_CONF"]
// = ...`, `os.environ.setdefault(...)`, `os.putenv(...)`, `os.environ.update(...)`, the same
// writes into another mapping (an env dict for a child process: a literal, a copy of
// `os.environ`, `dict(os.environ, PYTORCH_CUDA_ALLOC_CONF=...)`), or
// `torch.cuda.memory._set_allocator_settings(...)`; with what value (through the file's
// constants: `ALLOC_CONF = "..."`), and whether CUDA (which reads the variable once) had started
// by then.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/model/model_impl.hpp"
#include "analyzer/syntax/walk.hpp"

namespace oomlint::model {

namespace {

bool names_alloc_conf(std::string_view key_text) {
  return key_text.find("PYTORCH_CUDA_ALLOC_CONF") != std::string_view::npos ||
         key_text.find("PYTORCH_ALLOC_CONF") != std::string_view::npos;
}

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool ends_option_value(char c) {
  return c == ',' || c == '"' || c == '\'' || c == ')' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// The allocator's `name:value` syntax is distinctive enough to find in any spelling of the
// value (a literal, an f-string, a concatenation), so options are read from its source text.
std::vector<AllocConfOption> parse_options(std::string_view text) {
  std::vector<AllocConfOption> options;
  for (std::size_t colon = text.find(':'); colon != std::string_view::npos; colon = text.find(':', colon + 1)) {
    std::size_t name_start = colon;
    while (name_start > 0 && is_word_char(text[name_start - 1])) {
      --name_start;
    }
    if (name_start == colon || (text[name_start] >= '0' && text[name_start] <= '9')) {
      continue;
    }
    std::size_t value_end = colon + 1;
    while (value_end < text.size() && !ends_option_value(text[value_end])) {
      ++value_end;
    }
    options.push_back(
        AllocConfOption{text.substr(name_start, colon - name_start), text.substr(colon + 1, value_end - colon - 1)});
  }
  return options;
}

class AllocConfFinder {
public:
  AllocConfFinder(const Model& model, const Model::Impl& impl) : m_model(model), m_impl(impl), m_g(impl.g) {}

  std::vector<AllocConfSetting> find() {
    const std::string_view src = m_model.source().text();
    const bool mentions_env = names_alloc_conf(src);
    const bool mentions_runtime = src.find("_set_allocator_settings") != std::string_view::npos;
    if (!mentions_env && !mentions_runtime) {
      return {}; // most files: no walk at all
    }
    for (const Call& call : m_model.calls()) {
      add_call(call);
    }
    if (mentions_env) {
      add_assignments_and_env_dicts();
    }
    std::stable_sort(m_settings.begin(), m_settings.end(), [](const AllocConfSetting& a, const AllocConfSetting& b) {
      return ts_node_start_byte(a.statement) < ts_node_start_byte(b.statement);
    });
    return std::move(m_settings);
  }

private:
  void add(TSNode statement, TSNode value, AllocConfTarget target) {
    AllocConfSetting s;
    s.statement = statement;
    s.value = value;
    s.value_text = ts_node_is_null(value) ? std::string_view() : m_model.text(value);
    s.options = options_of(value, s.value_text);
    s.target = target;
    if (target == AllocConfTarget::ProcessEnvironment) {
      if (const Call* init = m_model.cuda_initialised_before(ts_node_start_byte(statement))) {
        s.cuda_started_by = CudaStart{init, ts_node_start_byte(init->node), ts_node_end_byte(init->node)};
      }
    }
    m_settings.push_back(std::move(s));
  }

  void add_call(const Call& call) {
    if (call.qualified.ends_with("_set_allocator_settings")) {
      add(call.node, ts_node_is_null(call.arguments) ? TSNode{} : ts_node_named_child(call.arguments, 0),
          AllocConfTarget::RuntimeSetting);
      return;
    }
    if (ts_node_is_null(call.arguments)) {
      return;
    }
    const auto first = call.positional(0);
    const bool keyed = first && key_names_alloc_conf(*first);
    if (!keyed && !names_alloc_conf(m_model.text(call.arguments))) {
      return;
    }
    const bool process = !ts_node_is_null(call.receiver) && is_process_environment(call.receiver);
    if (call.qualified == "os.putenv" || (call.method == "setdefault" && call.is_method_call())) {
      if (keyed) {
        add(call.node, call.positional(1).value_or(TSNode{}), target_for(process || call.qualified == "os.putenv"));
      }
    } else if (call.method == "update" && call.is_method_call()) {
      add(call.node, updated_value(call, first), target_for(process));
    } else if (auto kw = call.keyword("PYTORCH_CUDA_ALLOC_CONF", m_model.source().text())) {
      add(call.node, *kw, AllocConfTarget::ChildEnvironment); // `dict(os.environ, PYTORCH_CUDA_ALLOC_CONF=...)`
    }
  }

  static AllocConfTarget target_for(bool process) {
    return process ? AllocConfTarget::ProcessEnvironment : AllocConfTarget::ChildEnvironment;
  }

  // `os.environ`, or a name bound only to it (`env = os.environ` is the same mapping, not a copy).
  bool is_process_environment(TSNode mapping) const {
    mapping = m_impl.unparen(mapping);
    if (m_model.qualified_name(mapping) == "os.environ") {
      return true;
    }
    if (ts_node_symbol(mapping) != m_g.sym.identifier) {
      return false;
    }
    const Binding* b = m_impl.lookup(m_model.text(mapping), m_model.scope_at(ts_node_start_byte(mapping)),
                                     ts_node_start_byte(mapping));
    return b != nullptr && b->kind == BindingKind::Assign && b->element == -1 && b->has_value() &&
           m_model.qualified_name(b->value) == "os.environ";
  }

  // The key as written, or a constant holding it (`KEY = "PYTORCH_CUDA_ALLOC_CONF"`).
  bool key_names_alloc_conf(TSNode key) const {
    if (names_alloc_conf(m_model.text(key))) {
      return true;
    }
    const auto values = m_model.possible_constants(key);
    return values && std::any_of(values->begin(), values->end(), [](const Constant& c) {
             return c.kind == Constant::Kind::String && names_alloc_conf(c.text);
           });
  }

  // The options of every string the value may be (a constant defined elsewhere in the file is
  // read where it is written); the value's own text where the constants do not show it (an
  // f-string, a concatenation with a variable: the `name:value` syntax survives those).
  std::vector<AllocConfOption> options_of(TSNode value, std::string_view value_text) const {
    const auto values = ts_node_is_null(value) ? std::nullopt : m_model.possible_constants(value);
    if (!values) {
      return parse_options(value_text);
    }
    std::vector<AllocConfOption> options;
    for (const Constant& c : *values) {
      if (c.kind == Constant::Kind::String) {
        for (const AllocConfOption& o : parse_options(m_model.text(c.node))) {
          options.push_back(o);
        }
      }
    }
    return options;
  }

  // The value `os.environ.update(...)` gives the variable: a keyword or a dict entry (the last).
  TSNode updated_value(const Call& call, std::optional<TSNode> first) const {
    if (auto kw = call.keyword("PYTORCH_CUDA_ALLOC_CONF", m_model.source().text())) {
      return *kw;
    }
    TSNode value{};
    if (first && ts_node_symbol(*first) == m_g.sym.dictionary) {
      for (std::uint32_t i = 0; i < ts_node_named_child_count(*first); ++i) {
        const TSNode pair = ts_node_named_child(*first, i);
        if (ts_node_symbol(pair) == m_g.sym.pair &&
            key_names_alloc_conf(ts_node_child_by_field_id(pair, m_g.field.key))) {
          value = ts_node_child_by_field_id(pair, m_g.field.value);
        }
      }
    }
    return value;
  }

  // Assignments and env dict literals are not calls: walk the file once.
  void add_assignments_and_env_dicts() {
    syntax::walk_named(m_model.scope(0).node, [&](TSNode n) {
      const TSSymbol s = ts_node_symbol(n);
      if (s == m_g.sym.comment || s == m_g.sym.string) {
        return false;
      }
      if (s == m_g.sym.assignment) {
        // `<mapping>[key] = value`: the process's environment, or a mapping for a child process.
        const TSNode left = ts_node_child_by_field_id(n, m_g.field.left);
        if (ts_node_symbol(left) == m_g.sym.subscript &&
            key_names_alloc_conf(ts_node_child_by_field_id(left, m_g.field.subscript))) {
          add(n, ts_node_child_by_field_id(n, m_g.field.right),
              target_for(is_process_environment(ts_node_child_by_field_id(left, m_g.field.value))));
        }
      } else if (s == m_g.sym.pair && key_names_alloc_conf(ts_node_child_by_field_id(n, m_g.field.key))) {
        add(n, ts_node_child_by_field_id(n, m_g.field.value), AllocConfTarget::ChildEnvironment);
      }
      return true;
    });
  }

  const Model& m_model;
  const Model::Impl& m_impl;
  const syntax::Grammar& m_g;
  std::vector<AllocConfSetting> m_settings;
};

} // namespace

bool AllocConfSetting::has_option(std::string_view name) const {
  for (const AllocConfOption& option : options) {
    if (option.name == name) {
      return true;
    }
  }
  return false;
}

const std::vector<AllocConfSetting>& Model::alloc_conf_settings() const {
  if (!m_impl->alloc_conf_memo) {
    m_impl->alloc_conf_memo = AllocConfFinder(*this, *m_impl).find();
  }
  return *m_impl->alloc_conf_memo;
}

} // namespace oomlint::model
