#include "analyzer/support/strings.hpp"

namespace oomlint {

Words::Words(std::string_view text) {
  std::size_t used = 0;
  std::size_t word_start = 0;
  bool in_word = false;
  auto flush = [&] {
    if (in_word && used > word_start && m_count < kMaxWords) {
      m_spans[m_count++] = {static_cast<std::uint8_t>(word_start), static_cast<std::uint8_t>(used - word_start)};
    }
    in_word = false;
  };
  for (std::size_t i = 0; i < text.size() && used < kCapacity; ++i) {
    const char c = text[i];
    const bool upper = c >= 'A' && c <= 'Z';
    const bool alnum = (c >= 'a' && c <= 'z') || upper || (c >= '0' && c <= '9');
    if (!alnum) {
      flush(); // `_`, `.`, brackets, spaces: anything else separates words
      continue;
    }
    if (upper && in_word) {
      const char prev = text[i - 1];
      const bool prev_lower = (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9');
      const bool next_lower = i + 1 < text.size() && text[i + 1] >= 'a' && text[i + 1] <= 'z';
      if (prev_lower || (next_lower && prev >= 'A' && prev <= 'Z')) {
        flush(); // computeLoss -> compute | loss; HTTPServer -> http | server
      }
    }
    if (!in_word) {
      word_start = used;
      in_word = true;
    }
    m_chars[used++] = upper ? static_cast<char>(c + 32) : c;
  }
  flush();
}

} // namespace oomlint
