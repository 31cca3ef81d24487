#pragma once
// JSON-RPC 2.0 as LSP uses it: parsing a frame's body into a request, a notification or a
// response, and building replies. Nothing here knows LSP's methods.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace oomlint::lsp {

using Json = nlohmann::json;

namespace error_code {
constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;
constexpr int kInternalError = -32603;
constexpr int kServerNotInitialized = -32002;
constexpr int kRequestCancelled = -32800;
} // namespace error_code

struct Message {
  enum class Kind : std::uint8_t { Request, Notification, Response, Invalid };
  Kind kind = Kind::Invalid;
  Json id;            // request or response id (number or string); null for notifications
  std::string method; // requests and notifications
  Json params;        // may be null
  Json result;        // responses
  std::optional<Json> error;
  int error_code = 0; // Invalid: kParseError or kInvalidRequest
  std::string error_message;
};

// Classifies one frame's body; never throws.
Message parse_message(std::string_view body);

std::string response(const Json& id, Json result);
std::string error_response(const Json& id, int code, std::string_view message);
std::string notification(std::string_view method, Json params);
std::string request(const Json& id, std::string_view method, Json params);

} // namespace oomlint::lsp
