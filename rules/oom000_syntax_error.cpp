// OOM000 syntax-error: the file does not parse. oomlint reports the first place where the
// parser gave up and still lints everything it could read.
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

void check(RuleContext& ctx) {
  const auto& problem = ctx.model.first_syntax_problem();
  if (!problem) {
    return;
  }
  if (problem->missing) {
    const std::uint32_t at = ts_node_start_byte(problem->node);
    ctx.reporter.report_range(kMeta, at, at, ts_node_start_point(problem->node).row,
                              fmt::format("syntax error: expected `{}` here; the rest of the file was still checked",
                                          ts_node_type(problem->node)));
    return;
  }
  const TSNode leaf = first_leaf(problem->node);
  const std::string token = short_text(ctx.model, leaf, 24);
  const std::string message =
      token.empty() ? std::string("syntax error: Python cannot parse this; the rest of the file was still checked")
                    : fmt::format("syntax error: unexpected `{}`; the rest of the file was still checked", token);
  ctx.reporter.report_range(kMeta, ts_node_start_byte(leaf), ts_node_end_byte(leaf), ts_node_start_point(leaf).row,
                            message);
}

}  // namespace

Rule make_OOM000_syntax_error() { return Rule{&kMeta, &check}; }

}  // namespace oomlint::rules
