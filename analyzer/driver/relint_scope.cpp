#include "analyzer/driver/relint_scope.hpp"

#include <algorithm>
#include <unordered_map>

#include "analyzer/model/model.hpp"
#include "analyzer/syntax/parser.hpp"
#include "analyzer/syntax/python_grammar.hpp"
#include "analyzer/syntax/walk.hpp"

namespace oomlint {
namespace {

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// Every word of `text` that could be a name, and whether it follows a dot (an attribute); strings
// and comments included, which only makes the closure larger, never wrong.
template <typename F> void for_each_word(std::string_view text, F&& f) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_word_char(text[i])) {
      ++i;
      continue;
    }
    const std::size_t from = i;
    while (i < text.size() && is_word_char(text[i])) {
      ++i;
    }
    if (text[from] < '0' || text[from] > '9') {
      f(text.substr(from, i - from), from > 0 && text[from - 1] == '.');
    }
  }
}

void add_identifiers(TSNode n, std::string_view text, std::vector<std::string>& out) {
  const TSSymbol identifier = syntax::grammar().sym.identifier;
  syntax::walk_named(n, [&](TSNode cur) {
    if (ts_node_symbol(cur) == identifier) {
      out.emplace_back(syntax::node_text(cur, text));
      return false;
    }
    return true;
  });
}

// What a definition adds to the module's names: a class its methods (called as attributes from
// anywhere: `model.compute_loss(...)`, kept apart), a function the names it declares `global`.
void add_member_binds(TSNode definition, std::string_view text, TopLevelUnit& unit) {
  const syntax::Grammar& g = syntax::grammar();
  const TSNode body = ts_node_child_by_field_id(definition, g.field.body);
  if (ts_node_is_null(body)) {
    return;
  }
  if (ts_node_symbol(definition) == g.sym.class_definition) {
    for (std::uint32_t i = 0, count = ts_node_named_child_count(body); i < count; ++i) {
      TSNode member = ts_node_named_child(body, i);
      if (ts_node_symbol(member) == g.sym.decorated_definition) {
        member = ts_node_child_by_field_id(member, g.field.definition);
      }
      if (!ts_node_is_null(member) && ts_node_symbol(member) == g.sym.function_definition) {
        add_identifiers(ts_node_child_by_field_id(member, g.field.name), text, unit.methods);
      }
    }
    return;
  }
  if (syntax::node_text(body, text).find("global") == std::string_view::npos) {
    return;
  }
  syntax::walk_named(body, [&](TSNode n) {
    if (ts_node_symbol(n) == g.sym.global_statement) {
      add_identifiers(n, text, unit.binds);
      return false;
    }
    return true;
  });
}

// The names a top-level statement binds in the module, over-approximated: every identifier of an
// assignment's target (`a.b = x` counts `a` and `b`), every name of an import.
void collect_binds(TSNode statement, std::string_view text, TopLevelUnit& unit) {
  const syntax::Grammar& g = syntax::grammar();
  const auto& s = g.sym;
  syntax::walk_named(statement, [&](TSNode n) {
    const TSSymbol sym = ts_node_symbol(n);
    if (sym == s.function_definition || sym == s.class_definition) {
      add_identifiers(ts_node_child_by_field_id(n, g.field.name), text, unit.binds);
      add_member_binds(n, text, unit);
      return false; // what its body binds is its own
    }
    if (sym == s.lambda || sym == s.list_comprehension || sym == s.set_comprehension ||
        sym == s.dictionary_comprehension || sym == s.generator_expression) {
      return false;
    }
    if (sym == s.import_statement || sym == s.import_from_statement) {
      unit.context = true;
      add_identifiers(n, text, unit.binds);
      return false;
    }
    if (sym == s.global_statement || sym == s.nonlocal_statement) {
      add_identifiers(n, text, unit.binds);
      return false;
    }
    if (sym == s.assignment || sym == s.augmented_assignment || sym == s.for_statement) {
      add_identifiers(ts_node_child_by_field_id(n, g.field.left), text, unit.binds);
    } else if (sym == s.as_pattern) {
      add_identifiers(ts_node_child_by_field_id(n, g.field.alias), text, unit.binds);
    } else if (sym == s.named_expression) {
      add_identifiers(ts_node_child_by_field_id(n, g.field.name), text, unit.binds);
    }
    return true;
  });
  std::sort(unit.binds.begin(), unit.binds.end());
  unit.binds.erase(std::unique(unit.binds.begin(), unit.binds.end()), unit.binds.end());
  // Every class has these; called by Python, not by name (`model(x)` runs `__call__`).
  std::erase_if(unit.methods, [](const std::string& m) { return m.starts_with("__"); });
}

