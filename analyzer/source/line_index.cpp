#include "analyzer/source/line_index.hpp"

#include <algorithm>

namespace oomlint {

namespace {

std::uint32_t sequence_length(unsigned char lead) {
  if (lead < 0x80) {
    return 1;
  }
  if ((lead >> 5) == 0x6) {
    return 2;
  }
  if ((lead >> 4) == 0xE) {
    return 3;
  }
  if ((lead >> 3) == 0x1E) {
    return 4;
  }
  return 1; // a stray continuation byte counts as one unit
}

} // namespace

LineIndex::LineIndex(std::string_view text) {
  m_starts.push_back(0);
  for (std::uint32_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      m_starts.push_back(i + 1);
    }
  }
}

std::uint32_t LineIndex::row_of(std::uint32_t byte) const {
  auto it = std::upper_bound(m_starts.begin(), m_starts.end(), byte);
  return static_cast<std::uint32_t>(std::distance(m_starts.begin(), it) - 1);
}

std::string_view LineIndex::line_text(std::string_view text, std::uint32_t row) const {
  if (row >= m_starts.size()) {
    return {};
  }
  const std::uint32_t start = m_starts[row];
  std::uint32_t end = row + 1 < m_starts.size() ? m_starts[row + 1] : static_cast<std::uint32_t>(text.size());
  if (end > start && text[end - 1] == '\n') {
    --end;
  }
  if (end > start && text[end - 1] == '\r') {
    --end;
  }
  return text.substr(start, end - start);
}

std::uint32_t count_units(std::string_view bytes, ColumnUnit unit) {
  if (unit == ColumnUnit::Byte) {
    return static_cast<std::uint32_t>(bytes.size());
  }
  std::uint32_t units = 0;
  for (size_t i = 0; i < bytes.size();) {
    const std::uint32_t len = sequence_length(static_cast<unsigned char>(bytes[i]));
    units += (unit == ColumnUnit::Utf16 && len == 4) ? 2 : 1;
    i += len;
  }
  return units;
}

RowCol LineIndex::position(std::string_view text, std::uint32_t byte, ColumnUnit unit) const {
  byte = std::min<std::uint32_t>(byte, static_cast<std::uint32_t>(text.size()));
  const std::uint32_t row = row_of(byte);
  const std::uint32_t start = m_starts[row];
  return {row, count_units(text.substr(start, byte - start), unit)};
}

std::uint32_t LineIndex::offset(std::string_view text, RowCol pos, ColumnUnit unit) const {
  if (pos.row >= m_starts.size()) {
    return static_cast<std::uint32_t>(text.size());
  }
  const std::string_view line = line_text(text, pos.row);
  const std::uint32_t start = m_starts[pos.row];
  if (unit == ColumnUnit::Byte) {
    return start + std::min<std::uint32_t>(pos.column, static_cast<std::uint32_t>(line.size()));
  }
  std::uint32_t units = 0;
  size_t i = 0;
  while (i < line.size() && units < pos.column) {
    const std::uint32_t len = sequence_length(static_cast<unsigned char>(line[i]));
    units += (unit == ColumnUnit::Utf16 && len == 4) ? 2 : 1;
    i += len;
  }
  return start + static_cast<std::uint32_t>(std::min(i, line.size()));
}

} // namespace oomlint
