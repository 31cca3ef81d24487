#pragma once
// Writing `# noqa: CODE` directives: the edit that silences codes on one line (extending a
// `# noqa:` already there), used by `--add-noqa` and the language server's suppress action.
#include <cstdint>
#include <set>
#include <string>

#include "analyzer/diagnostics/finding.hpp"
#include "analyzer/source/source_file.hpp"

namespace oomlint {

// An insertion at the end of `row` (before its line ending) that makes the line's directive
// cover `codes`.
Edit noqa_edit(const SourceFile& source, std::uint32_t row, const std::set<std::string>& codes);

} // namespace oomlint
