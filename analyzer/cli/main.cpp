// The `oomlint` executable: command-line parsing and the glue between the analyzer, the
// rules and the output formats. Errors end as one sentence on stderr and exit status 2.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "analyzer/cli/explain_command.hpp"
#include "analyzer/config/config.hpp"
#include "analyzer/driver/discovery.hpp"
#include "analyzer/driver/lint_cache.hpp"
#include "analyzer/driver/linter.hpp"
#include "analyzer/fix/atomic_write.hpp"
#include "analyzer/fix/fixer.hpp"
#include "analyzer/fix/unified_diff.hpp"
#include "analyzer/output/emitter.hpp"
#include "analyzer/output/rule_docs.hpp"
#include "analyzer/service/lint_service.hpp"
#include "analyzer/support/strings.hpp"
#include "analyzer/syntax/parser.hpp"
#include "analyzer/syntax/python_grammar.hpp"
#include "editors/lsp/server.hpp"
#include "rules/registry.hpp"
#include "verifier/verifier.hpp"

#ifndef OOMLINT_VERSION
#define OOMLINT_VERSION "0.0.0"
#endif
#ifndef OOMLINT_DOCS_URL_BASE
#define OOMLINT_DOCS_URL_BASE ""
#endif

namespace oomlint::cli {

namespace {

constexpr int kExitClean = 0;
constexpr int kExitFindings = 1;
constexpr int kExitError = 2;

struct CheckArgs {
  std::vector<std::string> paths;
  bool no_cache = false;
  std::string cache_dir;
  std::vector<std::string> select;
  std::vector<std::string> extend_select;
  std::vector<std::string> ignore;
  std::string config;
  bool isolated = false;
  std::string output_format = "text";
  bool statistics = false;
  bool exit_zero = false;
  int jobs = 0;
  std::string stdin_filename;
  bool quiet = false;
  bool no_color = false;
  bool fix = false;
  bool unsafe_fixes = false;
  bool diff = false;
  bool show_fixes = false;
  std::vector<std::string> exclude;
  std::vector<std::string> extend_exclude;
  bool force_exclude = false;
  bool no_force_exclude = false;
  bool respect_gitignore = false;
  bool no_respect_gitignore = false;
  std::string output_file;
  bool show_files = false;
  bool add_noqa = false;
  bool verbose = false;
};

struct RuleArgs {
  std::string code;
  bool all = false;
  std::string output_format = "text";
};

// NO_COLOR counts when it is set to something (no-color.org): `NO_COLOR=` is not a request.
bool no_color_requested() {
  const char* v = std::getenv("NO_COLOR");
  return v != nullptr && *v != '\0';
}

// `error: ...` / `warning: ...` on stderr, the label coloured on a terminal.
void print_labelled(std::string_view label, std::string_view colour, const std::string& message) {
  const bool color = ::isatty(STDERR_FILENO) != 0 && !no_color_requested();
  fmt::print(stderr, "{}: {}\n", color ? fmt::format("\033[1;{}m{}\033[0m", colour, label) : std::string(label),
             printable(message));
}

void print_error(const std::string& message) {
  print_labelled("error", "31", message);
}

void print_warning(const std::string& message) {
  print_labelled("warning", "33", message);
}

// Where rule pages are linked from (JSON, SARIF, LSP): the configured base (OOMLINT_DOCS_URL_BASE),
// else the pages installed beside the binary (`PREFIX/share/doc/oomlint/rules/`), else those of
// the source tree it was built from; never a folder that does not exist.
std::string docs_url_base() {
  if (const char* env = std::getenv("OOMLINT_DOCS_URL_BASE"); env != nullptr && *env != '\0') {
    return env;
  }
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto installed = exe.parent_path().parent_path() / "share" / "doc" / "oomlint" / "rules";
    if (std::filesystem::is_directory(installed, ec)) {
      return "file://" + installed.string() + "/";
    }
  }
  const std::string built = OOMLINT_DOCS_URL_BASE;
  if (built.starts_with("file://") && std::filesystem::is_directory(built.substr(7), ec)) {
    return built;
  }
  return built.starts_with("file://") ? std::string() : built;
}

bool use_color(bool no_color) {
  if (no_color || no_color_requested()) {
    return false;
  }
  const char* term = std::getenv("TERM");
  if (term != nullptr && std::string_view(term) == "dumb") {
    return false;
  }
  return ::isatty(STDOUT_FILENO) != 0;
}

// Where configuration lookup starts: the first path named, stdin's declared name, or here.
std::filesystem::path config_start(const CheckArgs& args) {
  if (!args.paths.empty() && args.paths.front() != "-") {
    return args.paths.front();
  }
  if (!args.stdin_filename.empty()) {
    return args.stdin_filename;
  }
  return std::filesystem::current_path();
}

service::LintService make_service() {
  return service::LintService(rules::all_rules(), docs_url_base());
}

// `--show-fixes`: what was fixed, per file and rule.
std::string fixes_listing(const std::vector<FixOutcome>& outcomes, const std::optional<FixOutcome>& stdin_fixed) {
  std::string out = "\nFixed:\n";
  auto list = [&](const FixOutcome& o) {
    if (!o.changed()) {
      return;
    }
    std::map<std::pair<std::string, std::string>, size_t> counts;
    for (const AppliedFix& f : o.applied) {
      ++counts[{f.code, f.name}];
    }
    out += fmt::format("  {}:\n", o.report.path);
    for (const auto& [rule, n] : counts) {
      out += fmt::format("    {} \u00d7 {} ({})\n", n, rule.first, rule.second);
    }
  };
  for (const FixOutcome& o : outcomes) {
    list(o);
  }
  if (stdin_fixed) {
    list(*stdin_fixed);
  }
  return out;
}

// The check's inputs: stdin (`-`) and the files found under the paths, as one project.
std::vector<LintInput> gather_inputs(const CheckArgs& args, const service::Settings& settings, bool& had_error) {
  std::vector<LintInput> inputs;
  std::vector<std::string> files;
  for (const std::string& p : args.paths) {
    if (p == "-") {
      std::string bytes((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
      const std::string name = args.stdin_filename.empty() ? "-" : args.stdin_filename;
      inputs.push_back(LintInput{name, std::make_shared<const SourceFile>(name, std::move(bytes))});
    } else {
      files.push_back(p);
    }
  }
  if (!files.empty()) {
    const Discovery discovery = discover(files, settings.config());
    for (const Error& e : discovery.errors) {
      print_error(e.describe());
      had_error = true;
    }
    for (const std::string& f : discovery.files) {
      inputs.push_back(LintInput{f, nullptr});
    }
    if (!discovery.notebooks.empty() && !args.quiet) {
      const std::size_t n = discovery.notebooks.size();
      print_warning(fmt::format("skipped {} Jupyter notebook{} (`{}`{}): oomlint checks .py and .pyi files; "
                                "`jupyter nbconvert --to script` makes a notebook checkable",
                                n, n == 1 ? "" : "s", discovery.notebooks.front(), n > 1 ? ", ..." : ""));
    }
  }
  return inputs;
}

// The findings in the chosen format (or counts per rule with --statistics).
std::string render(const std::vector<FileReport>& reports, const CheckArgs& args, const EmitOptions& emit,
                   const std::vector<const RuleMeta*>& catalog) {
  const std::string& format = args.output_format;
  if (args.statistics) {
    return emit_statistics(reports, format == "json" || format == "json-lines");
  }
  if (format == "json") {
    return emit_json(reports, emit);
  }
  if (format == "sarif") {
    return emit_sarif(reports, catalog, emit, OOMLINT_VERSION);
  }
  if (format == "github") {
    return emit_github(reports);
  }
  if (format == "junit") {
    return emit_junit(reports);
  }
  if (format == "gitlab") {
    return emit_gitlab(reports);
  }
  if (format == "grouped") {
    return emit_grouped(reports, emit);
  }
  return format == "concise" ? emit_concise(reports, emit) : emit_text(reports, emit);
}

// Writes the report to --output-file or to `stream`.
bool deliver(const std::string& out, const CheckArgs& args, std::FILE* stream) {
  if (!args.output_file.empty()) {
    std::ofstream file(args.output_file, std::ios::binary | std::ios::trunc);
    file << out;
    file.close();
    if (!file) {
      print_error(
          fmt::format("cannot write the report to {}; check the folder exists and is writable", args.output_file));
      return false;
    }
    return true;
  }
  std::fwrite(out.data(), 1, out.size(), stream);
  std::fflush(stream);
  return true;
}

// `--add-noqa`: a `# noqa: CODE` directive for every finding, written to the files.
int add_noqa(const service::LintService& lint_service, const service::Settings& settings,
             const std::vector<LintInput>& inputs, const ProjectRun& run, bool had_error, bool quiet) {
  std::size_t added = 0;
  syntax::Parser parser;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const FileReport& r = run.reports[i];
    if (r.error) {
      print_error(r.error->describe());
      had_error = true;
      continue;
    }
    const auto outcome = lint_service.add_noqa(r, parser, settings, &run.contexts[i]);
    if (outcome.refused) {
      print_error(fmt::format("{}: {}", r.path, *outcome.refused));
      had_error = true;
      continue;
    }
    if (!outcome.text || inputs[i].source) { // stdin is never written back
      continue;
    }
    auto written = write_file_atomically(r.path, outcome.text->bytes(), r.source->bytes());
    if (!written) {
      print_error(written.error().describe());
      had_error = true;
      continue;
    }
    added += outcome.added;
  }
  if (!quiet) {
    fmt::print(stderr, "Added {} noqa directive{}.\n", added, added == 1 ? "" : "s");
  }
  return had_error ? kExitError : kExitClean;
}

// Applies the fixes: writes each changed file (or adds its diff to `diff_text`); returns how
// many fixes were applied. `unwritten` receives the indices of the outcomes that could not be
// written: their files keep the findings they had.
std::size_t write_fixes(std::vector<FixOutcome>& outcomes, const CheckArgs& args, std::string& diff_text,
                        bool& had_error, std::vector<std::size_t>& unwritten) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    FixOutcome& o = outcomes[i];
    for (const std::string& why : o.dropped) {
      print_error(why);
    }
    if (!o.changed() || o.report.error) {
      continue;
    }
    const std::string before = o.original ? o.original->bytes() : std::string();
    if (args.diff) {
      count += o.applied.size();
      diff_text += unified_diff(before, o.fixed->bytes(), o.report.path, o.report.path);
      continue;
    }
    auto written = write_file_atomically(o.report.path, o.fixed->bytes(), before);
    if (!written) {
      print_error(written.error().describe());
      had_error = true;
      unwritten.push_back(i);
      continue;
    }
    count += o.applied.size();
  }
  return count;
}

