#include "editors/lsp/documents.hpp"

#include <cstdint>
#include <cstdio>

#include "analyzer/driver/relint_scope.hpp"

namespace oomlint::lsp {

namespace {

bool is_count(const nlohmann::json& v) {
  return v.is_number_integer() && v.get<std::int64_t>() >= 0 && v.get<std::int64_t>() <= UINT32_MAX;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

} // namespace

std::optional<RowCol> lsp_position(const nlohmann::json& pos) {
  if (!pos.is_object() || !pos.contains("line") || !pos.contains("character") || !is_count(pos["line"]) ||
      !is_count(pos["character"])) {
    return std::nullopt;
  }
  return RowCol{pos["line"].get<std::uint32_t>(), pos["character"].get<std::uint32_t>()};
}

std::uint32_t offset_of(std::string_view text, const LineIndex& lines, RowCol pos, ColumnUnit unit) {
  if (pos.row >= lines.line_count()) {
    return static_cast<std::uint32_t>(text.size());
  }
  return lines.offset(text, pos, unit);
}

bool apply_change(Document& doc, const nlohmann::json& change, ColumnUnit unit) {
  if (!change.is_object() || !change.contains("text") || !change["text"].is_string()) {
    return false;
  }
  const std::string& inserted = change["text"].get_ref<const std::string&>();
  if (!change.contains("range")) {
    doc.text = inserted;
    doc.tree = syntax::Tree(); // a whole new text: nothing to reuse
    doc.stale = true;
    return true;
  }
  const nlohmann::json& range = change["range"];
  if (!range.is_object()) {
    return false;
  }
  const auto from = lsp_position(range.value("start", nlohmann::json()));
  const auto to = lsp_position(range.value("end", nlohmann::json()));
  if (!from || !to) {
    return false;
  }
  const LineIndex lines(doc.text);
  std::uint32_t start = offset_of(doc.text, lines, *from, unit);
  std::uint32_t end = offset_of(doc.text, lines, *to, unit);
  if (end < start) {
    std::swap(start, end);
  }
  if (doc.tree) {
    doc.edits.push_back(line_edit(doc.text, start, end, inserted));
    doc.exact_edits.push_back(exact_edit(doc.text, start, end, inserted));
  }
  doc.text.replace(start, end - start, inserted);
  doc.stale = true;
  return true;
}

std::string uri_to_path(std::string_view uri) {
  constexpr std::string_view kScheme = "file://";
  if (!uri.starts_with(kScheme)) {
    return {};
  }
  uri.remove_prefix(kScheme.size());
  // `file://host/path`: only the local host (empty) is a path here.
  if (!uri.starts_with("/")) {
    const std::size_t slash = uri.find('/');
    if (slash == std::string_view::npos || uri.substr(0, slash) != "localhost") {
      return {};
    }
    uri.remove_prefix(slash);
  }
  std::string out;
  out.reserve(uri.size());
  for (std::size_t i = 0; i < uri.size(); ++i) {
    if (uri[i] == '%' && i + 2 < uri.size()) {
      const int hi = hex_value(uri[i + 1]);
      const int lo = hex_value(uri[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(uri[i]);
  }
  return out;
}

std::string path_to_uri(std::string_view path) {
  std::string out = "file://";
  for (const char c : path) {
    const auto u = static_cast<unsigned char>(c);
    const bool plain = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '/' ||
                       c == '-' || c == '_' || c == '.' || c == '~';
    if (plain) {
      out.push_back(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", u);
      out += buf;
    }
  }
  return out;
}

} // namespace oomlint::lsp
