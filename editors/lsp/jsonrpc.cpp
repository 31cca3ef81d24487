#include "editors/lsp/jsonrpc.hpp"

#include <utility>

namespace oomlint::lsp {

namespace {

Message invalid(int code, std::string message, Json id = nullptr) {
  Message m;
  m.kind = Message::Kind::Invalid;
  m.error_code = code;
  m.error_message = std::move(message);
  m.id = std::move(id);
  return m;
}

std::string dump(const Json& j) {
  // Replacement keeps a message with bad UTF-8 in a string (a client's typo) from throwing.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

} // namespace

Message parse_message(std::string_view body) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    return invalid(error_code::kParseError, "the message is not valid JSON");
  }
  if (!j.is_object()) {
    return invalid(error_code::kInvalidRequest, "a JSON-RPC message is an object");
  }
  Json id = j.contains("id") ? j["id"] : Json(nullptr);
  if (!id.is_null() && !id.is_number_integer() && !id.is_string()) {
    return invalid(error_code::kInvalidRequest, "`id` must be a number or a string");
  }
  if (j.value("jsonrpc", "") != "2.0") {
    return invalid(error_code::kInvalidRequest, "`jsonrpc` must be \"2.0\"", id);
  }
  Message m;
  m.id = id;
  if (j.contains("method")) {
    if (!j["method"].is_string()) {
      return invalid(error_code::kInvalidRequest, "`method` must be a string", id);
    }
    m.method = j["method"].get<std::string>();
    m.params = j.contains("params") ? j["params"] : Json(nullptr);
    if (!m.params.is_null() && !m.params.is_object() && !m.params.is_array()) {
      return invalid(error_code::kInvalidRequest, "`params` must be an object or an array", id);
    }
    m.kind = j.contains("id") ? Message::Kind::Request : Message::Kind::Notification;
    return m;
  }
  if (j.contains("result") || j.contains("error")) {
    m.kind = Message::Kind::Response;
    m.result = j.contains("result") ? j["result"] : Json(nullptr);
    if (j.contains("error")) {
      m.error = j["error"];
    }
    return m;
  }
  return invalid(error_code::kInvalidRequest, "a message needs a `method`, a `result` or an `error`", id);
}

std::string response(const Json& id, Json result) {
  return dump(Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}});
}

std::string error_response(const Json& id, int code, std::string_view message) {
  return dump(Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}});
}

std::string notification(std::string_view method, Json params) {
  return dump(Json{{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}});
}

std::string request(const Json& id, std::string_view method, Json params) {
  return dump(Json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}});
}

} // namespace oomlint::lsp
