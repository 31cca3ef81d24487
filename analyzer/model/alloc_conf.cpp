// Where the program configures the CUDA caching allocator: `os.environ["PYTORCH_CUDA_ALLOC_CONF"]
// = ...`, `os.environ.setdefault(...)`, `os.putenv(...)`, `os.environ.update(...)`, an env dict
// literal for a child process, or `torch.cuda.memory._set_allocator_settings(...)`; with what
// value, and whether CUDA (which reads the variable once) had started by then.
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
  explicit AllocConfFinder(const Model& model) : m_model(model), m_g(syntax::grammar()) {}

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
    s.options = parse_options(s.value_text);
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
    if (ts_node_is_null(call.arguments) || !names_alloc_conf(m_model.text(call.arguments))) {
      return;
    }
    const std::string receiver = ts_node_is_null(call.receiver) ? std::string() : m_model.qualified_name(call.receiver);
    const auto first = call.positional(0);
    if ((call.method == "setdefault" && receiver == "os.environ") || call.qualified == "os.putenv") {
      if (first && names_alloc_conf(m_model.text(*first))) {
        add(call.node, call.positional(1).value_or(TSNode{}), AllocConfTarget::ProcessEnvironment);
      }
    } else if (call.method == "update" && receiver == "os.environ") {
      add(call.node, updated_value(call, first), AllocConfTarget::ProcessEnvironment);
    }
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
            names_alloc_conf(m_model.text(ts_node_child_by_field_id(pair, m_g.field.key)))) {
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
        const TSNode left = ts_node_child_by_field_id(n, m_g.field.left);
        if (ts_node_symbol(left) == m_g.sym.subscript &&
            m_model.qualified_name(ts_node_child_by_field_id(left, m_g.field.value)) == "os.environ" &&
            names_alloc_conf(m_model.text(ts_node_child_by_field_id(left, m_g.field.subscript)))) {
          add(n, ts_node_child_by_field_id(n, m_g.field.right), AllocConfTarget::ProcessEnvironment);
        }
      } else if (s == m_g.sym.pair && names_alloc_conf(m_model.text(ts_node_child_by_field_id(n, m_g.field.key)))) {
        add(n, ts_node_child_by_field_id(n, m_g.field.value), AllocConfTarget::ChildEnvironment);
      }
      return true;
    });
  }

  const Model& m_model;
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
    m_impl->alloc_conf_memo = AllocConfFinder(*this).find();
  }
  return *m_impl->alloc_conf_memo;
}

} // namespace oomlint::model