bool is_test_case_definition(TSNode statement, std::string_view text) {
  const syntax::Grammar& g = syntax::grammar();
  if (ts_node_symbol(statement) == g.sym.decorated_definition) {
    statement = ts_node_child_by_field_id(statement, g.field.definition);
  }
  if (ts_node_is_null(statement)) {
    return false;
  }
  const TSSymbol sym = ts_node_symbol(statement);
  if (sym != g.sym.function_definition && sym != g.sym.class_definition) {
    return false;
  }
  const TSNode name_node = ts_node_child_by_field_id(statement, g.field.name);
  const std::string_view name = ts_node_is_null(name_node) ? std::string_view() : syntax::node_text(name_node, text);
  if (sym == g.sym.function_definition) {
    return model::names::is_test_case_name(name);
  }
  const TSNode bases = ts_node_child_by_field_id(statement, g.field.superclasses);
  if (name.starts_with("Test") ||
      (!ts_node_is_null(bases) && syntax::node_text(bases, text).find("TestCase") != std::string_view::npos)) {
    return true;
  }
  const TSNode body = ts_node_child_by_field_id(statement, g.field.body);
  for (std::uint32_t i = 0, count = ts_node_named_child_count(body); i < count; ++i) {
    const TSNode member = ts_node_named_child(body, i);
    const TSSymbol member_sym = ts_node_symbol(member);
    if ((member_sym == g.sym.function_definition || member_sym == g.sym.decorated_definition) &&
        is_test_case_definition(member, text)) {
      return true;
    }
  }
  return false;
}

bool is_plain_assignment(TSNode statement, std::string_view text) {
  const auto& s = syntax::grammar().sym;
  if (ts_node_symbol(statement) != s.expression_statement || ts_node_named_child_count(statement) != 1) {
    return false;
  }
  const TSSymbol inner = ts_node_symbol(ts_node_named_child(statement, 0));
  return (inner == s.assignment || inner == s.augmented_assignment) &&
         syntax::node_text(statement, text).find("grad") == std::string_view::npos;
}

std::uint32_t shift_one(std::uint32_t offset, const TSInputEdit& e) {
  if (offset >= e.old_end_byte) {
    return offset - e.old_end_byte + e.new_end_byte;
  }
  return offset > e.start_byte ? std::min(offset, e.new_end_byte) : offset;
}

// The units of `now` the edits touched, when every other unit kept its kind and moved only by
// what was inserted before it; nullopt when the module's shape changed.
std::optional<std::vector<std::size_t>> touched_units(const std::vector<TopLevelUnit>& before,
                                                      const std::vector<TopLevelUnit>& now,
                                                      const std::vector<TSInputEdit>& edits) {
  if (before.size() != now.size()) {
    return std::nullopt;
  }
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges;
  ranges.reserve(before.size());
  for (const TopLevelUnit& u : before) {
    ranges.emplace_back(u.start, u.end);
  }
  std::vector<bool> touched(before.size(), false);
  for (const TSInputEdit& e : edits) {
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      auto& [from, to] = ranges[i];
      const bool overlaps = e.start_byte < e.old_end_byte ? e.start_byte < to && e.old_end_byte > from
                                                          : e.start_byte >= from && e.start_byte <= to;
      touched[i] = touched[i] || overlaps;
      from = shift_one(from, e);
      to = shift_one(to, e);
    }
  }
  std::vector<std::size_t> seeds;
  for (std::size_t i = 0; i < now.size(); ++i) {
    if (before[i].symbol != now[i].symbol) {
      return std::nullopt;
    }
    if (!touched[i]) {
      if (ranges[i] != std::make_pair(now[i].start, now[i].end)) {
        return std::nullopt;
      }
      continue;
    }
    // A renamed definition or a changed comment (a file-wide `# noqa`) reaches past any closure.
    if (before[i].binds != now[i].binds || now[i].symbol == syntax::grammar().sym.comment) {
      return std::nullopt;
    }
    seeds.push_back(i);
  }
  return seeds;
}

