#include "verifier/verifier.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "analyzer/driver/discovery.hpp"
#include "analyzer/syntax/parser.hpp"
#include "verifier/nvml_sampler.hpp"
#include "verifier/plan.hpp"
#include "verifier/process.hpp"
#include "verifier/verdict.hpp"

namespace fs = std::filesystem;

namespace oomlint::verify {

namespace {

Error failure(std::string message, std::string path = {}) {
  return Error{std::move(message), std::move(path), 0, 0};
}

Error interruption() {
  return failure("interrupted; the program's processes were stopped");
}

bool is_python(std::string_view word) {
  return fs::path(word).filename().string().starts_with("python");
}

// The program after `--`: its interpreter, script and arguments.
struct Program {
  std::string python;
  fs::path script;
  std::vector<std::string> args;
};

Expected<Program> program_of(const VerifyOptions& options) {
  if (options.command.empty()) {
    return failure("nothing to run: give the program after `--`, e.g. `oomlint verify -- python train.py`");
  }
  std::vector<std::string> command = options.command;
  Program program;
  program.python = options.python;
  if (is_python(command.front())) {
    if (program.python.empty()) {
      program.python = command.front();
    }
    command.erase(command.begin());
  }
  if (program.python.empty()) {
    program.python = "python3";
  }
  if (command.empty() || command.front().starts_with("-")) {
    return failure("the verifier runs a script: `oomlint verify -- python train.py ARGS` (`-m` and `-c` are not "
                   "supported)");
  }
  std::error_code ec;
  program.script = fs::absolute(command.front(), ec);
  if (!fs::is_regular_file(program.script, ec)) {
    return failure("the script to verify does not exist; check the path after `--`", command.front());
  }
  if (!fs::is_directory(fs::path(options.probe_dir) / "oomlint_probe", ec)) {
    return failure(fmt::format("the probe is not installed at {}; set OOMLINT_PROBE_DIR to the folder holding "
                               "oomlint_probe",
                               options.probe_dir));
  }
  program.args.assign(command.begin() + 1, command.end());
  return program;
}

// Which torch the interpreter has and whether it sees CUDA: `result.torch_version`, `device`.
std::optional<Error> check_torch(const VerifyOptions& options, const std::string& python, const fs::path& work,
                                 VerifyResult& result) {
  const std::string check = fmt::format("{} -c \"import torch,sys; print(torch.__version__, "
                                        "int(torch.cuda.is_available()))\" > {} 2>&1",
                                        python, (work / "torch.txt").string());
  const std::string env = options.device == "cpu" ? "CUDA_VISIBLE_DEVICES= " : "";
  const int rc = std::system((env + check).c_str());
  const std::string out = read_text(work / "torch.txt");
  if (rc != 0) {
    return failure(fmt::format("`{}` cannot import torch ({}); install PyTorch for it or pass --python", python,
                               last_lines(out, 1).substr(0, 200)));
  }
  std::istringstream words(out);
  std::string cuda;
  words >> result.torch_version >> cuda;
  const bool has_cuda = cuda == "1";
  if (options.device == "cuda" && !has_cuda) {
    return failure(
        fmt::format("--device cuda, but torch {} under `{}` sees no CUDA device", result.torch_version, python));
  }
  result.device = has_cuda && options.device != "cpu" ? "cuda" : "cpu";
  return std::nullopt;
}

// The fragmentation A/B: the baseline's peaks by default and with the allocator setting.
std::string alloc_conf_note(const VerifyOptions& options, const RunOutcome& baseline, const RunOutcome& ab,
                            const ProbePoints& points) {
  double alloc_default = 0;
  double reserved_default = 0;
  double alloc_conf = 0;
  double reserved_conf = 0;
  for (int id : points.ids) {
    const RunFigures d = figures_of(series_of(baseline.results, id), false);
    const RunFigures c = figures_of(series_of(ab.results, id), false);
    alloc_default = std::max(alloc_default, d.peak_allocated);
    reserved_default = std::max(reserved_default, d.peak_reserved);
    alloc_conf = std::max(alloc_conf, c.peak_allocated);
    reserved_conf = std::max(reserved_conf, c.peak_reserved);
  }
  const double ratio_default = alloc_default > 0 ? reserved_default / alloc_default : 0;
  const double ratio_conf = alloc_conf > 0 ? reserved_conf / alloc_conf : 0;
  const bool fragmented = ratio_default >= 1.2 && reserved_conf <= 0.9 * reserved_default;
  return fmt::format("fragmentation: peak reserved/allocated {:.2f} ({} / {}) by default, {:.2f} ({} / {}) with {}: {}",
                     ratio_default, format_bytes(reserved_default), format_bytes(alloc_default), ratio_conf,
                     format_bytes(reserved_conf), format_bytes(alloc_conf), options.alloc_conf,
                     fragmented ? "fragmentation confirmed, set it before CUDA starts"
                                : "no fragmentation worth fixing");
}

// Only the files the program really loaded are its code: a sibling script's findings are not
// this program's (and would cost a run each for nothing).
void keep_loaded_files_only(Plan& plan, const RunOutcome& baseline) {
  std::error_code ec;
  std::set<std::string> loaded;
  if (baseline.results.contains("loaded") && baseline.results["loaded"].is_array()) {
    for (const auto& path : baseline.results["loaded"]) {
      if (path.is_string()) {
        loaded.insert(fs::weakly_canonical(path.get<std::string>(), ec).string());
      }
    }
  }
  std::erase_if(plan.findings, [&](const PlannedFinding& p) {
    return !loaded.empty() && loaded.count(fs::weakly_canonical(p.path, ec).string()) == 0;
  });
}

void take(VerifiedFinding& v, const Verdict& verdict) {
  v.verdict = verdict.verdict;
  v.reason = verdict.reason;
  v.projected_bytes_10k = verdict.projected_bytes_10k;
  v.projected_seconds_10k = verdict.projected_seconds_10k;
}

// What one verification shares across its findings' runs.
struct Session {
  const VerifyOptions& options;
  const service::LintService& service;
  Plan& plan;
  ProbeRunner& runner;
  const RunOutcome& baseline;
  bool cuda = false;
  ProbePoints points;
  syntax::Parser parser;
  std::vector<std::string> notes;

