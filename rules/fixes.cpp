#include "rules/fixes.hpp"

#include <fmt/format.h>

#include "analyzer/syntax/python_grammar.hpp"

namespace oomlint::rules {

namespace {

bool is_primary(TSNode n) {
  const auto& s = syntax::grammar().sym;
  const TSSymbol sym = ts_node_symbol(n);
  return sym == s.identifier || sym == s.attribute || sym == s.call || sym == s.subscript ||
         sym == s.parenthesized_expression;
}

} // namespace

Fix append_method_call(const model::Model& model, TSNode expr, std::string_view method, Applicability applicability,
                       std::string message) {
  Fix fix;
  fix.applicability = applicability;
  fix.message = std::move(message);
  if (method == "detach") {
    // `logits.cpu()` -> `logits.detach().cpu()`: detach before the copy, not after it.
    const auto& g = syntax::grammar();
    TSNode inner = expr;
    int guard = 0;
    while (ts_node_symbol(inner) == g.sym.call && guard++ < 16) {
      TSNode callee = ts_node_child_by_field_id(inner, g.field.function);
      if (ts_node_symbol(callee) != g.sym.attribute) {
        break;
      }
      const std::string_view name = model.text(ts_node_child_by_field_id(callee, g.field.attribute));
      if (name != "cpu" && name != "to" && name != "cuda" && name != "float" && name != "half" && name != "double" &&
          name != "clone" && name != "contiguous") {
        break;
      }
      inner = ts_node_child_by_field_id(callee, g.field.object);
    }
    if (inner.id != expr.id && is_primary(inner)) {
      expr = inner;
    }
  }
  const std::uint32_t start = ts_node_start_byte(expr);
  const std::uint32_t end = ts_node_end_byte(expr);
  if (is_primary(expr)) {
    fix.edits.push_back(Edit{end, end, fmt::format(".{}()", method)});
  } else {
    fix.edits.push_back(Edit{start, start, "("});
    fix.edits.push_back(Edit{end, end, fmt::format(").{}()", method)});
  }
  return fix;
}

Fix add_keyword_argument(const model::Model& model, const model::Call& call, std::string_view keyword,
                         Applicability applicability, std::string message) {
  Fix fix;
  fix.applicability = applicability;
  fix.message = std::move(message);
  const uint32_t count = ts_node_named_child_count(call.arguments);
  TSNode last{};
  for (uint32_t i = 0; i < count; ++i) {
    TSNode a = ts_node_named_child(call.arguments, i);
    if (ts_node_symbol(a) != syntax::grammar().sym.comment) {
      last = a;
    }
  }
  if (ts_node_is_null(last)) {
    const std::uint32_t at = ts_node_end_byte(call.arguments) - 1; // before `)`
    fix.edits.push_back(Edit{at, at, std::string(keyword)});
  } else {
    const std::uint32_t at = ts_node_end_byte(last);
    fix.edits.push_back(Edit{at, at, fmt::format(", {}", keyword)});
  }
  (void)model;
  return fix;
}

Fix add_decorator(const model::Model& model, TSNode function_definition, std::string_view decorator,
                  Applicability applicability, std::string message) {
  Fix fix;
  fix.applicability = applicability;
  fix.message = std::move(message);
  const std::uint32_t at = ts_node_start_byte(function_definition);
  const TSPoint point = ts_node_start_point(function_definition);
  const std::string_view line = model.source().line_text(point.row);
  const std::string indent(line.substr(0, point.column));
  const std::string newline = model.source().line_ending() == LineEnding::CrLf ? "\r\n" : "\n";
  fix.edits.push_back(Edit{at, at, fmt::format("@{}{}{}", decorator, newline, indent)});
  return fix;
}

std::optional<std::string> module_alias(const model::Model& model, std::string_view module) {
  return model.import_alias(module);
}

} // namespace oomlint::rules

namespace oomlint::rules {

std::string short_text(const model::Model& model, TSNode node, std::size_t max_chars) {
  const std::string_view raw = model.text(node);
  std::string out;
  bool space = false;
  for (char c : raw) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) {
      out += ' ';
      space = false;
    }
    out += c;
    if (out.size() >= max_chars) {
      out += "...";
      break;
    }
  }
  return out;
}

} // namespace oomlint::rules
