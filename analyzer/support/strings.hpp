#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace oomlint {

inline bool starts_with(std::string_view s, std::string_view prefix) {
  return s.starts_with(prefix);
}
inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.ends_with(suffix);
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

inline std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) {
      end = s.size();
    }
    out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// `name` stands in `text` as a whole identifier, not as part of a longer one or after a `.`
// (`loss` in `total + loss`, not in `loss_fn` or `out.loss`).
inline bool mentions_identifier(std::string_view text, std::string_view name) {
  const auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  for (size_t pos = text.find(name); pos != std::string_view::npos; pos = text.find(name, pos + 1)) {
    const bool left = pos == 0 || (!word(text[pos - 1]) && text[pos - 1] != '.');
    const size_t end = pos + name.size();
    if (left && (end >= text.size() || !word(text[end]))) {
      return true;
    }
  }
  return false;
}

// Source text on one line for a message: runs of whitespace become one space, and text past
// `max_chars` is cut and ends in `...` (`model(**batch).loss`).
inline std::string one_line_excerpt(std::string_view text, std::size_t max_chars) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) {
      out += ' ';
      space = false;
    }
    out += c;
    if (out.size() >= max_chars) {
      out += "...";
      break;
    }
  }
  return out;
}

// Text safe inside HTML or XML elements and double-quoted attributes.
// Text safe to print on a terminal: control characters (an ESC that would start an escape
// sequence, NUL, a carriage return that would overwrite the line) shown as their Unicode control
// pictures (U+2400 + code, U+2421 for DEL), one column each like the byte they stand for; bytes
// that are not UTF-8 (a file name) as U+FFFD. Tabs are kept.
inline std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 && c != '\t') {
      out += "\xE2\x90";
      out.push_back(static_cast<char>(0x80 + c));
      ++i;
      continue;
    }
    if (c == 0x7F) {
      out += "\xE2\x90\xA1";
      ++i;
      continue;
    }
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool valid = len != 0 && i + len <= s.size();
    for (size_t k = 1; valid && k < len; ++k) {
      valid = (static_cast<unsigned char>(s[i + k]) >> 6) == 0x2;
    }
    if (!valid) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    if (c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0) { // C1 controls, U+0080..U+009F
      out += "\xEF\xBF\xBD";
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  return out;
}

inline std::string escape_markup(std::string_view raw) {
  const std::string s = printable(raw); // XML allows no control characters, even escaped
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      out.push_back(c);
    }
  }
  return out;
}

inline std::string to_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
  return out;
}

// The lower-case words of an identifier (or of any source text): `computeLoss` and
// `compute_loss` both give {"compute", "loss"}. Used by the model's naming heuristics on every
// call, so it keeps its words in fixed inline storage and never allocates; text past
// kCapacity bytes or kMaxWords words is ignored.
class Words {
public:
  static constexpr std::size_t kCapacity = 192;
  static constexpr std::size_t kMaxWords = 24;

  explicit Words(std::string_view text);
  [[nodiscard]] std::size_t size() const { return m_count; }
  [[nodiscard]] bool empty() const { return m_count == 0; }
  [[nodiscard]] std::string_view operator[](std::size_t i) const {
    return {m_chars.data() + m_spans[i].first, m_spans[i].second};
  }
  [[nodiscard]] std::string_view front() const { return (*this)[0]; }
  [[nodiscard]] std::string_view back() const { return (*this)[m_count - 1]; }
  [[nodiscard]] bool contains(std::string_view word) const {
    for (std::size_t i = 0; i < m_count; ++i) {
      if ((*this)[i] == word) {
        return true;
      }
    }
    return false;
  }

private:
  std::array<char, kCapacity> m_chars{};
  std::array<std::pair<std::uint8_t, std::uint8_t>, kMaxWords> m_spans{};
  std::size_t m_count = 0;
};

inline Words identifier_words(std::string_view name) {
  return Words(name);
}

} // namespace oomlint
