// OOM000 syntax-error: the file does not parse. oomlint reports the first place where the
// parser gave up and still lints everything it could read.
#include <optional>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM000",
    .name = "syntax-error",
    .severity = Severity::Error,
    .default_enabled = true,
    .fix = FixAvailability::Never,
    .summary = "The file does not parse as Python",
    .what = "Reports the first place where the file stops being valid Python. The rest of the file is "
            "still analysed as far as the parser could recover, so other findings still appear.",
    .why = "A file that does not parse cannot be checked completely: memory leaks in the part the parser "
           "had to skip stay hidden until the syntax error is fixed.",
    .example = "for batch in loader\n    loss = criterion(model(batch), batch.y)\n",
    .use_instead = "for batch in loader:\n    loss = criterion(model(batch), batch.y)\n",
    .fine_when = "Never; but a file in a Python 2 or template dialect can be excluded with `extend-exclude`.",
    .fix_safety = "",
    .options = {},
    .measured = "",
    .references = "https://docs.python.org/3/reference/grammar.html",
};

TSNode first_leaf(TSNode node) {
  int guard = 0;
  while (ts_node_child_count(node) > 0 && guard++ < 100000) {
    node = ts_node_child(node, 0);
  }
  return node;
}

TSNode last_leaf(TSNode node) {
  int guard = 0;
  while (ts_node_child_count(node) > 0 && guard++ < 100000) {
    node = ts_node_child(node, ts_node_child_count(node) - 1);
  }
  return node;
}

bool is_comment(TSNode n) {
  return std::string_view(ts_node_type(n)) == "comment";
}

// An opening bracket inside the error that is never closed, as CPython reports it.
std::optional<TSNode> unclosed_bracket(TSNode error) {
  std::vector<TSNode> open;
  TSTreeCursor cursor = ts_tree_cursor_new(error);
  int budget = 200000;
  bool more = true;
  while (more && budget-- > 0) {
    TSNode n = ts_tree_cursor_current_node(&cursor);
    if (ts_node_child_count(n) == 0) {
      const std::string_view type = ts_node_type(n);
      if (type == "(" || type == "[" || type == "{") {
        open.push_back(n);
      } else if ((type == ")" || type == "]" || type == "}") && !open.empty()) {
        open.pop_back();
      }
    }
    if (ts_tree_cursor_goto_first_child(&cursor)) {
      continue;
    }
    while (!ts_tree_cursor_goto_next_sibling(&cursor)) {
      if (!ts_tree_cursor_goto_parent(&cursor)) {
        more = false;
        break;
      }
    }
  }
  ts_tree_cursor_delete(&cursor);
  if (open.empty()) {
    return std::nullopt;
  }
  return open.front();
}

// The error starts on a later line than the header it belongs to: the header's line ended
// early, typically without its `:`.
std::optional<TSNode> unfinished_header(TSNode error) {
  const TSNode parent = ts_node_parent(error);
  if (ts_node_is_null(parent)) {
    return std::nullopt;
  }
  const std::string_view type = ts_node_type(parent);
  if (type == "module" || type == "block" || type == "ERROR") {
    return std::nullopt;
  }
  TSNode prev = ts_node_prev_sibling(error);
  while (!ts_node_is_null(prev) && is_comment(prev)) {
    prev = ts_node_prev_sibling(prev);
  }
  if (ts_node_is_null(prev) || ts_node_end_point(prev).row >= ts_node_start_point(error).row) {
    return std::nullopt;
  }
  return last_leaf(prev);
}

void check(RuleContext& ctx) {
  const auto& problem = ctx.model.first_syntax_problem();
  if (!problem) {
    return;
  }
  constexpr std::string_view kRest = "; the rest of the file was still checked";
  if (problem->missing) {
    const std::uint32_t at = ts_node_start_byte(problem->node);
    ctx.reporter.report_range(kMeta, at, at, ts_node_start_point(problem->node).row,
                              fmt::format("syntax error: expected `{}` here{}", ts_node_type(problem->node), kRest));
    return;
  }
  if (auto header_end = unfinished_header(problem->node)) {
    const std::uint32_t at = ts_node_end_byte(*header_end);
    ctx.reporter.report_range(
        kMeta, ts_node_start_byte(*header_end), at, ts_node_start_point(*header_end).row,
        fmt::format("syntax error: this line ends before its statement does (a missing `:`?){}", kRest));
    return;
  }
  if (auto bracket = unclosed_bracket(problem->node)) {
    ctx.reporter.report_range(kMeta, ts_node_start_byte(*bracket), ts_node_end_byte(*bracket),
                              ts_node_start_point(*bracket).row,
                              fmt::format("syntax error: `{}` is never closed{}", ts_node_type(*bracket), kRest));
    return;
  }
  const TSNode leaf = first_leaf(problem->node);
  const std::string token = short_text(ctx.model, leaf, 24);
  const std::string message = token.empty() ? fmt::format("syntax error: Python cannot parse this{}", kRest)
                                            : fmt::format("syntax error: unexpected `{}`{}", token, kRest);
  ctx.reporter.report_range(kMeta, ts_node_start_byte(leaf), ts_node_end_byte(leaf), ts_node_start_point(leaf).row,
                            message);
}

} // namespace

Rule make_OOM000_syntax_error() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