void print_verbose(const service::Settings& settings, const std::vector<LintInput>& inputs,
                   const std::vector<FileReport>& reports, double seconds) {
  fmt::print(stderr, "oomlint {}: configuration: {}\n", OOMLINT_VERSION,
             settings.source().empty() ? std::string("none (defaults)") : settings.source());
  std::string rules;
  for (const std::string& code : settings.lint().enabled) {
    rules += (rules.empty() ? "" : ",") + code;
  }
  fmt::print(stderr, "oomlint: rules: {}\n", rules);
  std::size_t findings = 0;
  for (const FileReport& r : reports) {
    findings += r.findings.size();
  }
  fmt::print(stderr, "oomlint: {} file{} checked, {} finding{}, in {:.3f} s\n", inputs.size(),
             inputs.size() == 1 ? "" : "s", findings, findings == 1 ? "" : "s", seconds);
}

// Where results of earlier runs are kept: --cache-dir, else OOMLINT_CACHE_DIR, else
// `.oomlint_cache` beside the configuration file (the project's root), else in the current folder.
std::filesystem::path cache_root(const std::string& flag, const service::Settings& settings) {
  if (!flag.empty()) {
    return flag;
  }
  if (const char* env = std::getenv("OOMLINT_CACHE_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  if (!settings.source().empty()) {
    return std::filesystem::path(settings.source()).parent_path() / ".oomlint_cache";
  }
  return ".oomlint_cache";
}

int run_clean(const std::string& cache_dir) {
  service::LintService lint_service = make_service();
  auto resolved = lint_service.settings_for(std::filesystem::current_path(), service::Overrides{});
  if (!resolved) {
    print_error(resolved.error().describe());
    return kExitError;
  }
  std::string message;
  const bool ok = remove_cache(cache_root(cache_dir, **resolved), message);
  if (!ok) {
    print_error(message);
    return kExitError;
  }
  fmt::print(stderr, "{}\n", message);
  return kExitClean;
}

service::Overrides overrides_of(const CheckArgs& args) {
  service::Overrides o;
  o.select = args.select;
  o.extend_select = args.extend_select;
  o.ignore = args.ignore;
  if (!args.exclude.empty()) {
    o.exclude = args.exclude;
  }
  o.extend_exclude = args.extend_exclude;
  if (args.force_exclude || args.no_force_exclude) {
    o.force_exclude = args.force_exclude && !args.no_force_exclude;
  }
  if (args.no_respect_gitignore || args.respect_gitignore) {
    o.respect_gitignore = !args.no_respect_gitignore;
  }
  o.config_file = args.config;
  o.isolated = args.isolated;
  o.unsafe_fixes = args.unsafe_fixes;
  return o;
}

int run_check(CheckArgs args) {
  const auto started = std::chrono::steady_clock::now();
  service::LintService lint_service = make_service();
  const std::vector<const RuleMeta*>& catalog = lint_service.catalog();
  for (const auto& [codes, flag] :
       {std::pair{&args.select, "--select"}, std::pair{&args.extend_select, "--extend-select"},
        std::pair{&args.ignore, "--ignore"}}) {
    if (auto problem = lint_service.unknown_selector(*codes, flag)) {
      print_error(*problem);
      return kExitError;
    }
  }
  for (const auto& [globs, flag] :
       {std::pair{&args.exclude, "--exclude"}, std::pair{&args.extend_exclude, "--extend-exclude"}}) {
    for (const std::string& glob : *globs) {
      if (auto problem = glob_problem(glob)) {
        print_error(fmt::format("invalid glob `{}` in {}: {}", glob, flag, *problem));
        return kExitError;
      }
    }
  }
  if (args.paths.empty()) {
    args.paths.emplace_back(".");
  }
  auto resolved = lint_service.settings_for(config_start(args), overrides_of(args));
  if (!resolved) {
    print_error(resolved.error().describe());
    return kExitError;
  }
  const service::Settings& settings = **resolved;
  bool had_error = false;
  const std::vector<LintInput> inputs = gather_inputs(args, settings, had_error);
  if (args.show_files) {
    std::string out;
    for (const LintInput& in : inputs) {
      out += in.path + "\n";
    }
    return deliver(out, args, stdout) && !had_error ? kExitClean : kExitError;
  }
  const std::size_t stdin_inputs =
      static_cast<std::size_t>(std::count(args.paths.begin(), args.paths.end(), std::string("-")));
  const int jobs = args.jobs > 0 ? args.jobs : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  std::optional<LintCache> cache;
  if (!args.no_cache) {
    cache.emplace(cache_root(args.cache_dir, settings), settings.lint());
  }
  ProjectRun run = lint_service.lint(inputs, settings, jobs, cache ? &*cache : nullptr);
  if (args.add_noqa) {
    return add_noqa(lint_service, settings, inputs, run, had_error, args.quiet);
  }
  std::vector<FileReport> reports;
  std::vector<FixOutcome> outcomes; // parallel to reports when fixing
  std::optional<FixOutcome> stdin_fixed;
  if (args.fix || args.diff) {
    outcomes = lint_service.fix(inputs, run, settings, jobs);
    for (FixOutcome& o : outcomes) {
      reports.push_back(o.report);
    }
    // `--fix` of stdin prints the fixed source instead of writing a file.
    if (args.fix && !args.diff && stdin_inputs == 1) {
      stdin_fixed = std::move(outcomes.front());
      outcomes.erase(outcomes.begin());
    }
  } else {
    reports = std::move(run.reports);
  }
  std::string diff_text;
  std::vector<std::size_t> unwritten;
  std::size_t fixed_count = write_fixes(outcomes, args, diff_text, had_error, unwritten);
  for (const std::size_t i : unwritten) { // what is on disk still has its findings
    const std::size_t at = i + (stdin_fixed ? 1 : 0);
    reports[at] = run.reports[at];
  }
  if (stdin_fixed) {
    fixed_count += stdin_fixed->applied.size();
    const std::string bytes = stdin_fixed->fixed->bytes();
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    std::fflush(stdout);
  }
  const bool errors_beyond_reports = had_error; // a path missing, a fix not written
  for (const FileReport& r : reports) {
    if (r.error) {
      print_error(r.error->describe());
      had_error = true;
    }
    for (const std::string& notice : r.notices) {
      if (!args.quiet) {
        print_warning(notice);
      }
    }
  }
  if (args.verbose) {
    print_verbose(settings, inputs, reports,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  if (args.diff) {
    std::fwrite(diff_text.data(), 1, diff_text.size(), stdout);
    std::fflush(stdout);
    if (!args.quiet) {
      fmt::print(stderr, "{}\n",
                 fixed_count == 0 ? std::string("No fixes available.")
                                  : fmt::format("Would fix {} finding{}.", fixed_count, fixed_count == 1 ? "" : "s"));
    }
    if (had_error) {
      return kExitError;
    }
    return fixed_count > 0 && !args.exit_zero ? kExitFindings : kExitClean;
  }
  EmitOptions emit;
  emit.color = args.output_file.empty() && use_color(args.no_color);
  emit.docs_url_base = lint_service.docs_url_base();
  std::string out = render(reports, args, emit, catalog);
  const bool human = !args.statistics && (args.output_format == "text" || args.output_format == "full" ||
                                          args.output_format == "concise" || args.output_format == "grouped");
  if (human) {
    if (args.show_fixes && fixed_count > 0) {
      out += fixes_listing(outcomes, stdin_fixed);
    }
    if (!args.quiet) {
      if (fixed_count > 0) {
        out += fmt::format("Fixed {} finding{}.\n", fixed_count, fixed_count == 1 ? "" : "s");
      }
      out += summary_line(reports, emit, errors_beyond_reports);
    }
  }
  // With `--fix` on stdin, stdout carries the fixed source; findings go to stderr.
  if (!deliver(out, args, stdin_fixed ? stderr : stdout) || had_error) {
    return kExitError;
  }
  std::size_t findings = 0;
  for (const FileReport& r : reports) {
    findings += r.findings.size();
  }
  return findings > 0 && !args.exit_zero ? kExitFindings : kExitClean;
}

int run_rule(const RuleArgs& args) {
  const service::LintService lint_service = make_service();
  const std::vector<const RuleMeta*>& catalog = lint_service.catalog();
  if (args.all) {
    std::string out = args.output_format == "json"       ? rule_catalog_json(catalog)
                      : args.output_format == "markdown" ? [&] {
                          std::string all;
                          for (const RuleMeta* m : catalog) {
                            all += lint_service.rule_docs(*m) + "\n";
                          }
                          return all;
                        }()
                                                         : rule_catalog_text(catalog);
    std::fwrite(out.data(), 1, out.size(), stdout);
    return kExitClean;
  }
  if (args.code.empty()) {
    print_error("`oomlint rule` needs a rule code or name, or --all");
    return kExitError;
  }
  const RuleMeta* meta = lint_service.rule(args.code);
  if (meta == nullptr) {
    print_error(fmt::format("unknown rule `{}`; `oomlint rule --all` lists the codes", args.code));
    return kExitError;
  }
  const std::string out = args.output_format == "json" ? rule_json(*meta) : lint_service.rule_docs(*meta);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitClean;
}

struct VerifyArgs {
  verify::VerifyOptions options;
  std::string report;
  std::string output_format = "text";
  bool no_color = false;
};

std::string probe_dir() {
  if (const char* env = std::getenv("OOMLINT_PROBE_DIR")) {
    return env;
  }
#ifdef OOMLINT_SOURCE_PROBE_DIR
  std::error_code ec;
  if (std::filesystem::is_directory(std::filesystem::path(OOMLINT_SOURCE_PROBE_DIR) / "oomlint_probe", ec)) {
    return OOMLINT_SOURCE_PROBE_DIR;
  }
#endif
  std::error_code exe_ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", exe_ec);
  return (exe.parent_path().parent_path() / "share" / "oomlint" / "probe").string();
}

int run_verify_command(VerifyArgs args) {
  service::LintService lint_service = make_service();
  for (const auto& [codes, flag] :
       {std::pair{&args.options.select, "--select"}, std::pair{&args.options.ignore, "--ignore"}}) {
    if (auto problem = lint_service.unknown_selector(*codes, flag)) {
      print_error(*problem);
      return kExitError;
    }
  }
  // The verifier measures the rules as they ship: configuration files are not read.
  service::Overrides overrides;
  overrides.select = args.options.select;
  overrides.ignore = args.options.ignore;
  overrides.isolated = true;
  auto settings = lint_service.settings_for({}, overrides);
  if (!settings) {
    print_error(settings.error().describe());
    return kExitError;
  }
  args.options.probe_dir = probe_dir();
  args.options.progress = ::isatty(STDERR_FILENO) != 0;
  auto result = verify::run_verify(args.options, lint_service, **settings);
  if (!result) {
    print_error(result.error().describe());
    return kExitError;
  }
  const std::string out = args.output_format == "json" ? verify::verify_json(*result, lint_service.docs_url_base())
                                                       : verify::verify_text(*result, use_color(args.no_color));
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  if (!args.report.empty()) {
    std::ofstream html(args.report, std::ios::binary);
    html << verify::verify_html(*result);
    if (!html) {
      print_error(fmt::format("cannot write the report to {}; check the folder exists and is writable", args.report));
      return kExitError;
    }
  }
  const bool confirmed = std::any_of(result->findings.begin(), result->findings.end(),
                                     [](const verify::VerifiedFinding& v) { return v.verdict == "confirmed"; });
  return confirmed ? kExitFindings : kExitClean;
}

// `oomlint server`: LSP over stdin/stdout. Nothing but protocol may reach stdout.
int run_server() {
  std::ios::sync_with_stdio(false);
  // Reading stdin flushes a tied stdout; the reader thread would race the writers over its buffer.
  std::cin.tie(nullptr);
  service::LintService lint_service = make_service();
  lsp::FrameWriter out(std::cout);
  lsp::ServerOptions options;
  options.version = OOMLINT_VERSION;
  lsp::Server server(lint_service, out, options);
  return server.run(std::cin);
}

bool is_command(std::string_view word) {
  return word == "check" || word == "rule" || word == "verify" || word == "server" || word == "clean" ||
         word == "explain" || word == "--verify" || word == "--version" || word == "-V" || word == "--help" ||
         word == "-h" || word == "version";
}

void add_list_option(CLI::App& app, const std::string& name, std::vector<std::string>& into, const std::string& help) {
  app.add_option(name, into, help)
      ->delimiter(',')
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

// `oomlint WORD` where WORD is neither a command nor a path that exists: a mistyped or
// not-yet-available command, which must not be linted as a missing file called WORD.
std::optional<std::string> unknown_command(std::string_view word) {
  if (word.empty() || word.front() == '-' || word.find('/') != std::string_view::npos ||
      word.find('.') != std::string_view::npos) {
    return std::nullopt;
  }
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(word), ec)) {
    return std::nullopt;
  }
  return fmt::format("unknown command `{}` (and no file or folder of that name exists); the commands are "
                     "check, rule, verify, server, clean and explain: see `oomlint --help`",
                     word);
}

int run(int argc, char** argv) {
  if (const std::string problem = syntax::grammar_problem(); !problem.empty()) {
    print_error(problem);
    return kExitError;
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && !is_command(args.front())) {
    if (auto problem = unknown_command(args.front())) {
      print_error(*problem);
      return kExitError;
    }
  }
  if (args.empty() || !is_command(args.front())) {
    args.insert(args.begin(), "check"); // `oomlint PATH` means `oomlint check PATH`
  }
  if (args.front() == "version") {
    args.front() = "--version";
  }
  if (args.front() == "--verify") {
    args.front() = "verify"; // `oomlint --verify -- python train.py`
  }
  // Everything after `--` is the program to verify, untouched by option parsing.
  std::vector<std::string> program;
  if (args.front() == "verify") {
    auto dashes = std::find(args.begin(), args.end(), "--");
    if (dashes != args.end()) {
      program.assign(dashes + 1, args.end());
      args.erase(dashes, args.end());
    }
  }
  CLI::App app{"oomlint: find the PyTorch training-code patterns that leak or waste GPU memory", "oomlint"};
  app.set_version_flag("--version,-V", std::string("oomlint ") + OOMLINT_VERSION);
  app.require_subcommand(0, 1);

  CheckArgs check;
  CLI::App* check_cmd = app.add_subcommand("check", "Lint Python files (the default command)");
  check_cmd->add_option("paths", check.paths, "Files or folders to check (default: .); `-` reads stdin");
  // Each list flag takes one comma-separated value (Ruff's convention), so that the paths after
  // `--select OOM101 train.py` stay paths; repeating the flag adds to the list.
  add_list_option(*check_cmd, "--select", check.select, "Only these rule codes or prefixes (comma-separated)");
  add_list_option(*check_cmd, "--extend-select", check.extend_select, "Rule codes to enable as well");
  add_list_option(*check_cmd, "--ignore", check.ignore, "Rule codes or prefixes to disable");
  check_cmd->add_option("--config", check.config, "Use this configuration file (pyproject.toml or oomlint.toml)");
  check_cmd->add_flag("--isolated", check.isolated, "Ignore all configuration files");
  check_cmd
      ->add_option("--output-format", check.output_format,
                   "full (or text), concise, grouped, json, sarif, github, junit or gitlab")
      ->check(CLI::IsMember({"text", "full", "concise", "grouped", "json", "sarif", "github", "junit", "gitlab"}));
  check_cmd->add_option("--output-file,-o", check.output_file, "Write the report to this file instead of stdout");
  add_list_option(*check_cmd, "--exclude", check.exclude, "Glob patterns to exclude (replaces `exclude`)");
  add_list_option(*check_cmd, "--extend-exclude", check.extend_exclude, "Glob patterns to exclude as well");
  check_cmd->add_flag("--force-exclude", check.force_exclude,
                      "Apply the excludes to files named on the command line too (for pre-commit)");
  check_cmd->add_flag("--no-force-exclude", check.no_force_exclude, "Lint files named explicitly even if excluded");
  check_cmd->add_flag("--respect-gitignore", check.respect_gitignore, "Skip what .gitignore files ignore (default)");
  check_cmd->add_flag("--no-respect-gitignore", check.no_respect_gitignore, "Lint files .gitignore ignores too");
  check_cmd->add_flag("--show-files", check.show_files, "List the files that would be linted, and stop");
  check_cmd->add_flag("--add-noqa", check.add_noqa, "Add `# noqa: CODE` to every line with a finding");
  check_cmd->add_flag("--verbose,-v", check.verbose, "Say which configuration and rules were used, and the time");
  check_cmd->add_flag("--fix", check.fix, "Apply safe fixes (and unsafe ones with --unsafe-fixes)");
  check_cmd->add_flag("--unsafe-fixes", check.unsafe_fixes, "Also apply fixes that may change behaviour");
  check_cmd->add_flag("--diff", check.diff, "Print the fixes as a unified diff and change nothing");
  check_cmd->add_flag("--show-fixes", check.show_fixes, "List what --fix fixed");
  check_cmd->add_flag("--statistics", check.statistics, "Show counts per rule instead of findings");
  check_cmd->add_flag("--exit-zero", check.exit_zero, "Exit 0 even when there are findings");
  check_cmd->add_option("--jobs,-j", check.jobs, "Worker threads (default: one per core)")->check(CLI::Range(1, 1024));
  check_cmd->add_option("--stdin-filename", check.stdin_filename, "The name to report for `-` (stdin)");
  check_cmd->add_flag("--quiet,-q", check.quiet, "Print findings only, no summary");
  check_cmd->add_flag("--no-color", check.no_color, "Never colour the output (NO_COLOR does the same)");
  check_cmd->add_flag("--no-cache", check.no_cache, "Lint every file again; read and write no cache");
  check_cmd->add_option("--cache-dir", check.cache_dir,
                        "Keep results of earlier runs here (default: .oomlint_cache beside the configuration)");

  RuleArgs rule;
  CLI::App* rule_cmd = app.add_subcommand("rule", "Explain a rule, or list them all");
  rule_cmd->add_option("code", rule.code, "Rule code (OOM101) or name (graph-retaining-accumulation)");
  rule_cmd->add_flag("--all", rule.all, "List every rule");
  rule_cmd->add_option("--output-format", rule.output_format, "text, markdown or json")
      ->check(CLI::IsMember({"text", "markdown", "json"}));

  VerifyArgs verify_args;
  verify_args.options.command = program;
  CLI::App* verify_cmd =
      app.add_subcommand("verify", "Run a program as written and with its findings fixed, and measure each one");
  verify_cmd->footer("The program comes after `--`: oomlint verify [OPTIONS] -- python train.py ARG ...");
  verify_cmd->add_option("--steps", verify_args.options.steps, "Passes to measure per flagged loop (default 20)")
      ->check(CLI::Range(3, 100000));
  verify_cmd->add_option("--timeout", verify_args.options.timeout, "Seconds per run (default 120)")
      ->check(CLI::Range(1.0, 86400.0));
  verify_cmd->add_option("--device", verify_args.options.device, "auto, cuda or cpu")
      ->check(CLI::IsMember({"auto", "cuda", "cpu"}));
  verify_cmd->add_option("--python", verify_args.options.python, "The Python to run the program with");
  verify_cmd->add_option("--report", verify_args.report, "Write a self-contained HTML report here");
  verify_cmd->add_option("--output-format", verify_args.output_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  verify_cmd->add_option("--alloc-conf", verify_args.options.alloc_conf,
                         "Also run with this PYTORCH_CUDA_ALLOC_CONF (e.g. expandable_segments:True) and compare");
  add_list_option(*verify_cmd, "--select", verify_args.options.select, "Only these rule codes or prefixes");
  add_list_option(*verify_cmd, "--ignore", verify_args.options.ignore, "Rule codes or prefixes to leave out");
  verify_cmd->add_flag("--no-color", verify_args.no_color, "Never colour the output");
  verify_cmd->add_option("--keep-runs", verify_args.options.keep_runs,
                         "Keep each run's probe configuration, samples and output in this folder");
  verify_cmd
      ->add_option("--launcher", verify_args.options.launcher,
                   "Run the program under a launcher, every rank probed: torchrun")
      ->check(CLI::IsMember({"torchrun"}));
  verify_cmd->add_option("--nproc", verify_args.options.nproc, "Ranks to start with --launcher (default 1)")
      ->check(CLI::Range(1, 64));

  ExplainArgs explain_args;
  CLI::App* explain_cmd =
      app.add_subcommand("explain", "Read a CUDA out-of-memory error (a log, or `-` for stdin) and say what to do");
  explain_cmd->add_option("log", explain_args.input, "The log to read (default: stdin)");
  explain_cmd->add_option("--output-format", explain_args.output_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  explain_cmd->add_flag("--no-lint", explain_args.no_lint, "Do not lint the files the traceback names");

  CLI::App* server_cmd = app.add_subcommand("server", "Run the language server (LSP over stdin and stdout)");
  std::string clean_cache_dir;
  CLI::App* clean_cmd = app.add_subcommand("clean", "Remove the cache of earlier runs (.oomlint_cache)");
  clean_cmd->add_option("--cache-dir", clean_cache_dir, "The cache to remove (default: this project's)");

  std::vector<const char*> cargv{argv[0]};
  for (const std::string& a : args) {
    cargv.push_back(a.c_str());
  }
  try {
    app.parse(static_cast<int>(cargv.size()), cargv.data());
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitError;
  }
  if (rule_cmd->parsed()) {
    return run_rule(rule);
  }
  if (verify_cmd->parsed()) {
    return run_verify_command(std::move(verify_args));
  }
  if (explain_cmd->parsed()) {
    service::LintService lint_service = make_service();
    const ExplainOutcome outcome = run_explain(explain_args, lint_service);
    if (outcome.error) {
      print_error(*outcome.error);
    }
    std::fwrite(outcome.output.data(), 1, outcome.output.size(), stdout);
    return outcome.exit_code;
  }
  if (server_cmd->parsed()) {
    return run_server();
  }
  if (clean_cmd->parsed()) {
    return run_clean(clean_cache_dir);
  }
  if (!check.stdin_filename.empty() && check.paths.empty()) {
    check.paths.emplace_back("-");
  }
  return run_check(std::move(check));
}

} // namespace

} // namespace oomlint::cli

int main(int argc, char** argv) {
  try {
    return oomlint::cli::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s; please report this as a bug\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "error: unexpected failure; please report this as a bug\n");
  }
  return 2;
}
