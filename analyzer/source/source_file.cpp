#include "analyzer/source/source_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace oomlint {

namespace {

std::string strip_bom(std::string bytes, bool& had_bom) {
  had_bom = bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xEF &&
            static_cast<unsigned char>(bytes[1]) == 0xBB && static_cast<unsigned char>(bytes[2]) == 0xBF;
  if (had_bom) {
    bytes.erase(0, 3);
  }
  return bytes;
}

LineEnding detect_line_ending(std::string_view text) {
  const size_t br = text.find_first_of("\r\n");
  if (br == std::string_view::npos || text[br] == '\n') {
    return LineEnding::Lf;
  }
  if (br + 1 < text.size() && text[br + 1] == '\n') {
    return LineEnding::CrLf;
  }
  // Old Mac line endings throughout: Python reads a lone `\r` as a line break, tree-sitter does not.
  return text.find('\n') == std::string_view::npos ? LineEnding::Cr : LineEnding::Lf;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\f';
}

// The encodings whose bytes are the first 256 code points: decoded and re-encoded exactly.
bool is_latin1_name(std::string_view name) {
  for (std::string_view known : {"latin-1", "latin1", "iso-8859-1", "iso8859-1", "iso_8859_1", "iso-latin-1", "l1",
                                 "iso8859_1", "latin_1", "cp819"}) {
    if (name == known || (name.starts_with(known) && name.size() > known.size() && name[known.size()] == '-')) {
      return true;
    }
  }
  return false;
}

bool is_utf8_name(std::string_view name) {
  for (std::string_view known : {"utf-8", "utf8", "utf_8", "u8", "ascii", "us-ascii", "646"}) {
    if (name == known || (name.starts_with(known) && name.size() > known.size() && name[known.size()] == '-')) {
      return true;
    }
  }
  return false;
}

std::string decode_latin1(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 8);
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(ch);
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

// Text decoded from Latin-1 holds only code points below 256; a fix inserts ASCII, so every
// two-byte sequence maps back to its byte. Anything else (which no fix writes) becomes `?`.
std::string encode_latin1(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out.push_back(text[i]);
    } else if ((c == 0xC2 || c == 0xC3) && i + 1 < text.size()) {
      out.push_back(static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3F)));
      ++i;
    } else {
      out.push_back('?');
      while (i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) >> 6) == 0x2) {
        ++i;
      }
    }
  }
  return out;
}

} // namespace

std::optional<Utf8Problem> find_invalid_utf8(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    size_t len = 0;
    std::uint32_t min_value = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c >> 5) == 0x6) {
      len = 2;
      min_value = 0x80;
    } else if ((c >> 4) == 0xE) {
      len = 3;
      min_value = 0x800;
    } else if ((c >> 3) == 0x1E) {
      len = 4;
      min_value = 0x10000;
    } else {
      return Utf8Problem{static_cast<std::uint32_t>(i), c};
    }
    if (i + len > bytes.size()) {
      return Utf8Problem{static_cast<std::uint32_t>(i), c};
    }
    std::uint32_t value = c & (0xFFU >> (len + 1));
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(bytes[i + k]);
      if ((cc >> 6) != 0x2) {
        return Utf8Problem{static_cast<std::uint32_t>(i), c};
      }
      value = (value << 6) | (cc & 0x3FU);
    }
    if (value < min_value || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
      return Utf8Problem{static_cast<std::uint32_t>(i), c};
    }
    i += len;
  }
  return std::nullopt;
}

std::string declared_encoding(std::string_view bytes) {
  // PEP 263: a comment on line 1 or 2 matching `coding[:=]\s*([-\w.]+)`.
  for (int line = 0; line < 2 && !bytes.empty(); ++line) {
    const size_t eol = bytes.find_first_of("\r\n");
    const std::string_view text = bytes.substr(0, eol);
    bytes = eol == std::string_view::npos ? std::string_view{} : bytes.substr(eol + 1);
    size_t i = 0;
    while (i < text.size() && is_space(text[i])) {
      ++i;
    }
    if (i >= text.size() || text[i] != '#') {
      continue; // only a comment line may carry the cookie (and a code line ends the search)
    }
    const size_t at = text.find("coding", i);
    if (at == std::string_view::npos || at + 6 >= text.size() || (text[at + 6] != ':' && text[at + 6] != '=')) {
      continue;
    }
    size_t k = at + 7;
    while (k < text.size() && is_space(text[k])) {
      ++k;
    }
    std::string name;
    while (k < text.size() && (std::isalnum(static_cast<unsigned char>(text[k])) != 0 || text[k] == '-' ||
                               text[k] == '_' || text[k] == '.')) {
      name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[k]))));
      ++k;
    }
    return name;
  }
  return {};
}