bool is_script(const TopLevelUnit& unit) {
  const auto& s = syntax::grammar().sym;
  return !is_definition(unit) && unit.symbol != s.comment && unit.symbol != s.import_statement &&
         unit.symbol != s.import_from_statement;
}

// Facts the model gathers over the whole module rather than through names: a statement that
// may produce one (`torch.save` after `.cpu()`, a forward that starts CUDA, a backward reading
// `self.x`) reaches every statement that consumes it (a `torch.load`, an allocator setting, an
// attribute stored on `self`), however the names run. Matched as words or text in the statement.
struct Channel {
  std::vector<std::string_view> producers;
  std::vector<std::string_view> consumers;
  // Read only in a script: a module whose own statements (not its definitions) mention one of
  // the consumers' words, or `__main__`.
  bool scripts_only = false;
};

const std::vector<Channel>& channels() {
  static const std::vector<Channel> kChannels = {
      // OOM401: what the module saves, and whether it ever puts tensors on an accelerator.
      {{"save", "cpu", "offload", "cuda", "device", ".to("}, {"load("}, false},
      // OOM302/OOM303: whether CUDA started before the allocator is configured.
      {{"cuda", "device", ".to("}, {"ALLOC_CONF", "_set_allocator_settings"}, false},
      // OOM701: whether the module writes into `.grad` in place or captures CUDA graphs.
      {{".grad", "cuda.graph", "CUDAGraph", "make_graphed_callables", "capture_begin"}, {"zero_grad("}, false},
      // OOM103: attributes read where a loss is made for a backward.
      {{"backward", "autograd", "loss"}, {"self."}, false},
      // OOM201: whether the file trains anything, read by a script that restores weights (its
      // `__main__` block, and the statements restoring the models its module-level code calls).
      {{"backward", "optim", "train", "autograd", "requires_grad", "step("},
       {"__main__", "load_state_dict", "from_pretrained", "torch.load"},
       true},
  };
  return kChannels;
}

bool mentions_any(std::string_view text, const std::vector<std::string_view>& words) {
  return std::any_of(words.begin(), words.end(),
                     [&](std::string_view w) { return text.find(w) != std::string_view::npos; });
}

// The closure over the module's top-level statements. A caller reads its callee's summary (what
// it returns, whether it back-propagates); a callee runs in its callers' context (grad mode,
// CUDA already started). So an edit affects the edited units, every unit mentioning a name they
// bind or a method they define (and on up), and every definition they mention (and on down).
// The model is then built from those and everything they mention: there its value matters, not
// its findings.
class Closure {
public:
  Closure(const std::vector<TopLevelUnit>& units, std::string_view text)
      : m_units(units), m_text(text), m_in(units.size(), false), m_mentions(units.size()),
        m_mentioned_by(units.size()) {
    index_mentions();
  }

  RelintScope of(const std::vector<std::size_t>& seeds) {
    for (std::size_t i : seeds) {
      add(i);
    }
    spread_up();
    spread_down(seeds);
    // Statements of a script are read in order (was CUDA started before this line?): when one is
    // affected, they all are.
    if (any_in([](const TopLevelUnit& u) { return is_script(u); })) {
      for (std::size_t i = 0; i < m_units.size(); ++i) {
        mark(is_script(m_units[i]) ? i : m_units.size());
      }
    }
    RelintScope scope;
    scope.affected = starts();
    for (std::size_t i = 0; i < m_units.size(); ++i) {
      mark(m_units[i].context ? i : m_units.size());
    }
    // In a test file one test case makes every function test code (Model::in_test_code).
    const auto test_case =
        std::find_if(m_units.begin(), m_units.end(), [](const TopLevelUnit& u) { return u.test_case; });
    mark(static_cast<std::size_t>(test_case - m_units.begin()));
    add_dependencies();
    scope.built = starts();
    return scope;
  }

private:
  [[nodiscard]] std::string_view text_of(std::size_t i) const {
    return m_text.substr(m_units[i].start, m_units[i].end - m_units[i].start);
  }

