#pragma once
// Byte offsets <-> (row, column). Rows are 0-based here; columns are counted in bytes, Unicode
// characters (code points, what users and Ruff's JSON see) or UTF-16 code units (LSP).
#include <cstdint>
#include <string_view>
#include <vector>

namespace oomlint {

enum class ColumnUnit : std::uint8_t { Byte, Character, Utf16 };

struct RowCol {
  std::uint32_t row = 0;    // 0-based
  std::uint32_t column = 0; // 0-based, in the requested unit
};

class LineIndex {
public:
  explicit LineIndex(std::string_view text);

  [[nodiscard]] std::uint32_t line_count() const { return static_cast<std::uint32_t>(m_starts.size()); }
  [[nodiscard]] std::uint32_t row_of(std::uint32_t byte) const;
  [[nodiscard]] std::uint32_t line_start(std::uint32_t row) const { return m_starts.at(row); }
  // The line's bytes without its terminator (\n or \r\n).
  [[nodiscard]] std::string_view line_text(std::string_view text, std::uint32_t row) const;
  [[nodiscard]] RowCol position(std::string_view text, std::uint32_t byte, ColumnUnit unit) const;
  // The inverse of position(); a column past the line's end clamps to the end.
  [[nodiscard]] std::uint32_t offset(std::string_view text, RowCol pos, ColumnUnit unit) const;

private:
  std::vector<std::uint32_t> m_starts;
};

// Number of units that `bytes` (valid UTF-8) take in the given unit.
std::uint32_t count_units(std::string_view bytes, ColumnUnit unit);

} // namespace oomlint
