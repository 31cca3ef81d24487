#include "analyzer/explain/log_line.hpp"

#include <array>

namespace oomlint::explain {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_word(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.';
}

std::size_t digits_at(std::string_view s, std::size_t at) {
  std::size_t n = 0;
  while (at + n < s.size() && is_digit(s[at + n])) {
    ++n;
  }
  return n;
}

std::size_t skip_spaces(std::string_view s, std::size_t at = 0) {
  while (at < s.size() && (s[at] == ' ' || s[at] == '\t')) {
    ++at;
  }
  return at;
}

constexpr std::array<std::string_view, 9> kLevels = {"DEBUG",    "INFO",  "WARNING", "WARN",  "ERROR",
                                                     "CRITICAL", "FATAL", "TRACE",   "NOTICE"};

// `2024-05-01 12:00:00,123`, `2024-05-01T12:00:00.123Z`, `05-01 12:00:00` (vLLM), `12:00:00`:
// the length of the timestamp at the start of `s`, 0 if none.
std::size_t timestamp_length(std::string_view s) {
  std::size_t at = 0;
  const std::size_t year = digits_at(s, at);
  if ((year == 4 || year == 2) && at + year < s.size() && (s[at + year] == '-' || s[at + year] == '/')) {
    at += year + 1;
    at += digits_at(s, at);
    if (at < s.size() && (s[at] == '-' || s[at] == '/')) {
      ++at;
      at += digits_at(s, at);
    }
    if (at < s.size() && (s[at] == ' ' || s[at] == 'T')) {
      ++at;
    } else {
      return at;
    }
  }
  const std::size_t start_time = at;
  const std::size_t hours = digits_at(s, at);
  if (hours != 2 || at + 2 >= s.size() || s[at + 2] != ':') {
    return start_time == 0 ? 0 : start_time - 1;
  }
  at += 3;
  at += digits_at(s, at);
  if (at < s.size() && s[at] == ':') {
    ++at;
    at += digits_at(s, at);
  }
  if (at < s.size() && (s[at] == '.' || s[at] == ',')) {
    ++at;
    at += digits_at(s, at);
  }
  if (at < s.size() && s[at] == 'Z') {
    ++at;
  } else if (at < s.size() && (s[at] == '+' || s[at] == '-') && digits_at(s, at + 1) >= 2) {
    ++at;
    at += digits_at(s, at);
    if (at < s.size() && s[at] == ':') {
      ++at;
      at += digits_at(s, at);
    }
  }
  return at;
}

std::size_t level_length(std::string_view s) {
  for (std::string_view level : kLevels) {
    if (s.substr(0, level.size()) == level &&
        (s.size() == level.size() || !is_word(s[level.size()]) || s[level.size()] == '.')) {
      return level.size();
    }
  }
  return 0;
}

// `rank3`, `Rank 3`, `default0`, `1,0`: what a bracketed launcher prefix names.
std::optional<std::string> rank_in_brackets(std::string_view inner) {
  for (std::string_view word : {std::string_view("rank"), std::string_view("Rank"), std::string_view("default")}) {
    if (inner.substr(0, word.size()) == word) {
      std::string_view rest = inner.substr(word.size());
      const std::size_t space = skip_spaces(rest);
      if (digits_at(rest, space) == rest.size() - space && rest.size() > space) {
        return std::string(word == "default" ? "default" : "rank") + std::string(rest.substr(space));
      }
    }
  }
  const std::size_t a = digits_at(inner, 0);
  if (a > 0 && a < inner.size() && inner[a] == ',' && digits_at(inner, a + 1) == inner.size() - a - 1) {
    return std::string(inner);
  }
  return std::nullopt;
}

// One prefix off the front of `s`: how many bytes it took (0: none here).
std::size_t one_prefix(std::string_view s, bool first, std::string& rank) {
  if (s.empty()) {
    return 0;
  }
  if (s.front() == '[') {
    const std::size_t close = s.find(']');
    if (close == std::string_view::npos || close > 96) {
      return 0;
    }
    const std::string_view inner = s.substr(1, close - 1);
    std::size_t end = close + 1;
    if (auto r = rank_in_brackets(inner)) {
      rank = *r;
      for (std::string_view stream : {std::string_view("<stdout>"), std::string_view("<stderr>")}) {
        if (s.substr(end, stream.size()) == stream) {
          end += stream.size();
        }
      }
    } else if (!(timestamp_length(inner) > 0 || level_length(inner) > 0 ||
                 inner.find(".py:") != std::string_view::npos || inner.find(".cpp:") != std::string_view::npos ||
                 (inner.size() == 1 && inner[0] >= 'A' && inner[0] <= 'Z'))) {
      return 0; // `[1/3]` or `[W]`-like content is not taken for a prefix unless it is one of these
    }
    if (end < s.size() && s[end] == ':') {
      ++end;
    }
    return end;
  }
  if (s.front() == '(') {
    const std::size_t close = s.find(')');
    const std::size_t pid = s.find("pid=");
    if (close != std::string_view::npos && pid != std::string_view::npos && pid < close && close < 128) {
      rank = std::string(s.substr(pid, close - pid));
      return close + 1;
    }
    return 0;
  }
  if (first) {
    // srun --label: `3: `
    const std::size_t n = digits_at(s, 0);
    if (n > 0 && n <= 5 && n + 1 < s.size() && s[n] == ':' && s[n + 1] == ' ') {
      rank = std::string(s.substr(0, n));
      return n + 2;
    }
  }
  if (const std::size_t t = timestamp_length(s); t >= 5) {
    return t;
  }
  if (const std::size_t l = level_length(s); l > 0) {
    // Python logging's default `ERROR:root:` / `WARNING:__main__:`.
    if (l < s.size() && s[l] == ':') {
      std::size_t end = l + 1;
      while (end < s.size() && is_word(s[end])) {
        ++end;
      }
      if (end < s.size() && s[end] == ':' && end > l + 1) {
        return end + 1;
      }
      return l + 1;
    }
    return l;
  }
  // `train.py:120]` (glog or vLLM locations) and `__main__ - ` logger names before a level.
  std::size_t word = 0;
  while (word < s.size() && (is_word(s[word]) || s[word] == ':' || s[word] == '/' || s[word] == '-')) {
    ++word;
  }
  if (word > 0 && word < s.size() && s[word] == ']' && s.substr(0, word).find(".py:") != std::string_view::npos) {
    return word + 1;
  }
  if (word > 0 && s.substr(word, 3) == " - " && level_length(s.substr(skip_spaces(s, word + 3))) > 0) {
    return word + 3;
  }
  // Separators and quoting: `- `, `| ` (after another prefix: a line that starts with `|` is a
  // table's), `> `, `# `, `: `, pytest's `E   `.
  const bool table_row =
      s.front() == '|' && s.find_last_not_of(" \t") != std::string_view::npos && s[s.find_last_not_of(" \t")] == '|';
  if ((s.front() == '-' || (s.front() == '|' && !first && !table_row) || s.front() == '>' || s.front() == '#' ||
       s.front() == ':' || s.front() == '*') &&
      (s.size() == 1 || s[1] == ' ' || s[1] == '\t')) {
    return 1;
  }
  if (s.front() == 'E' && s.size() > 2 && s[1] == ' ' && s[2] == ' ') {
    return 1;
  }
  return 0;
}

} // namespace

