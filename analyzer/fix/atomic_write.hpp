#pragma once
// Writing a fixed file back without losing anything: the same BOM and line endings (the text
// keeps them), the same permission bits, written to a temporary file beside it and renamed over
// it, and only when the file on disk is still what was read. A read-only file is refused; a
// hard-linked one is written in place so that its other names see the fix; setuid, setgid and
// sticky bits survive.
#include <string>
#include <string_view>

#include "analyzer/support/expected.hpp"

namespace oomlint {

// Replaces `path` with `bytes` when its current content is still `expected_bytes`.
Expected<bool> write_file_atomically(const std::string& path, std::string_view bytes, std::string_view expected_bytes);

} // namespace oomlint
