// The `oomlint` executable: command-line parsing and the glue between the analyzer, the
// rules and the output formats. Errors end as one sentence on stderr and exit status 2.
#include <unistd.h>

#include <algorithm>
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

#include "analyzer/config/config.hpp"
#include "analyzer/driver/discovery.hpp"
#include "analyzer/driver/linter.hpp"
#include "analyzer/fix/atomic_write.hpp"
#include "analyzer/fix/fixer.hpp"
#include "analyzer/fix/unified_diff.hpp"
#include "analyzer/output/emitter.hpp"
#include "analyzer/output/rule_docs.hpp"
#include "analyzer/service/lint_service.hpp"
#include "analyzer/syntax/parser.hpp"
#include "analyzer/syntax/python_grammar.hpp"
#include "analyzer/verify/verifier.hpp"
#include "editors/lsp/server.hpp"
#include "rules/registry.hpp"

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
};

struct RuleArgs {
  std::string code;
  bool all = false;
  std::string output_format = "text";
};

void print_error(const std::string& message) {
  const bool color = ::isatty(STDERR_FILENO) != 0 && std::getenv("NO_COLOR") == nullptr;
  fmt::print(stderr, "{}: {}\n", color ? "\033[1;31merror\033[0m" : "error", message);
}

std::string docs_url_base() {
  if (const char* env = std::getenv("OOMLINT_DOCS_URL_BASE")) {
    return env;
  }
  return OOMLINT_DOCS_URL_BASE;
}

