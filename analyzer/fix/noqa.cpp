#include "analyzer/fix/noqa.hpp"

#include <string_view>

namespace oomlint {

Edit noqa_edit(const SourceFile& source, std::uint32_t row, const std::set<std::string>& codes) {
  const std::string_view line = source.line_text(row);
  const auto end = source.lines().line_start(row) + static_cast<std::uint32_t>(line.size());
  std::string list;
  for (const std::string& c : codes) {
    list += (list.empty() ? "" : ", ") + c;
  }
  // A directive already there (`# noqa: OOM101`) is extended rather than repeated.
  const bool existing = line.find("# noqa:") != std::string_view::npos;
  return Edit{end, end, existing ? ", " + list : "  # noqa: " + list};
}

} // namespace oomlint
