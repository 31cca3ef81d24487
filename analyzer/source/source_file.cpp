#include "analyzer/source/source_file.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

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
  const size_t nl = text.find('\n');
  return (nl != std::string_view::npos && nl > 0 && text[nl - 1] == '\r') ? LineEnding::CrLf : LineEnding::Lf;
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

SourceFile::SourceFile(std::string path, std::string bytes)
    : m_path(std::move(path)), m_text(strip_bom(std::move(bytes), m_had_bom)),
      m_line_ending(detect_line_ending(m_text)), m_utf8_problem(find_invalid_utf8(m_text)), m_lines(m_text) {}

Expected<SourceFile> read_source_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ELOOP) {
      return Error{"cannot read: the path is a symbolic link loop; fix or remove the link", path};
    }
    if (err == ENOENT) {
      return Error{"no such file or directory; check the path", path};
    }
    return Error{fmt::format("cannot read: {}", std::strerror(err)), path};
  }
  if (S_ISDIR(st.st_mode)) {
    return Error{"is a directory, not a Python file", path};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{fmt::format("cannot open for reading ({}); check its permissions", std::strerror(errno)), path};
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    return Error{"read failed part-way; check the file and the disk", path};
  }
  return SourceFile(path, std::move(buffer).str());
}

} // namespace oomlint
