#pragma once
// What an edit can change. A buffer in the editor changes one function at a time; re-analysing
// the whole module after each keystroke costs tens of milliseconds on a 5,000-line file. The
// module's top-level statements are units. A caller reads its callee's summary and a callee runs
// in its callers' context, so an edit inside a definition affects that definition, the units
// that mention a name it binds or a method it defines (and theirs, up), and the definitions it
// mentions (and theirs, down). A few facts belong to the whole module rather than to names (what
// it saves against what it loads, where CUDA starts against allocator settings); they are
// followed as channels between the units whose text produces and consumes them. The model is
// built from the affected units and everything they mention.
//
// The closure is checked, not proved: every fixture and 25,910 incremental lints of edits to
// 2,500 real files agree with a whole lint (bench/relint_agreement.cpp), and the language server
// lints a buffer whole once the editor is quiet, publishing again only if that differs.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tree_sitter/api.h>

namespace oomlint {

// One statement directly in the module, with the names it binds at module level.
struct TopLevelUnit {
  std::uint32_t start = 0;
  std::uint32_t end = 0;
  TSSymbol symbol = 0;
  std::vector<std::string> binds;   // a def's or class's name; assigned, imported, declared names
  std::vector<std::string> methods; // a class's methods, called as attributes from anywhere
  bool context = false;             // imports or a comment: always analysed (framework facts, `# noqa`)
  // A test case (`def test_*`, a `Test*` or `*TestCase` class, a class with `test_*` methods): in
  // a test file one makes every function test code, so the first is always analysed.
  bool test_case = false;
  // A statement of the module's own code that only binds names (`default_cfgs = {...}`), with no
  // word of grad modes in it: what it changes reaches the rest through those names.
  bool plain_assignment = false;
  std::uint64_t text_hash = 0; // of its text: a statement with the same text binds the same names
};

// The module's top-level statements. Those whose text is the same as one of `earlier` (the units
// of the text before an edit) are copied from it rather than read again.
std::vector<TopLevelUnit> top_level_units(TSNode root, std::string_view text,
                                          const std::vector<TopLevelUnit>* earlier = nullptr);

// A function's or class's definition, possibly decorated.
bool is_definition(const TopLevelUnit& unit);

// The index of the unit (sorted by start) holding byte `offset`, if any.
std::optional<std::size_t> unit_at(std::uint32_t offset, const std::vector<TopLevelUnit>& units);

// The edit replacing [start, end) of `text` by `inserted`, told as a change of the whole lines it
// touches, their newlines included: what findings and statements move by, and one way to tell
// tree-sitter of it (syntax::reparse()). Told exactly, an edit that ends just before a newline (a
// character deleted at the end of a line, the commonest edit there is) makes tree-sitter 0.20
// re-parse everything after it; told whole lines, it re-parses only them.
TSInputEdit line_edit(std::string_view text, std::uint32_t start, std::uint32_t end, std::string_view inserted);

// The same edit as made: [start, end) replaced by `inserted`.
TSInputEdit exact_edit(std::string_view text, std::uint32_t start, std::uint32_t end, std::string_view inserted);

// Where a byte offset of the text before `edits` (applied in order) lies in the text after them.
std::uint32_t shift_through(std::uint32_t offset, const std::vector<TSInputEdit>& edits);
// The same for a 0-based row.
std::uint32_t shift_row_through(std::uint32_t row, const std::vector<TSInputEdit>& edits);

// Which top-level statements an incremental lint analyses, by their start bytes (sorted).
struct RelintScope {
  std::vector<std::uint32_t> affected; // the statements whose findings the edits can change
  std::vector<std::uint32_t> built;    // what the model is built from: those and what they depend on
};

// What to analyse again after `edits`; nullopt when the whole module must be linted again (its
// shape changed, or an import or a statement of its own code was edited). `before` are the units
// of the text the edits were made to, `text` is the text after them.
std::optional<RelintScope> relint_scope(const std::vector<TopLevelUnit>& before, const std::vector<TopLevelUnit>& now,
                                        const std::vector<TSInputEdit>& edits, std::string_view text);

} // namespace oomlint