bool use_color(bool no_color) {
  if (no_color || std::getenv("NO_COLOR") != nullptr) {
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

int run_check(CheckArgs args) {
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
  if (args.paths.empty()) {
    args.paths.emplace_back(".");
  }
  service::Overrides overrides;
  overrides.select = args.select;
  overrides.extend_select = args.extend_select;
  overrides.ignore = args.ignore;
  overrides.config_file = args.config;
  overrides.isolated = args.isolated;
  overrides.unsafe_fixes = args.unsafe_fixes;
  auto resolved = lint_service.settings_for(config_start(args), overrides);
  if (!resolved) {
    print_error(resolved.error().describe());
    return kExitError;
  }
  const service::Settings& settings = **resolved;
  const bool fixing = args.fix || args.diff;

  bool had_error = false;
  // stdin and the files named are one project, as `check` sees them, whatever the mode.
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
  const std::size_t stdin_inputs = inputs.size();
  const int jobs = args.jobs > 0 ? args.jobs : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  if (!files.empty()) {
    const Discovery discovery = discover(files, settings.config());
    for (const Error& e : discovery.errors) {
      print_error(e.describe());
      had_error = true;
    }
    for (const std::string& f : discovery.files) {
      inputs.push_back(LintInput{f, nullptr});
    }
  }
  ProjectRun run = lint_service.lint(inputs, settings, jobs);
  std::vector<FileReport> reports;
  std::vector<FixOutcome> outcomes; // parallel to reports when fixing
  std::optional<FixOutcome> stdin_fixed;
  if (fixing) {
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
  size_t fixed_count = 0;
  size_t would_fix = 0;
  std::string diff_text;
  for (FixOutcome& o : outcomes) {
    for (const std::string& why : o.dropped) {
      print_error(why);
    }
    if (!o.changed() || o.report.error) {
      continue;
    }
    if (args.diff) {
      would_fix += o.applied.size();
      diff_text += unified_diff((o.original ? o.original->bytes() : std::string()), o.fixed->bytes(), o.report.path,
                                o.report.path);
      continue;
    }
    const std::string bytes = o.fixed->bytes();
    auto written = write_file_atomically(o.report.path, bytes, (o.original ? o.original->bytes() : std::string()));
    if (!written) {
      print_error(written.error().describe());
      had_error = true;
      continue;
    }
    fixed_count += o.applied.size();
  }
  if (stdin_fixed) {
    fixed_count += stdin_fixed->applied.size();
    const std::string bytes = stdin_fixed->fixed->bytes();
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    std::fflush(stdout);
  }
  for (const FileReport& r : reports) {
    if (r.error) {
      print_error(r.error->describe());
      had_error = true;
    }
  }
  EmitOptions emit;
  emit.color = use_color(args.no_color);
  emit.docs_url_base = docs_url_base();
  size_t findings = 0;
  for (const FileReport& r : reports) {
    findings += r.findings.size();
  }
  if (args.diff) {
    std::fwrite(diff_text.data(), 1, diff_text.size(), stdout);
    std::fflush(stdout);
    if (!args.quiet) {
      fmt::print(stderr, "{}\n",
                 would_fix == 0 ? std::string("No fixes available.")
                                : fmt::format("Would fix {} finding{}.", would_fix, would_fix == 1 ? "" : "s"));
    }
    if (had_error) {
      return kExitError;
    }
    return would_fix > 0 && !args.exit_zero ? kExitFindings : kExitClean;
  }
  std::string out;
  if (args.statistics) {
    out = emit_statistics(reports, args.output_format == "json");
  } else if (args.output_format == "json") {
    out = emit_json(reports, emit);
  } else if (args.output_format == "sarif") {
    out = emit_sarif(reports, catalog, emit, OOMLINT_VERSION);
  } else if (args.output_format == "github") {
    out = emit_github(reports);
  } else {
    out = args.output_format == "concise" ? emit_concise(reports, emit) : emit_text(reports, emit);
    if (args.show_fixes && fixed_count > 0) {
      out += fixes_listing(outcomes, stdin_fixed);
    }
    if (!args.quiet) {
      if (fixed_count > 0) {
        out += fmt::format("Fixed {} finding{}.\n", fixed_count, fixed_count == 1 ? "" : "s");
      }
      out += summary_line(reports, emit);
    }
  }
  // With `--fix` on stdin, stdout carries the fixed source; findings go to stderr.
  std::FILE* stream = stdin_fixed ? stderr : stdout;
  std::fwrite(out.data(), 1, out.size(), stream);
  std::fflush(stream);
  if (had_error) {
    return kExitError;
  }
  return findings > 0 && !args.exit_zero ? kExitFindings : kExitClean;
}

int run_rule(const RuleArgs& args) {
  const std::vector<const RuleMeta*> catalog = rules::catalog();
  if (args.all) {
    std::string out = args.output_format == "json"       ? rule_catalog_json(catalog)
                      : args.output_format == "markdown" ? [&] {
                          std::string all;
                          for (const RuleMeta* m : catalog) {
                            all += rule_markdown(*m) + "\n";
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
  const Rule* rule = rules::find_rule(args.code);
  if (rule == nullptr) {
    print_error(fmt::format("unknown rule `{}`; `oomlint rule --all` lists the codes", args.code));
    return kExitError;
  }
  const std::string out = args.output_format == "json" ? rule_json(*rule->meta) : rule_markdown(*rule->meta);
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
  const std::vector<const RuleMeta*> catalog = rules::catalog();
  const service::LintService lint_service = make_service();
  for (const auto& [codes, flag] :
       {std::pair{&args.options.select, "--select"}, std::pair{&args.options.ignore, "--ignore"}}) {
    if (auto problem = lint_service.unknown_selector(*codes, flag)) {
      print_error(*problem);
      return kExitError;
    }
  }
  Config config;
  SelectionFlags flags;
  if (!args.options.select.empty()) {
    flags.select = args.options.select;
  }
  flags.ignore = args.options.ignore;
  LintSettings settings;
  settings.rules = rules::all_rules();
  settings.enabled = enabled_codes(config, flags, catalog);
  settings.config = &config;
  args.options.probe_dir = probe_dir();
  args.options.progress = ::isatty(STDERR_FILENO) != 0;
  auto result = verify::run_verify(args.options, settings);
  if (!result) {
    print_error(result.error().describe());
    return kExitError;
  }
  const std::string out = args.output_format == "json" ? verify::verify_json(*result, docs_url_base())
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
  service::LintService lint_service = make_service();
  lsp::FrameWriter out(std::cout);
  lsp::ServerOptions options;
  options.version = OOMLINT_VERSION;
  lsp::Server server(lint_service, out, options);
  return server.run(std::cin);
}

bool is_command(std::string_view word) {
  return word == "check" || word == "rule" || word == "verify" || word == "server" || word == "--verify" ||
         word == "--version" || word == "-V" || word == "--help" || word == "-h" || word == "version";
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
                     "check, rule, verify and server: see `oomlint --help`",
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
  check_cmd->add_option("--output-format", check.output_format, "text, concise, json, sarif or github")
      ->check(CLI::IsMember({"text", "concise", "json", "sarif", "github"}));
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
  verify_cmd
      ->add_option("--launcher", verify_args.options.launcher,
                   "Run the program under a launcher, every rank probed: torchrun")
      ->check(CLI::IsMember({"torchrun"}));
  verify_cmd->add_option("--nproc", verify_args.options.nproc, "Ranks to start with --launcher (default 1)")
      ->check(CLI::Range(1, 64));

  CLI::App* server_cmd = app.add_subcommand("server", "Run the language server (LSP over stdin and stdout)");

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
  if (server_cmd->parsed()) {
    return run_server();
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