  // Which units each unit mentions by a name they bind (or, after a dot, a method they define),
  // and the reverse: one pass over the text, however many names the units bind. Searching the
  // text once per name instead cost most of an edit's time in a module whose classes define
  // many methods.
  void index_mentions() {
    std::unordered_map<std::string_view, std::vector<std::size_t>> binders;
    std::unordered_map<std::string_view, std::vector<std::size_t>> method_binders;
    for (std::size_t i = 0; i < m_units.size(); ++i) {
      for (const std::string& name : m_units[i].binds) {
        binders[name].push_back(i);
      }
      for (const std::string& name : m_units[i].methods) {
        method_binders[name].push_back(i);
      }
    }
    for (std::size_t i = 0; i < m_units.size(); ++i) {
      std::vector<std::size_t>& mentions = m_mentions[i];
      for_each_word(text_of(i), [&](std::string_view word, bool attribute) {
        const auto& by_name = attribute ? method_binders : binders;
        if (auto it = by_name.find(word); it != by_name.end()) {
          for (std::size_t j : it->second) {
            if (j != i) {
              mentions.push_back(j);
            }
          }
        }
      });
      std::sort(mentions.begin(), mentions.end());
      mentions.erase(std::unique(mentions.begin(), mentions.end()), mentions.end());
      for (std::size_t j : mentions) {
        m_mentioned_by[j].push_back(i);
      }
    }
  }

  template <typename P> [[nodiscard]] bool any_in(P&& pred) const {
    for (std::size_t i = 0; i < m_units.size(); ++i) {
      if (m_in[i] && pred(m_units[i])) {
        return true;
      }
    }
    return false;
  }

  [[nodiscard]] std::vector<std::uint32_t> starts() const {
    std::vector<std::uint32_t> out;
    for (std::size_t i = 0; i < m_units.size(); ++i) {
      if (m_in[i]) {
        out.push_back(m_units[i].start);
      }
    }
    return out;
  }

  // In the scope, and to be followed further.
  void add(std::size_t i) {
    if (!m_in[i]) {
      m_in[i] = true;
      m_work.push_back(i);
    }
  }
  // In the scope only (`i` past the end: nothing).
  void mark(std::size_t i) {
    if (i < m_units.size()) {
      m_in[i] = true;
    }
  }

  // Bit c: the unit produces (consumes) channel c. Read from its text on first use.
  struct ChannelBits {
    std::uint32_t produces = 0;
    std::uint32_t consumes = 0;
  };
  const ChannelBits& bits(std::size_t i) {
    if (m_bits.empty()) {
      m_bits.resize(m_units.size());
    }
    std::optional<ChannelBits>& b = m_bits[i];
    if (!b) {
      b.emplace();
      const std::string_view text = text_of(i);
      for (std::size_t c = 0; c < channels().size(); ++c) {
        const Channel& channel = channels()[c];
        b->produces |= mentions_any(text, channel.producers) ? 1U << c : 0U;
        const bool read = !channel.scripts_only || is_a_script_for(c);
        b->consumes |= read && mentions_any(text, channel.consumers) ? 1U << c : 0U;
      }
    }
    return *b;
  }

  // Whether the module's own statements read channel `c` (see Channel::scripts_only).
  bool is_a_script_for(std::size_t c) {
    if (!m_script) {
      m_script = false;
      for (std::size_t i = 0; i < m_units.size() && !*m_script; ++i) {
        m_script = is_script(m_units[i]) && mentions_any(text_of(i), channels()[c].consumers);
      }
    }
    return *m_script;
  }

  // Every unit consuming a channel unit `i` produces (`consumers`), or producing one it consumes.
  template <typename F> void for_each_channel_partner(std::size_t i, bool consumers, F&& f) {
    const std::uint32_t mine = consumers ? bits(i).produces : bits(i).consumes;
    if (mine == 0) {
      return;
    }
    for (std::size_t j = 0; j < m_units.size(); ++j) {
      if (!m_in[j] && ((consumers ? bits(j).consumes : bits(j).produces) & mine) != 0) {
        f(j);
      }
    }
  }

