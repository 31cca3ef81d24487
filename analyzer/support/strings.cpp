#include "analyzer/support/strings.hpp"

namespace oomlint {

std::vector<std::string> identifier_words(std::string_view name) {
  std::vector<std::string> words;
  std::string current;
  auto flush = [&] {
    if (!current.empty()) {
      words.push_back(current);
      current.clear();
    }
  };
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool upper = c >= 'A' && c <= 'Z';
    const bool alnum = (c >= 'a' && c <= 'z') || upper || (c >= '0' && c <= '9');
    if (!alnum) {
      flush(); // `_`, `.`, brackets, spaces: anything else separates words
      continue;
    }
    if (upper && !current.empty()) {
      const char prev = name[i - 1];
      const bool prev_lower = (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9');
      const bool next_lower = i + 1 < name.size() && name[i + 1] >= 'a' && name[i + 1] <= 'z';
      if (prev_lower || (next_lower && prev >= 'A' && prev <= 'Z')) {
        flush();
      }
    }
    current.push_back(upper ? static_cast<char>(c + 32) : c);
  }
  flush();
  return words;
}

} // namespace oomlint
