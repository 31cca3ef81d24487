#pragma once
// The LSP base protocol's framing: `Content-Length: N` headers, a blank line, then N bytes of
// JSON. Reading never throws: a frame whose headers make no sense is reported as such and the
// reader looks for the next `Content-Length:` so that one bad message does not end the session.
#include <istream>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>

namespace oomlint::lsp {

struct Frame {
  enum class Kind : std::uint8_t { Message, BadHeader, End };
  Kind kind = Kind::End;
  std::string body;   // the message (Kind::Message)
  std::string reason; // what was wrong (Kind::BadHeader)
};

class FrameReader {
public:
  explicit FrameReader(std::istream& in) : m_in(in) {}
  // The next frame; Kind::End at the end of the stream (or a frame cut off by it).
  Frame next();

private:
  bool skip_to_next_header();
  std::istream& m_in;
  std::string m_pending; // a header line already read while resynchronising
};

// Writes whole frames; safe to call from several threads.
class FrameWriter {
public:
  explicit FrameWriter(std::ostream& out) : m_out(out) {}
  void write(const std::string& body);

private:
  std::ostream& m_out;
  std::mutex m_mutex;
};

} // namespace oomlint::lsp
