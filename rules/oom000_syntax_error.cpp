// OOM000 syntax-error: the file does not parse. oomlint reports the first place where the
// parser gave up and still lints everything it could read.
#include <cstddef>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "analyzer/support/strings.hpp"
#include "analyzer/syntax/syntax_error.hpp"

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
    .fine_when = "Never; but a file in a Python 2 or template dialect can be excluded with `extend-exclude`. "
                 "A line that Python reads but the grammar cannot (a starred element at the top level of an "
                 "expression list, `shape = *lead, -1, 1`, `return a, *rest`) is not reported.",
    .fix_safety = "",
    .options = {},
    .measured = "",
    .references = "https://docs.python.org/3/reference/grammar.html",
};

// Long enough for a token, short enough to keep the message on one line.
constexpr std::size_t kMaxTokenChars = 24;

std::string message_for(const syntax::SyntaxErrorDescription& error) {
  constexpr std::string_view kRest = "; the rest of the file was still checked";
  switch (error.kind) {
  case syntax::SyntaxErrorKind::MissingToken:
    return fmt::format("syntax error: expected `{}` here{}", error.detail, kRest);
  case syntax::SyntaxErrorKind::UnfinishedHeader:
    return fmt::format("syntax error: this line ends before its statement does (a missing `:`?){}", kRest);
  case syntax::SyntaxErrorKind::UnclosedBracket:
    return fmt::format("syntax error: `{}` is never closed{}", error.detail, kRest);
  case syntax::SyntaxErrorKind::UnexpectedToken:
    break;
  }
  const std::string token = one_line_excerpt(error.detail, kMaxTokenChars);
  return token.empty() ? fmt::format("syntax error: Python cannot parse this{}", kRest)
                       : fmt::format("syntax error: unexpected `{}`{}", token, kRest);
}

void check(RuleContext& ctx) {
  const auto& problem = ctx.model.first_syntax_problem();
  if (!problem || (!problem->missing && syntax::is_grammar_gap(problem->node, ctx.model.source().text()))) {
    return;
  }
  const syntax::SyntaxErrorDescription error =
      syntax::describe_syntax_error(problem->node, problem->missing, ctx.model.source().text());
  ctx.reporter.report_range(kMeta, error.start, error.end, error.row, message_for(error));
}

} // namespace

Rule make_OOM000_syntax_error() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