  // Up from the work list: the units reading what changed. A channel's consumers read a fact of
  // the whole module; their own summaries do not change with it, so they are not followed.
  void spread_up() {
    while (!m_work.empty()) {
      const std::size_t i = m_work.back();
      m_work.pop_back();
      for (std::size_t j : m_mentioned_by[i]) {
        add(j);
      }
      for_each_channel_partner(i, true, [&](std::size_t j) { mark(j); });
    }
  }

  // Down from the seeds: the definitions they mention, and theirs.
  void spread_down(std::vector<std::size_t> work) {
    std::vector<bool> seen(m_units.size(), false);
    while (!work.empty()) {
      const std::size_t i = work.back();
      work.pop_back();
      for (std::size_t j : m_mentions[i]) {
        if (is_definition(m_units[j]) && !seen[j]) {
          seen[j] = true;
          work.push_back(j);
          mark(j);
        }
      }
    }
  }

  void add_dependencies() {
    m_work.clear();
    for (std::size_t i = 0; i < m_units.size(); ++i) {
      if (m_in[i]) {
        m_work.push_back(i);
      }
    }
    while (!m_work.empty()) {
      const std::size_t i = m_work.back();
      m_work.pop_back();
      for (std::size_t j : m_mentions[i]) {
        add(j);
      }
      for_each_channel_partner(i, false, [&](std::size_t j) { add(j); });
    }
  }

  const std::vector<TopLevelUnit>& m_units;
  std::string_view m_text;
  std::vector<bool> m_in;
  std::vector<std::size_t> m_work;
  std::vector<std::optional<ChannelBits>> m_bits;
  std::optional<bool> m_script;                         // of the one scripts-only channel
  std::vector<std::vector<std::size_t>> m_mentions;     // by unit: the units binding a name it mentions
  std::vector<std::vector<std::size_t>> m_mentioned_by; // the reverse
};

} // namespace

bool is_definition(const TopLevelUnit& unit) {
  const auto& s = syntax::grammar().sym;
  return unit.symbol == s.function_definition || unit.symbol == s.class_definition ||
         unit.symbol == s.decorated_definition;
}

std::optional<std::size_t> unit_at(std::uint32_t offset, const std::vector<TopLevelUnit>& units) {
  auto it = std::upper_bound(units.begin(), units.end(), offset,
                             [](std::uint32_t o, const TopLevelUnit& u) { return o < u.start; });
  if (it == units.begin() || offset >= (it - 1)->end) {
    return std::nullopt;
  }
  return static_cast<std::size_t>(it - 1 - units.begin());
}

std::vector<TopLevelUnit> top_level_units(TSNode root, std::string_view text,
                                          const std::vector<TopLevelUnit>* earlier) {
  // A statement whose text an edit left alone binds what it bound: its names are taken from the
  // earlier units instead of walking it again (most of the statements after any edit).
  std::unordered_map<std::uint64_t, const TopLevelUnit*> known;
  if (earlier != nullptr) {
    known.reserve(earlier->size());
    for (const TopLevelUnit& u : *earlier) {
      known.emplace(u.text_hash, &u);
    }
  }
  std::vector<TopLevelUnit> units;
  units.reserve(ts_node_child_count(root));
  TSTreeCursor cursor = ts_tree_cursor_new(root);
  for (bool more = ts_tree_cursor_goto_first_child(&cursor); more; more = ts_tree_cursor_goto_next_sibling(&cursor)) {
    const TSNode child = ts_tree_cursor_current_node(&cursor);
    const std::uint32_t start = ts_node_start_byte(child);
    const std::uint32_t end = ts_node_end_byte(child);
    const TSSymbol symbol = ts_node_symbol(child);
    const std::uint64_t hash = std::hash<std::string_view>{}(text.substr(start, end - start));
    if (auto it = known.find(hash);
        it != known.end() && it->second->symbol == symbol && it->second->end - it->second->start == end - start) {
      units.push_back(*it->second);
    } else {
      TopLevelUnit unit;
      unit.symbol = symbol;
      unit.context = symbol == syntax::grammar().sym.comment;
      unit.test_case = is_test_case_definition(child, text);
      unit.plain_assignment = is_plain_assignment(child, text);
      collect_binds(child, text, unit);
      units.push_back(std::move(unit));
    }
    units.back().start = start;
    units.back().end = end;
    units.back().text_hash = hash;
  }
  ts_tree_cursor_delete(&cursor);
  return units;
}

