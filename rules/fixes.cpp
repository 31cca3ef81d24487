#include "rules/fixes.hpp"

#include <vector>

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

Fix remove_argument(const model::Model& model, const model::Call& call, TSNode argument, Applicability applicability,
                    std::string message) {
  Fix fix;
  fix.applicability = applicability;
  fix.message = std::move(message);
  std::vector<TSNode> args;
  const uint32_t count = ts_node_named_child_count(call.arguments);
  size_t index = 0;
  for (uint32_t i = 0; i < count; ++i) {
    TSNode a = ts_node_named_child(call.arguments, i);
    if (ts_node_symbol(a) == syntax::grammar().sym.comment) {
      continue;
    }
    if (a.id == argument.id) {
      index = args.size();
    }
    args.push_back(a);
  }
  std::uint32_t start = ts_node_start_byte(argument);
  std::uint32_t end = ts_node_end_byte(argument);
  if (index > 0) {
    start = ts_node_end_byte(args[index - 1]); // `, arg` goes with the comma before it
  } else if (args.size() > 1) {
    end = ts_node_start_byte(args[1]); // `arg, ` goes with the comma after it
  } else {
    // The only argument: a trailing comma goes too.
    const std::string_view rest = model.source().text().substr(end);
    const size_t close = rest.find(')');
    if (close != std::string_view::npos &&
        rest.substr(0, close).find_first_not_of(" \t\r\n,") == std::string_view::npos) {
      end += static_cast<std::uint32_t>(close);
    }
  }
  fix.edits.push_back(Edit{start, end, ""});
  return fix;
}

TSNode enclosing_statement(TSNode node) {
  const auto& g = syntax::grammar();
  TSNode n = node;
  int guard = 0;
  while (!ts_node_is_null(n) && guard++ < 512) {
    TSNode parent = ts_node_parent(n);
    if (ts_node_is_null(parent) || ts_node_symbol(parent) == g.sym.block || ts_node_symbol(parent) == g.sym.module) {
      return n;
    }
    n = parent;
  }
  return node;
}

Fix insert_line_after(const model::Model& model, TSNode statement, std::string_view line, Applicability applicability,
                      std::string message) {
  Fix fix;
  fix.applicability = applicability;
  fix.message = std::move(message);
  statement = enclosing_statement(statement);
  const TSPoint point = ts_node_start_point(statement);
  const std::string_view first = model.source().line_text(point.row);
  const std::string indent(first.substr(0, point.column));
  const std::string newline = model.source().line_ending() == LineEnding::CrLf ? "\r\n" : "\n";
  const std::uint32_t at = ts_node_end_byte(statement);
  fix.edits.push_back(Edit{at, at, newline + indent + std::string(line)});
  return fix;
}

Fix replace_node(TSNode node, std::string_view replacement, Applicability applicability, std::string message) {
  Fix fix;
  fix.applicability = applicability;
  fix.message = std::move(message);
  fix.edits.push_back(Edit{ts_node_start_byte(node), ts_node_end_byte(node), std::string(replacement)});
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
