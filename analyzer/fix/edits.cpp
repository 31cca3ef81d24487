#include "analyzer/fix/edits.hpp"

#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include "analyzer/syntax/python_grammar.hpp"

namespace oomlint::fix {

namespace {

// Bounds on walks up and down the tree; real code never comes near them.
constexpr int kMaxCopyChain = 16;
constexpr int kMaxStatementDepth = 512;

Fix empty_fix(Applicability applicability, std::string message) {
  Fix fix;
  fix.applicability = applicability;
  fix.message = std::move(message);
  return fix;
}

// A method can be appended to it without parentheses.
bool is_primary(TSNode n) {
  const auto& s = syntax::grammar().sym;
  const TSSymbol sym = ts_node_symbol(n);
  return sym == s.identifier || sym == s.attribute || sym == s.call || sym == s.subscript ||
         sym == s.parenthesized_expression;
}

bool copies_or_casts(std::string_view method) {
  return method == "cpu" || method == "to" || method == "cuda" || method == "float" || method == "half" ||
         method == "double" || method == "clone" || method == "contiguous";
}

// `x` in `x.cpu().float()`: detaching there spares copying the graph-carrying tensor first.
TSNode before_copies_and_casts(const model::Model& model, TSNode expr) {
  const auto& g = syntax::grammar();
  TSNode inner = expr;
  for (int depth = 0; ts_node_symbol(inner) == g.sym.call && depth < kMaxCopyChain; ++depth) {
    const TSNode callee = ts_node_child_by_field_id(inner, g.field.function);
    if (ts_node_symbol(callee) != g.sym.attribute ||
        !copies_or_casts(model.text(ts_node_child_by_field_id(callee, g.field.attribute)))) {
      break;
    }
    inner = ts_node_child_by_field_id(callee, g.field.object);
  }
  return inner.id != expr.id && is_primary(inner) ? inner : expr;
}

// The call's arguments as written, without comments between them.
std::vector<TSNode> arguments_of(const model::Call& call) {
  std::vector<TSNode> args;
  const std::uint32_t count = ts_node_named_child_count(call.arguments);
  for (std::uint32_t i = 0; i < count; ++i) {
    const TSNode a = ts_node_named_child(call.arguments, i);
    if (ts_node_symbol(a) != syntax::grammar().sym.comment) {
      args.push_back(a);
    }
  }
  return args;
}

std::string newline_of(const model::Model& model) {
  return model.source().line_ending() == LineEnding::CrLf ? "\r\n" : "\n";
}

// The whitespace before the node on its first line.
std::string indent_of(const model::Model& model, TSNode node) {
  const TSPoint point = ts_node_start_point(node);
  return std::string(model.source().line_text(point.row).substr(0, point.column));
}

} // namespace

std::string method_call_text(TSNode expr, std::string_view text, std::string_view method) {
  return is_primary(expr) ? fmt::format("{}.{}()", text, method) : fmt::format("({}).{}()", text, method);
}

Fix append_method_call(const model::Model& model, TSNode expr, std::string_view method, Applicability applicability,
                       std::string message) {
  Fix fix = empty_fix(applicability, std::move(message));
  if (method == "detach") {
    expr = before_copies_and_casts(model, expr);
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

Fix detach_to_cpu(const model::Model& model, TSNode expr, Applicability applicability, std::string message) {
  if (!ts_node_eq(before_copies_and_casts(model, expr), expr)) {
    return append_method_call(model, expr, "detach", applicability, std::move(message));
  }
  Fix fix = empty_fix(applicability, std::move(message));
  const std::uint32_t start = ts_node_start_byte(expr);
  const std::uint32_t end = ts_node_end_byte(expr);
  if (is_primary(expr)) {
    fix.edits.push_back(Edit{end, end, ".detach().cpu()"});
  } else {
    fix.edits.push_back(Edit{start, start, "("});
    fix.edits.push_back(Edit{end, end, ").detach().cpu()"});
  }
  return fix;
}

Fix add_keyword_argument(const model::Model& /*model*/, const model::Call& call, std::string_view keyword,
                         Applicability applicability, std::string message) {
  Fix fix = empty_fix(applicability, std::move(message));
  const std::vector<TSNode> args = arguments_of(call);
  if (args.empty()) {
    const std::uint32_t at = ts_node_end_byte(call.arguments) - 1; // before `)`
    fix.edits.push_back(Edit{at, at, std::string(keyword)});
  } else {
    const std::uint32_t at = ts_node_end_byte(args.back());
    fix.edits.push_back(Edit{at, at, fmt::format(", {}", keyword)});
  }
  return fix;
}

Fix add_decorator(const model::Model& model, TSNode function_definition, std::string_view decorator,
                  Applicability applicability, std::string message) {
  Fix fix = empty_fix(applicability, std::move(message));
  const std::uint32_t at = ts_node_start_byte(function_definition);
  fix.edits.push_back(
      Edit{at, at, fmt::format("@{}{}{}", decorator, newline_of(model), indent_of(model, function_definition))});
  return fix;
}

Fix remove_argument(const model::Model& model, const model::Call& call, TSNode argument, Applicability applicability,
                    std::string message) {
  Fix fix = empty_fix(applicability, std::move(message));
  const std::vector<TSNode> args = arguments_of(call);
  std::size_t index = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i].id == argument.id) {
      index = i;
    }
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
    const std::size_t close = rest.find(')');
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
  for (int depth = 0; !ts_node_is_null(n) && depth < kMaxStatementDepth; ++depth) {
    const TSNode parent = ts_node_parent(n);
    if (ts_node_is_null(parent) || ts_node_symbol(parent) == g.sym.block || ts_node_symbol(parent) == g.sym.module) {
      return n;
    }
    n = parent;
  }
  return node;
}

Fix insert_line_after(const model::Model& model, TSNode node, std::string_view line, Applicability applicability,
                      std::string message) {
  Fix fix = empty_fix(applicability, std::move(message));
  const TSNode statement = enclosing_statement(node);
  const std::uint32_t at = ts_node_end_byte(statement);
  fix.edits.push_back(Edit{at, at, newline_of(model) + indent_of(model, statement) + std::string(line)});
  return fix;
}

Fix replace_node(TSNode node, std::string_view replacement, Applicability applicability, std::string message) {
  Fix fix = empty_fix(applicability, std::move(message));
  fix.edits.push_back(Edit{ts_node_start_byte(node), ts_node_end_byte(node), std::string(replacement)});
  return fix;
}

} // namespace oomlint::fix