namespace {

// Where `offset` is as tree-sitter counts: a row and a column in bytes.
TSPoint point_of(std::string_view text, std::size_t offset) {
  const std::string_view before = text.substr(0, offset);
  const std::size_t line_start = before.rfind('\n') + 1; // npos + 1 == 0
  return TSPoint{static_cast<std::uint32_t>(std::count(before.begin(), before.end(), '\n')),
                 static_cast<std::uint32_t>(offset - line_start)};
}

TSPoint point_after(TSPoint start, std::string_view inserted) {
  const std::size_t last_newline = inserted.rfind('\n');
  if (last_newline == std::string_view::npos) {
    return TSPoint{start.row, start.column + static_cast<std::uint32_t>(inserted.size())};
  }
  return TSPoint{start.row + static_cast<std::uint32_t>(std::count(inserted.begin(), inserted.end(), '\n')),
                 static_cast<std::uint32_t>(inserted.size() - last_newline - 1)};
}

} // namespace

TSInputEdit line_edit(std::string_view text, std::uint32_t start, std::uint32_t end, std::string_view inserted) {
  const std::size_t line_start = start == 0 ? 0 : text.rfind('\n', start - 1) + 1; // npos + 1 == 0
  std::size_t line_end = text.find('\n', end);
  line_end = line_end == std::string_view::npos ? text.size() : line_end + 1;
  std::string replaced(text.substr(line_start, start - line_start));
  replaced += inserted;
  replaced += text.substr(end, line_end - end);
  TSInputEdit edit{};
  edit.start_byte = static_cast<std::uint32_t>(line_start);
  edit.old_end_byte = static_cast<std::uint32_t>(line_end);
  edit.new_end_byte = static_cast<std::uint32_t>(line_start + replaced.size());
  edit.start_point = point_of(text, line_start);
  edit.old_end_point = point_after(edit.start_point, text.substr(line_start, line_end - line_start));
  edit.new_end_point = point_after(edit.start_point, replaced);
  return edit;
}

TSInputEdit exact_edit(std::string_view text, std::uint32_t start, std::uint32_t end, std::string_view inserted) {
  TSInputEdit edit{};
  edit.start_byte = start;
  edit.old_end_byte = end;
  edit.new_end_byte = start + static_cast<std::uint32_t>(inserted.size());
  edit.start_point = point_of(text, start);
  edit.old_end_point = point_after(edit.start_point, text.substr(start, end - start));
  edit.new_end_point = point_after(edit.start_point, inserted);
  return edit;
}

std::uint32_t shift_through(std::uint32_t offset, const std::vector<TSInputEdit>& edits) {
  for (const TSInputEdit& e : edits) {
    offset = shift_one(offset, e);
  }
  return offset;
}

std::uint32_t shift_row_through(std::uint32_t row, const std::vector<TSInputEdit>& edits) {
  for (const TSInputEdit& e : edits) {
    // A row starting where the edit ends (at a line's start, as line_edit() makes them) moves too.
    if (row > e.old_end_point.row || (row == e.old_end_point.row && e.old_end_point.column == 0)) {
      row = row - e.old_end_point.row + e.new_end_point.row;
    }
  }
  return row;
}

std::optional<RelintScope> relint_scope(const std::vector<TopLevelUnit>& before, const std::vector<TopLevelUnit>& now,
                                        const std::vector<TSInputEdit>& edits, std::string_view text) {
  auto seeds = touched_units(before, now, edits);
  if (!seeds) {
    return std::nullopt;
  }
  // An import, or a statement of the module's own code that does more than bind names (a call
  // that sets a grad mode or moves a model), changes what every function reads.
  if (std::any_of(seeds->begin(), seeds->end(),
                  [&](std::size_t i) { return !is_definition(now[i]) && !now[i].plain_assignment; })) {
    return std::nullopt;
  }
  if (seeds->empty()) {
    return RelintScope{}; // only blank space between statements changed
  }
  return Closure(now, text).of(*seeds);
}

} // namespace oomlint