  // A run of the program with these fixes applied to `path`.
  RunOutcome run_fixed(const std::string& label, const std::string& path, const std::vector<const Fix*>& fixes) {
    auto sources = plan.instrumented_with(path, fixes, service, parser);
    if (!sources) {
      RunOutcome refused;
      refused.error = fmt::format("the fix was not run: {}", sources.error().message);
      return refused;
    }
    return runner.run(label, *sources, points, "");
  }
};

MeasuredRun measured_at(const nlohmann::json& results, const PlannedFinding& p) {
  return measured(series_of(results, p.probe), p.measure == VerifyMeasure::Load);
}

// Two findings holding one graph (a loss both accumulated and appended): fixing either alone
// frees nothing, so the loop's growth fixes are measured together before calling it ineffective.
void measure_with_partners(Session& s, const PlannedFinding& p, VerifiedFinding& v) {
  std::vector<const Fix*> together;
  std::vector<std::string> partners;
  for (const PlannedFinding& q : s.plan.findings) {
    if (q.probe == p.probe && q.path == p.path && &q != &p && q.fix && q.measure == VerifyMeasure::Growth) {
      together.push_back(&*q.fix);
      partners.push_back(q.finding.code);
    }
  }
  if (v.verdict != "fix-ineffective" || partners.empty()) {
    return;
  }
  together.push_back(&*p.fix);
  const RunOutcome both = s.run_fixed("fixed loop", p.path, together);
  const MeasuredRun baseline{v.baseline_series, v.baseline};
  const MeasuredRun fixed = measured_at(both.results, p);
  const Verdict combined = judge(p.measure, s.cuda, baseline, &fixed);
  if (combined.verdict == "confirmed") {
    take(v, combined);
    v.reason += fmt::format(" (fixed together with {} in the same loop: each fix alone leaves the graph held by the "
                            "other)",
                            fmt::join(partners, ", "));
    v.fix_used += " + the other fixes in this loop";
    v.fixed_series = fixed.series;
    v.fixed = fixed.figures;
  }
}

// Every rank's own verdict: a leak may live on one rank only (an eval on rank 0, every rank's
// checkpoint landing on GPU 0).
void judge_ranks(const Session& s, const PlannedFinding& p, const RunOutcome& fixed_run, VerifiedFinding& v) {
  for (size_t r = 0; r < s.baseline.rank_results.size(); ++r) {
    const MeasuredRun baseline = measured_at(s.baseline.rank_results[r], p);
    const MeasuredRun fixed =
        r < fixed_run.rank_results.size() ? measured_at(fixed_run.rank_results[r], p) : MeasuredRun{};
    RankVerdict rv{static_cast<int>(r), "not-reached", "this rank never ran the flagged code", baseline.figures,
                   fixed.figures};
    if (!baseline.series.seconds.empty()) {
      const Verdict verdict = judge(p.measure, s.cuda, baseline, p.fix ? &fixed : nullptr);
      rv.verdict = verdict.verdict;
      rv.reason = verdict.reason;
    }
    v.ranks.push_back(std::move(rv));
  }
  if (v.verdict == "confirmed") {
    return;
  }
  for (const RankVerdict& rv : v.ranks) {
    if (rv.verdict == "confirmed") {
      v.verdict = "confirmed";
      v.reason = fmt::format("on rank {}: {}", rv.rank, rv.reason);
      return;
    }
  }
}

// A second fix measured for comparison (a hook's store: `.detach()` alone).
void measure_alternative(Session& s, const PlannedFinding& p, VerifiedFinding& v) {
  const RunOutcome alt = s.run_fixed("alternative", p.path, {&*p.alternative});
  const MeasuredRun baseline{v.baseline_series, v.baseline};
  const MeasuredRun fixed = measured_at(alt.results, p);
  const Verdict other = judge(p.measure, s.cuda, baseline, &fixed);
  v.alternative_used = p.alternative_used;
  v.alternative_verdict = other.verdict;
  v.alternative = fixed.figures;
  v.reason += fmt::format("; with {}: {} ({})", p.alternative_used, other.verdict, other.reason);
}

Expected<VerifiedFinding> verify_finding(Session& s, const PlannedFinding& p) {
  VerifiedFinding v;
  v.path = p.path;
  const RowCol pos = s.plan.source(p.path).position(p.finding.start);
  v.row = static_cast<int>(pos.row + 1);
  v.column = static_cast<int>(pos.column + 1);
  v.finding = p.finding;
  v.fix_used = p.fix_used;
  if (p.probe < 0) {
    v.verdict = "inconclusive";
    v.reason = p.skip_reason;
    return v;
  }
  RunOutcome fixed_run;
  if (p.fix) {
    fixed_run = s.run_fixed(fmt::format("fixed {}", p.finding.code), p.path, {&*p.fix});
    if (interrupted()) {
      return interruption();
    }
    for (std::uint64_t b : fixed_run.nvml) {
      v.fixed_nvml_peak = std::max(v.fixed_nvml_peak, b);
    }
    if (!fixed_run.error.empty()) {
      s.notes.push_back(fmt::format("with the {} fix, the program stopped with {}", p.finding.code, fixed_run.error));
    }
  }
  const MeasuredRun baseline = measured_at(s.baseline.results, p);
  const MeasuredRun fixed = measured_at(fixed_run.results, p);
  v.baseline_series = baseline.series;
  v.fixed_series = fixed.series;
  v.baseline = baseline.figures;
  v.fixed = fixed.figures;
  if (baseline.series.seconds.empty()) {
    v.verdict = "not-reached";
    v.reason = fmt::format("the flagged code never ran within the budget ({} passes or {} s)",
                           s.options.steps + kWarmupPasses, s.options.timeout);
    return v;
  }
  take(v, judge(p.measure, s.cuda, baseline, p.fix ? &fixed : nullptr));
  if (p.fix && !fixed_run.error.empty() && v.fixed.passes < kWarmupPasses + 3) {
    // The figures cannot tell; what happened to the fixed program can.
    v.verdict = "inconclusive";
    v.reason = fmt::format("with the fix the program stopped with {} after {} passes: this fix alone does not run",
                           fixed_run.error, v.fixed.passes);
  }
  measure_with_partners(s, p, v);
  judge_ranks(s, p, fixed_run, v);
  if (p.alternative) {
    measure_alternative(s, p, v);
  }
  if (interrupted()) {
    return interruption();
  }
  return v;
}

// Where the runs' files go: a fresh temporary folder removed at the end, or --keep-runs.
struct WorkDir {
  fs::path dir;
  bool keep = false;
  explicit WorkDir(const std::string& keep_runs)
      : dir(keep_runs.empty() ? fs::temp_directory_path() / fmt::format("oomlint-verify-{}", ::getpid())
                              : fs::path(keep_runs)),
        keep(!keep_runs.empty()) {
    std::error_code ec;
    fs::create_directories(dir, ec);
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  ~WorkDir() {
    if (!keep) {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }
};

// The baseline run's outcome as the result's notes and NVML figures; an Error when the program
// never reached a flagged loop.
std::optional<Error> read_baseline(const VerifyOptions& options, const RunOutcome& baseline, VerifyResult& result) {
  for (std::uint64_t b : baseline.nvml) {
    result.nvml_peak_baseline = std::max(result.nvml_peak_baseline, b);
  }
  const bool samples = baseline.results.contains("samples") && !baseline.results["samples"].empty();
  if (!samples && !baseline.error.empty()) {
    return failure(fmt::format("the program failed before reaching a flagged loop: {}", baseline.error));
  }
  const bool probe_timed_out = baseline.results.value("stop_reason", std::string()) == "timeout";
  if (!samples && (baseline.timed_out || probe_timed_out)) {
    return failure(fmt::format("the program reached no flagged loop within --timeout {} s", options.timeout));
  }
  if (!baseline.error.empty()) {
    result.notes.push_back("as written, the program stopped with " + baseline.error);
  }
  if (result.device == "cuda" && !baseline.results.value("cuda", false)) {
    result.notes.push_back("CUDA is available but the flagged code did not use it: CPU figures only");
  }
  return std::nullopt;
}

} // namespace

Expected<VerifyResult> run_verify(const VerifyOptions& options, const service::LintService& service,
                                  const service::Settings& settings) {
  auto program = program_of(options);
  if (!program) {
    return program.error();
  }
  // 1. Lint the program's local files, as one project, through the lint service.
  const Discovery discovery = discover({program->script.parent_path().string()}, settings.config());
  std::vector<LintInput> inputs;
  for (const std::string& f : discovery.files) {
    inputs.push_back(LintInput{f, nullptr});
  }
  const ProjectRun lint = service.lint(inputs, settings, 2);

  // 2. Plan the probe points and fixes.
  VerifyResult result;
  Plan plan = plan_verification(lint.reports, settings.lint());
  if (plan.findings.empty()) {
    result.notes.push_back("no finding the verifier can measure in the program's files");
    return result;
  }

  // 3. Check the interpreter, then run as written.
  const WorkDir work(options.keep_runs);
  if (auto problem = check_torch(options, program->python, work.dir, result)) {
    return *problem;
  }
  const Nvml nvml;
  result.nvml_note = nvml.available() ? "NVML per-process memory sampled every 100 ms" : nvml.problem();
  install_interrupt_handlers();
  ProbeRunner runner(options, program->python, program->script.string(), program->args, work.dir, nvml);
  const ProbePoints points{plan.probe_ids(), plan.statement_probe_ids()};
  const std::map<std::string, std::string> as_written = plan.instrumented();
  const RunOutcome baseline = runner.run("baseline", as_written, points, "");
  if (interrupted()) {
    return interruption();
  }
  if (auto problem = read_baseline(options, baseline, result)) {
    return *problem;
  }
  const bool cuda = baseline.results.value("cuda", false);
  if (!options.alloc_conf.empty() && cuda) {
    const RunOutcome ab = runner.run("alloc-conf", as_written, points, options.alloc_conf);
    result.alloc_conf_note = alloc_conf_note(options, baseline, ab, points);
  }
  keep_loaded_files_only(plan, baseline);

  // 4. One fixed run per finding, and its verdict.
  Session session{options, service, plan, runner, baseline, cuda, points, {}, {}};
  for (const PlannedFinding& p : plan.findings) {
    auto verified = verify_finding(session, p);
    if (!verified) {
      return verified.error();
    }
    result.findings.push_back(std::move(*verified));
  }
  result.notes.insert(result.notes.end(), session.notes.begin(), session.notes.end());
  return result;
}

} // namespace oomlint::verify
