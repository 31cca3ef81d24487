#pragma once
// The buffers an editor has open: their text as the client last sent it, their version, and the
// tree of their last parse, kept in step with every edit (ts_tree_edit) so that the next parse
// is incremental. Positions are LSP's: a line and a column in the negotiated encoding.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "analyzer/driver/linter.hpp"
#include "analyzer/model/project.hpp"
#include "analyzer/service/lint_service.hpp"
#include "analyzer/source/line_index.hpp"
#include "analyzer/syntax/parser.hpp"

namespace oomlint::lsp {

struct Document {
  std::string uri;
  std::string path; // the file the buffer is, for configuration and module names
  std::int64_t version = 0;
  std::string text;
  syntax::Tree tree; // the last parse, of `report`'s text (not edited); empty before the first
  bool stale = true; // `text` changed since `report` was made
  // The next lint must analyse the whole buffer: it was just opened, or the configuration or the
  // project's facts changed. Otherwise only what `edits` reach is analysed again.
  bool whole = true;
  std::vector<TSInputEdit> edits;                    // made since `report`, in order, as whole lines (line_edit)
  std::vector<TSInputEdit> exact_edits;              // the same, as made (exact_edit)
  std::vector<TopLevelUnit> units;                   // the top-level statements of `report`'s text
  bool provisional = false;                          // `report` analysed only what the edits reached (relint_scope.hpp)
  FileReport report;                                 // the last lint's findings, over `report.source`
  std::shared_ptr<const service::Settings> settings; // resolved on first use
  std::optional<model::ProjectContext> context;      // its place in the project; reset with the workspace facts
};

// Applies one `TextDocumentContentChangeEvent`: a whole new text, or a range replaced. Returns
// false (and changes nothing) when the change is malformed.
bool apply_change(Document& doc, const nlohmann::json& change, ColumnUnit unit);

// An LSP `Position` (`{"line": 3, "character": 8}`); empty when it is not one.
std::optional<RowCol> lsp_position(const nlohmann::json& pos);

// The byte offset of a position in `text`; lines and columns past the end clamp to it.
std::uint32_t offset_of(std::string_view text, const LineIndex& lines, RowCol pos, ColumnUnit unit);

// `file:///a%20b/x.py` <-> `/a b/x.py`. Other schemes (`untitled:`) give an empty path.
std::string uri_to_path(std::string_view uri);
std::string path_to_uri(std::string_view path);

} // namespace oomlint::lsp
