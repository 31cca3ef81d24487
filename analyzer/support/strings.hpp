#pragma once
#include <algorithm>
#include <string>
#include <string_view>
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

inline std::string to_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
  return out;
}

// Splits identifiers (or any source text) into lower-case words: `computeLoss` and
// `compute_loss` both give {"compute", "loss"}; used by the model's naming heuristics.
std::vector<std::string> identifier_words(std::string_view name);

} // namespace oomlint
