#include "analyzer/diagnostics/suppression.hpp"

#include <cctype>

namespace oomlint {

namespace {

bool match_word_ci(std::string_view text, size_t pos, std::string_view word) {
  if (pos + word.size() > text.size()) {
    return false;
  }
  for (size_t i = 0; i < word.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[pos + i])) != word[i]) {
      return false;
    }
  }
  return true;
}

size_t skip_spaces(std::string_view text, size_t pos) {
  while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) {
    ++pos;
  }
  return pos;
}

// After `noqa`: either nothing (all codes) or `: CODE[, CODE ...]`.
NoqaDirective parse_codes(std::string_view text, size_t pos) {
  NoqaDirective d;
  pos = skip_spaces(text, pos);
  if (pos >= text.size() || text[pos] != ':') {
    d.all = true;
    return d;
  }
  ++pos;
  while (true) {
    pos = skip_spaces(text, pos);
    size_t start = pos;
    while (pos < text.size() && std::isalnum(static_cast<unsigned char>(text[pos])) != 0) {
      ++pos;
    }
    const std::string_view code = text.substr(start, pos - start);
    if (code.empty() || !std::isalpha(static_cast<unsigned char>(code.front())) ||
        !std::isdigit(static_cast<unsigned char>(code.back()))) {
      break;
    }
    d.codes.emplace(code);
    pos = skip_spaces(text, pos);
    if (pos < text.size() && text[pos] == ',') {
      ++pos;
      continue;
    }
    if (pos < text.size() && std::isalnum(static_cast<unsigned char>(text[pos])) != 0) {
      continue; // space-separated codes
    }
    break;
  }
  if (d.codes.empty()) {
    d.all = true; // `# noqa:` with nothing after it: everything, as flake8 reads it
  }
  return d;
}

} // namespace

ParsedComment parse_noqa_comment(std::string_view comment) {
  ParsedComment out;
  for (size_t hash = comment.find('#'); hash != std::string_view::npos; hash = comment.find('#', hash + 1)) {
    size_t pos = skip_spaces(comment, hash + 1);
    if (match_word_ci(comment, pos, "oomlint")) {
      pos = skip_spaces(comment, pos + 7);
      if (pos < comment.size() && comment[pos] == ':') {
        pos = skip_spaces(comment, pos + 1);
        if (match_word_ci(comment, pos, "noqa")) {
          out.file = parse_codes(comment, pos + 4);
        }
      }
      continue;
    }
    if (match_word_ci(comment, pos, "noqa")) {
      const size_t after = pos + 4;
      if (after < comment.size() && std::isalnum(static_cast<unsigned char>(comment[after])) != 0) {
        continue; // `# noqaX` is not a directive
      }
      out.line = parse_codes(comment, after);
    }
  }
  return out;
}

void Suppressions::add_comment(std::uint32_t row, std::string_view comment) {
  const ParsedComment parsed = parse_noqa_comment(comment);
  if (parsed.line) {
    NoqaDirective& d = m_lines[row];
    d.all = d.all || parsed.line->all;
    d.codes.insert(parsed.line->codes.begin(), parsed.line->codes.end());
  }
  if (parsed.file) {
    m_file.all = m_file.all || parsed.file->all;
    m_file.codes.insert(parsed.file->codes.begin(), parsed.file->codes.end());
  }
}

bool Suppressions::suppresses(const Finding& finding) const {
  if (m_file.all || m_file.codes.count(finding.code) != 0) {
    return true;
  }
  auto it = m_lines.find(finding.noqa_row);
  return it != m_lines.end() && (it->second.all || it->second.codes.count(finding.code) != 0);
}

} // namespace oomlint
