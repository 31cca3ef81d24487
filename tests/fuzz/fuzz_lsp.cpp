// libFuzzer target: `oomlint server` fed a session. The input is split at its first NUL: the
// part before is a buffer the client opens, the part after is raw bytes sent after it (frames,
// broken frames, garbage). The session then shuts down. Whatever comes in, the server must not
// crash, must end, and must write nothing but whole frames of JSON.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "analyzer/service/lint_service.hpp"
#include "editors/lsp/server.hpp"
#include "editors/lsp/transport.hpp"
#include "rules/registry.hpp"

namespace {

std::string frame(const nlohmann::json& j) {
  const std::string body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static oomlint::service::LintService service(oomlint::rules::all_rules(), "https://example.org/");
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string text = input.substr(0, nul);
  const std::string rest = nul == std::string::npos ? std::string() : input.substr(nul + 1);
  const std::string uri = "file:///fuzz/train.py";
  std::string session =
      frame({{"jsonrpc", "2.0"},
             {"id", 1},
             {"method", "initialize"},
             {"params", {{"capabilities", {{"general", {{"positionEncodings", {"utf-8"}}}}}}}}}) +
      frame({{"jsonrpc", "2.0"}, {"method", "initialized"}, {"params", nlohmann::json::object()}}) +
      frame(
          {{"jsonrpc", "2.0"},
           {"method", "textDocument/didOpen"},
           {"params", {{"textDocument", {{"uri", uri}, {"languageId", "python"}, {"version", 1}, {"text", text}}}}}}) +
      rest + "\r\n\r\n" + frame({{"jsonrpc", "2.0"}, {"id", 99}, {"method", "shutdown"}}) +
      frame({{"jsonrpc", "2.0"}, {"method", "exit"}});
  std::istringstream in(session);
  std::ostringstream out;
  oomlint::lsp::FrameWriter writer(out);
  oomlint::lsp::Server server(service, writer, oomlint::lsp::ServerOptions{"fuzz", 1});
  (void)server.run(in);
  // Only whole frames of JSON came out.
  std::istringstream written(out.str());
  oomlint::lsp::FrameReader reader(written);
  for (oomlint::lsp::Frame f = reader.next(); f.kind != oomlint::lsp::Frame::Kind::End; f = reader.next()) {
    if (f.kind != oomlint::lsp::Frame::Kind::Message || nlohmann::json::parse(f.body, nullptr, false).is_discarded()) {
      __builtin_trap();
    }
  }
  return 0;
}
