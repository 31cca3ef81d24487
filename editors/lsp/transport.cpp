#include "editors/lsp/transport.hpp"

#include <charconv>
#include <cstdint>
#include <string_view>

namespace oomlint::lsp {

namespace {

constexpr std::size_t kMaxMessageBytes = std::size_t{256} << 20U; // 256 MiB: larger is a broken header

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  return s;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

} // namespace

bool FrameReader::skip_to_next_header() {
  std::string line;
  while (std::getline(m_in, line)) {
    const std::size_t at = line.find("Content-Length:");
    if (at != std::string::npos) {
      m_pending = line.substr(at);
      return true;
    }
  }
  return false;
}

Frame FrameReader::next() {
  std::optional<std::size_t> length;
  bool bad = false;
  std::string reason;
  bool any_header = false;
  while (true) {
    std::string line;
    if (!m_pending.empty()) {
      line = std::move(m_pending);
      m_pending.clear();
    } else if (!std::getline(m_in, line)) {
      return Frame{};
    }
    std::string_view header = trim(line);
    // The rest of a message sent with too small a Content-Length runs into the next header:
    // start again at that header.
    if (const std::size_t at = header.find("Content-Length:"); at != std::string_view::npos && at > 0) {
      header.remove_prefix(at);
    }
    if (header.empty()) {
      if (!any_header) {
        continue; // stray blank lines between frames
      }
      break;
    }
    any_header = true;
    const std::size_t colon = header.find(':');
    if (colon == std::string_view::npos) {
      bad = true;
      reason = "a header line without a colon";
      continue;
    }
    const std::string_view name = trim(header.substr(0, colon));
    const std::string_view value = trim(header.substr(colon + 1));
    if (equals_ignoring_case(name, "Content-Length")) {
      std::size_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() || n > kMaxMessageBytes) {
        bad = true;
        reason = "a Content-Length that is not a size";
      } else {
        length = n;
      }
    }
  }
  if (bad || !length) {
    Frame f;
    f.kind = Frame::Kind::BadHeader;
    f.reason = bad ? reason : "no Content-Length header";
    if (length && !bad) {
      m_in.ignore(static_cast<std::streamsize>(*length));
    } else {
      skip_to_next_header();
    }
    return f;
  }
  Frame f;
  f.body.resize(*length);
  m_in.read(f.body.data(), static_cast<std::streamsize>(*length));
  if (static_cast<std::size_t>(m_in.gcount()) != *length) {
    return Frame{}; // the stream ended inside the message
  }
  f.kind = Frame::Kind::Message;
  return f;
}

void FrameWriter::write(const std::string& body) {
  const std::lock_guard<std::mutex> lock(m_mutex);
  m_out << "Content-Length: " << body.size() << "\r\n\r\n" << body;
  m_out.flush();
}

} // namespace oomlint::lsp
