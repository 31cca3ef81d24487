#pragma once
// A Python file's text as oomlint analyses it: UTF-8 without BOM, with its original
// properties (BOM, line endings) remembered so fixes can write them back unchanged.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "analyzer/source/line_index.hpp"
#include "analyzer/support/expected.hpp"

namespace oomlint {

enum class LineEnding : std::uint8_t { Lf, CrLf };

struct Utf8Problem {
  std::uint32_t byte = 0; // offset of the first bad byte
  unsigned char value = 0;
};

class SourceFile {
public:
  SourceFile(std::string path, std::string bytes);

  [[nodiscard]] const std::string& path() const { return m_path; }
  [[nodiscard]] std::string_view text() const { return m_text; }
  [[nodiscard]] bool had_bom() const { return m_had_bom; }
  // The file's bytes as they are (or would be) on disk: the text with its BOM, if it had one.
  [[nodiscard]] std::string bytes() const { return m_had_bom ? "\xEF\xBB\xBF" + m_text : m_text; }
  // The same file with another text, keeping its path and BOM.
  [[nodiscard]] SourceFile with_text(std::string text) const {
    return {m_path, m_had_bom ? "\xEF\xBB\xBF" + text : std::move(text)};
  }
  [[nodiscard]] LineEnding line_ending() const { return m_line_ending; }
  [[nodiscard]] const LineIndex& lines() const { return m_lines; }
  [[nodiscard]] const std::optional<Utf8Problem>& utf8_problem() const { return m_utf8_problem; }

  [[nodiscard]] RowCol position(std::uint32_t byte, ColumnUnit unit = ColumnUnit::Character) const {
    return m_lines.position(m_text, byte, unit);
  }
  [[nodiscard]] std::string_view line_text(std::uint32_t row) const { return m_lines.line_text(m_text, row); }
  [[nodiscard]] std::string_view slice(std::uint32_t start, std::uint32_t end) const {
    return std::string_view(m_text).substr(start, end - start);
  }

private:
  std::string m_path;
  bool m_had_bom = false; // declared before m_text: strip_bom() sets it while m_text is built
  std::string m_text;
  LineEnding m_line_ending = LineEnding::Lf;
  std::optional<Utf8Problem> m_utf8_problem;
  LineIndex m_lines;
};

// Reads a file from disk; the error names the file and says what to do.
Expected<SourceFile> read_source_file(const std::string& path);

std::optional<Utf8Problem> find_invalid_utf8(std::string_view bytes);

} // namespace oomlint