std::string strip_ansi(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] != '\x1b') {
      out.push_back(line[i]);
      continue;
    }
    if (i + 1 >= line.size()) {
      break;
    }
    const char kind = line[i + 1];
    if (kind == '[') {
      std::size_t j = i + 2;
      while (j < line.size() && !(line[j] >= 0x40 && line[j] <= 0x7e)) {
        ++j;
      }
      i = j;
    } else if (kind == ']') {
      std::size_t j = i + 2;
      while (j < line.size() && line[j] != '\x07' &&
             !(line[j] == '\x1b' && j + 1 < line.size() && line[j + 1] == '\\')) {
        ++j;
      }
      i = (j < line.size() && line[j] == '\x1b') ? j + 1 : j;
    } else {
      ++i;
    }
  }
  return out;
}

LogLine strip_log_prefix(std::string_view line) {
  LogLine out;
  std::string_view s = line;
  for (int guard = 0; guard < 16; ++guard) {
    s.remove_prefix(skip_spaces(s));
    const std::size_t n = one_prefix(s, guard == 0, out.rank);
    if (n == 0) {
      break;
    }
    s.remove_prefix(n);
  }
  out.text = s;
  return out;
}

std::optional<Frame> parse_frame(std::string_view text) {
  text.remove_prefix(skip_spaces(text));
  static constexpr std::string_view kFile = "File \"";
  if (text.substr(0, kFile.size()) != kFile) {
    return std::nullopt;
  }
  text.remove_prefix(kFile.size());
  const std::size_t quote = text.find('"');
  if (quote == std::string_view::npos || quote == 0) {
    return std::nullopt;
  }
  Frame f;
  f.file = std::string(text.substr(0, quote));
  text.remove_prefix(quote + 1);
  static constexpr std::string_view kLine = ", line ";
  if (text.substr(0, kLine.size()) != kLine) {
    return std::nullopt;
  }
  text.remove_prefix(kLine.size());
  const std::size_t n = digits_at(text, 0);
  if (n == 0 || n > 9) {
    return std::nullopt;
  }
  for (char c : text.substr(0, n)) {
    f.line = f.line * 10 + static_cast<std::uint64_t>(c - '0');
  }
  text.remove_prefix(n);
  static constexpr std::string_view kIn = ", in ";
  if (text.substr(0, kIn.size()) == kIn) {
    text.remove_prefix(kIn.size());
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
      text.remove_suffix(1);
    }
    f.function = std::string(text);
  }
  return f;
}

} // namespace oomlint::explain