SourceFile::SourceFile(std::string path, std::string bytes) : m_path(std::move(path)) {
  m_text = strip_bom(std::move(bytes), m_had_bom);
  m_line_ending = detect_line_ending(m_text);
  if (m_line_ending == LineEnding::Cr) {
    std::replace(m_text.begin(), m_text.end(), '\r', '\n'); // same length: every offset stays put
  }
  if (const std::string name = declared_encoding(m_text); !name.empty() && !m_had_bom) {
    if (is_latin1_name(name)) {
      const bool ascii = std::all_of(m_text.begin(), m_text.end(), [](char c) { return (c & 0x80) == 0; });
      if (!ascii) { // as Python does: every byte is one character, even where it looks like UTF-8
        m_encoding = SourceEncoding::Latin1;
        m_text = decode_latin1(m_text);
      }
    } else if (!is_utf8_name(name)) {
      m_unsupported_encoding = name;
    }
  }
  index_text();
}

void SourceFile::index_text() {
  m_utf8_problem = find_invalid_utf8(m_text);
  m_lines = LineIndex(m_text);
}

std::string SourceFile::bytes() const {
  std::string out = m_had_bom ? "\xEF\xBB\xBF" : "";
  std::string body = m_encoding == SourceEncoding::Latin1 ? encode_latin1(m_text) : m_text;
  if (m_line_ending == LineEnding::Cr) {
    std::replace(body.begin(), body.end(), '\n', '\r');
  }
  return out + body;
}

SourceFile SourceFile::with_text(std::string text) const {
  SourceFile copy;
  copy.m_path = m_path;
  copy.m_had_bom = m_had_bom;
  copy.m_text = std::move(text);
  copy.m_line_ending = m_line_ending;
  copy.m_encoding = m_encoding;
  copy.m_unsupported_encoding = m_unsupported_encoding;
  copy.index_text();
  return copy;
}

namespace {

std::string_view file_type_name(mode_t mode) {
  if (S_ISFIFO(mode)) {
    return "a FIFO (named pipe)";
  }
  if (S_ISCHR(mode)) {
    return "a character device";
  }
  if (S_ISBLK(mode)) {
    return "a block device";
  }
  if (S_ISSOCK(mode)) {
    return "a socket";
  }
  return "not a regular file";
}

std::string megabytes(std::uint64_t bytes) {
  return fmt::format("{:.1f} MB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

} // namespace

Expected<SourceFile> read_source_file(const std::string& path, std::uint64_t max_bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ELOOP) {
      return Error{"cannot read: the path is a symbolic link loop; fix or remove the link", path};
    }
    if (err == ENOENT) {
      return Error{"no such file or directory; check the path (a symbolic link may point nowhere)", path};
    }
    return Error{fmt::format("cannot read: {}", std::strerror(err)), path};
  }
  if (S_ISDIR(st.st_mode)) {
    return Error{"is a directory, not a Python file", path};
  }
  if (!S_ISREG(st.st_mode)) {
    return Error{fmt::format("is {}, not a Python file; skipped", file_type_name(st.st_mode)), path};
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return Error{fmt::format("skipped: {} is over the {} limit for one file (Python this large is generated); "
                             "raise `max-file-size-mb` in the configuration to check it",
                             megabytes(static_cast<std::uint64_t>(st.st_size)), megabytes(max_bytes)),
                 path};
  }
  // O_NONBLOCK: should the path become a FIFO after the stat, opening it must not wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return Error{fmt::format("cannot open for reading ({}); check its permissions", std::strerror(errno)), path};
  }
  struct stat opened {};
  if (::fstat(fd, &opened) != 0 || !S_ISREG(opened.st_mode)) {
    ::close(fd);
    return Error{"changed into something other than a regular file while oomlint ran; skipped", path};
  }
  std::string bytes;
  bytes.reserve(static_cast<size_t>(opened.st_size));
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Error{fmt::format("read failed part-way ({}); check the file and the disk", std::strerror(err)), path};
    }
    if (n == 0) {
      break;
    }
    bytes.append(buffer, static_cast<size_t>(n));
    if (bytes.size() > max_bytes) { // grew while being read
      ::close(fd);
      return Error{
          fmt::format("skipped: it grew past the {} limit for one file while oomlint read it", megabytes(max_bytes)),
          path};
    }
  }
  ::close(fd);
  return SourceFile(path, std::move(bytes));
}

} // namespace oomlint
