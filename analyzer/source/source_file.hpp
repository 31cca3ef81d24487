#pragma once
// A Python file's text as oomlint analyses it: UTF-8 without BOM, with `\n` for old Mac `\r`
// line endings, decoded from Latin-1 when a PEP 263 cookie says so. The file's own properties
// (BOM, line endings, encoding) are remembered so fixes write them back unchanged.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "analyzer/source/line_index.hpp"
#include "analyzer/support/expected.hpp"

namespace oomlint {

enum class LineEnding : std::uint8_t { Lf, CrLf, Cr };

// How the file's bytes are encoded: UTF-8, or one byte per character as a PEP 263 cookie
// (`# -*- coding: latin-1 -*-`) declares.
enum class SourceEncoding : std::uint8_t { Utf8, Latin1 };

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
  // The file's bytes as they are (or would be) on disk: the text with its BOM, line endings and
  // encoding as the file had them.
  [[nodiscard]] std::string bytes() const;
  // The same file with another text (as analysed), keeping its path, BOM, line endings and encoding.
  [[nodiscard]] SourceFile with_text(std::string text) const;
  [[nodiscard]] LineEnding line_ending() const { return m_line_ending; }
  [[nodiscard]] SourceEncoding encoding() const { return m_encoding; }
  // The encoding a PEP 263 cookie names when oomlint cannot read it (`euc-jp`); empty otherwise.
  [[nodiscard]] const std::string& unsupported_encoding() const { return m_unsupported_encoding; }
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
  SourceFile() = default;
  void index_text(); // line starts and the UTF-8 check, after m_text changes

  std::string m_path;
  bool m_had_bom = false;
  std::string m_text;
  LineEnding m_line_ending = LineEnding::Lf;
  SourceEncoding m_encoding = SourceEncoding::Utf8;
  std::string m_unsupported_encoding;
  std::optional<Utf8Problem> m_utf8_problem;
  LineIndex m_lines{std::string_view{}};
};

// Files larger than this are not read unless the configuration raises the limit: Python that
// large is generated, and its tree alone would take gigabytes.
inline constexpr std::uint64_t kDefaultMaxFileBytes = 10ULL * 1024 * 1024;

// Reads a regular file from disk (never a FIFO or a device, which could block or never end);
// the error names the file and says what to do.
Expected<SourceFile> read_source_file(const std::string& path, std::uint64_t max_bytes = kDefaultMaxFileBytes);

// The encoding a PEP 263 cookie on the first or second line declares, lower-cased; empty when none.
std::string declared_encoding(std::string_view bytes);

std::optional<Utf8Problem> find_invalid_utf8(std::string_view bytes);

} // namespace oomlint
