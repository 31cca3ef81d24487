#pragma once
// `# noqa`, `# noqa: OOM101, OOM201` on a line, and `# oomlint: noqa[: CODES]` for a file.
// Only real comments count (a `# noqa` inside a string does nothing), and `# expect:` test
// annotations are not suppressions.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/diagnostics/finding.hpp"

namespace oomlint {

struct NoqaDirective {
  bool all = false;
  std::set<std::string> codes;
};

struct ParsedComment {
  std::optional<NoqaDirective> line;
  std::optional<NoqaDirective> file;
};

ParsedComment parse_noqa_comment(std::string_view comment);

class Suppressions {
public:
  void add_comment(std::uint32_t row, std::string_view comment);
  [[nodiscard]] bool suppresses(const Finding& finding) const;

private:
  std::map<std::uint32_t, NoqaDirective> m_lines;
  NoqaDirective m_file;
};

} // namespace oomlint
