#pragma once
// A unified diff (`--- a`, `+++ b`, `@@ -l,n +l,n @@` hunks with three lines of context) of two
// texts, line by line, from a shortest edit script (Myers' O(ND) algorithm).
#include <string>
#include <string_view>

namespace oomlint {

std::string unified_diff(std::string_view before, std::string_view after, std::string_view from_name,
                         std::string_view to_name, int context = 3);

} // namespace oomlint
