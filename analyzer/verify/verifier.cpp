#include "analyzer/verify/verifier.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "analyzer/driver/discovery.hpp"
#include "analyzer/driver/linter.hpp"
#include "analyzer/model/model.hpp"
#include "analyzer/syntax/parser.hpp"
#include "analyzer/syntax/python_grammar.hpp"
#include "analyzer/verify/nvml_sampler.hpp"

namespace fs = std::filesystem;

namespace oomlint::verify {

namespace {

Error failure(std::string message, std::string path = {}) {
  return Error{std::move(message), std::move(path), 0, 0};
}

constexpr int kWarmup = 2;
constexpr double kKiB = 1024.0;
constexpr double kMiB = 1024.0 * 1024.0;

std::atomic<bool> g_interrupted{false};
std::atomic<int> g_child_group{0};

void on_interrupt(int) {
  g_interrupted.store(true);
  const int pgid = g_child_group.load();
  if (pgid > 0) {
    ::kill(-pgid, SIGTERM);
  }
}

bool is_python(std::string_view word) {
  const std::string name = fs::path(word).filename().string();
  return name.starts_with("python");
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string last_lines(const std::string& text, int n) {
  if (text.empty()) {
    return {}; // a program that printed nothing
  }
  size_t at = text.size();
  int lines = 0;
  while (at > 0 && lines <= n) {
    at = text.rfind('\n', at - 1);
    if (at == std::string::npos) {
      return text;
    }
    ++lines;
  }
  return text.substr(at + 1);
}

// The last exception line a Python traceback printed (`RecursionError: ...`), which a
// launcher's closing banner would otherwise hide; empty when there is none.
std::string last_exception_line(const std::string& text) {
  size_t end = text.size();
  while (end > 0) {
    const size_t start = text.rfind('\n', end - 1);
    const size_t from = start == std::string::npos ? 0 : start + 1;
    std::string_view line(text.data() + from, end - from);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      line.remove_prefix(1);
    }
    const size_t colon = line.find(": ");
    if (colon != std::string_view::npos && colon > 0) {
      const std::string_view head = line.substr(0, colon);
      const bool identifier = std::all_of(head.begin(), head.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.';
      });
      if (identifier && (head.ends_with("Error") || head.ends_with("Exception") || head.ends_with("Interrupt"))) {
        return std::string(line);
      }
    }
    if (start == std::string::npos) {
      break;
    }
    end = start;
  }
  return {};
}

// What to show of a program's output when it failed without results: the exception it died
// of, then its last lines.
std::string failure_excerpt(const std::string& output) {
  const std::string exception = last_exception_line(output);
  const std::string tail = last_lines(output, 3);
  if (exception.empty() || tail.find(exception) != std::string::npos) {
    return tail;
  }
  return exception + "\n" + tail;
}

// ---- which findings the verifier can measure, and how

// What the finding's rule declares (its metadata's `verify`); none for a rule the catalog lacks.
Verification verification_of(const LintSettings& settings, std::string_view code) {
  for (const Rule& r : settings.rules) {
    if (r.meta != nullptr && r.meta->code == code) {
      return r.meta->verify;
    }
  }
  return {};
}

// How the finding is measured; nullopt when its rule is not measured.
std::optional<VerifyMeasure> measure_for(const LintSettings& settings, std::string_view code) {
  const VerifyMeasure m = verification_of(settings, code).measure;
  return m == VerifyMeasure::None ? std::nullopt : std::optional<VerifyMeasure>(m);
}

struct Insertion {
  std::uint32_t at = 0;
  std::string text;
};

struct ProbePoint {
  int id = 0;
  std::string path;
  std::uint32_t at = 0; // where the tick goes (a line start)
};

struct Planned {
  Finding finding;
  std::string path;
  int probe = -1; // probe id
  std::vector<Edit> fix_edits;
  std::string fix_used;
  std::vector<Edit> alt_edits; // a second fix measured for comparison (a hook's store: `.detach()` alone)
  std::string alt_used;
  std::string skip_reason;
};

std::string indentation_at(std::string_view text, std::uint32_t line_start) {
  std::string indent;
  for (std::uint32_t i = line_start; i < text.size() && (text[i] == ' ' || text[i] == '\t'); ++i) {
    indent += text[i];
  }
  return indent;
}

std::uint32_t line_start_of(std::string_view text, std::uint32_t byte) {
  const size_t nl = byte == 0 ? std::string_view::npos : text.rfind('\n', byte - 1);
  return nl == std::string_view::npos ? 0 : static_cast<std::uint32_t>(nl + 1);
}

// The first statement of a block, if it starts its own line.
std::optional<std::uint32_t> block_line_start(std::string_view text, TSNode block) {
  const auto& g = syntax::grammar();
  for (uint32_t i = 0; i < ts_node_named_child_count(block); ++i) {
    TSNode stmt = ts_node_named_child(block, i);
    if (ts_node_symbol(stmt) == g.sym.comment) {
      continue;
    }
    const std::uint32_t start = ts_node_start_byte(stmt);
    const std::uint32_t line = line_start_of(text, start);
    if (indentation_at(text, line).size() != start - line) {
      return std::nullopt; // `for x in y: stmt` on one line
    }
    return line;
  }
  return std::nullopt;
}

// `features.append(output)` -> `features.append(output<suffix>)`: `.detach()` is what people try
// first (and does not free a stored activation), `.detach().cpu()` what the rule advises.
// The store a hook finding names: the finding sits on the registration, and its first note on
// the statement that stores the activation.
Related stored_statement(const Finding& f) {
  return f.related.empty() ? Related{f.start, f.end, {}} : f.related.front();
}

std::vector<Edit> suffix_stored_argument(std::string_view text, const Finding& f, std::string_view suffix) {
  const Related store = stored_statement(f);
  std::uint32_t end = store.end;
  while (end > store.start && (text[end - 1] == ' ' || text[end - 1] == '\n' || text[end - 1] == '\r')) {
    --end;
  }
  if (end == store.start || (text[end - 1] != ')' && text[end - 1] != ']')) {
    return {};
  }
  return {Edit{end - 1, end - 1, std::string(suffix)}};
}

std::string apply_edits(std::string_view text, std::vector<Edit> edits) {
  std::stable_sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) { return a.start < b.start; });
  std::string out;
  std::uint32_t at = 0;
  for (const Edit& e : edits) {
    if (e.start < at || e.end > text.size()) {
      continue;
    }
    out.append(text.substr(at, e.start - at));
    out += e.content;
    at = e.end;
  }
  out.append(text.substr(at));
  return out;
}

// ---- running the program under the probe

struct RunOutcome {
  bool started = false;
  int exit_status = 0;
  bool timed_out = false;
  std::string error;                        // from the probe: the program's exception
  std::string output;                       // the program's stdout+stderr
  nlohmann::json results;                   // rank 0's (the only one without a launcher)
  std::vector<nlohmann::json> rank_results; // with a launcher: one per rank
  std::vector<std::uint64_t> nvml;
};

struct Runner {
  const VerifyOptions& options;
  std::string python;
  std::string script;
  std::vector<std::string> args;
  fs::path work;
  const Nvml& nvml;

  RunOutcome run(const std::string& label, const std::map<std::string, std::string>& sources,
                 const std::vector<int>& ids, const std::string& alloc_conf) const {
    RunOutcome outcome;
    const fs::path config_path = work / (label + ".json");
    const fs::path results_path = work / (label + ".results.json");
    const fs::path log_path = work / (label + ".log");
    nlohmann::json config = {{"passes", options.steps + kWarmup},     {"timeout", options.timeout},
                             {"out", results_path.string()},          {"ids", ids},
                             {"per_rank", !options.launcher.empty()}, {"sources", sources}};
    std::ofstream(config_path) << config.dump();
    const pid_t pid = ::fork();
    if (pid < 0) {
      outcome.error = "cannot start the program (fork failed)";
      return outcome;
    }
    if (pid == 0) {
      ::setpgid(0, 0);
      const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (log >= 0) {
        ::dup2(log, 1);
        ::dup2(log, 2);
      }
      const char* old = std::getenv("PYTHONPATH");
      const std::string path = options.probe_dir + (old != nullptr && *old != '\0' ? ":" + std::string(old) : "");
      ::setenv("PYTHONPATH", path.c_str(), 1);
      ::setenv("PYTHONUNBUFFERED", "1", 1);
      // Blocks of 64 KiB and more (tensors' storage) mapped on their own and given back when
      // freed: resident memory then follows what is alive, not malloc's high-water mark.
      ::setenv("MALLOC_MMAP_THRESHOLD_", "65536", 1);
      if (options.device == "cpu") {
        ::setenv("CUDA_VISIBLE_DEVICES", "", 1);
      }
      if (!alloc_conf.empty()) {
        ::setenv("PYTORCH_CUDA_ALLOC_CONF", alloc_conf.c_str(), 1);
      }
      std::vector<std::string> argv = {python, "-m", "oomlint_probe", config_path.string(), "--", script};
      if (options.launcher == "torchrun") {
        // The launcher that ships with PyTorch (torchrun), running the probe as a script in every
        // rank; torchrun.py only repairs a Debian torch 1.13 / Python 3.11 parsing bug first.
        argv = {python,
                (fs::path(options.probe_dir) / "oomlint_probe" / "torchrun.py").string(),
                "--nproc_per_node",
                std::to_string(options.nproc),
                "--master_port",
                std::to_string(29500 + ::getpid() % 2000),
                (fs::path(options.probe_dir) / "oomlint_probe" / "launch.py").string(),
                config_path.string(),
                "--",
                script};
      }
      argv.insert(argv.end(), args.begin(), args.end());
      std::vector<char*> cargv;
      for (std::string& a : argv) {
        cargv.push_back(a.data());
      }
      cargv.push_back(nullptr);
      ::execvp(cargv[0], cargv.data());
      std::fprintf(stderr, "cannot run %s\n", python.c_str());
      ::_exit(127);
    }
    ::setpgid(pid, pid);
    g_child_group.store(pid);
    outcome.started = true;
    NvmlSampler sampler(nvml, pid);
    const auto t0 = std::chrono::steady_clock::now();
    int status = 0;
    bool term_sent = false;
    double term_at = 0;
    while (true) {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        break;
      }
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (options.progress) {
        const int width = 24;
        const int filled = std::min(width, static_cast<int>(width * elapsed / (options.timeout + 10)));
        fmt::print(stderr, "\r{:<9} [{}{}] {:5.1f} s", label, std::string(static_cast<size_t>(filled), '#'),
                   std::string(static_cast<size_t>(width - filled), '.'), elapsed);
      }
      // The probe stops the program itself at the time budget; this is the backstop.
      if (!term_sent && (elapsed > options.timeout + 15 || g_interrupted.load())) {
        ::kill(-pid, SIGTERM);
        term_sent = true;
        term_at = elapsed;
        outcome.timed_out = !g_interrupted.load();
      } else if (term_sent && elapsed > term_at + 3) {
        ::kill(-pid, SIGKILL);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(-pid, SIGKILL); // anything the program left behind in its group
    g_child_group.store(0);
    outcome.nvml = sampler.stop();
    if (options.progress) {
      fmt::print(stderr, "\r{:<50}\r", "");
    }
    outcome.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    outcome.output = read_file(log_path);
    std::error_code ec;
    if (!options.launcher.empty()) {
      for (int r = 0; r < options.nproc; ++r) {
        const fs::path rank_path = results_path.string() + ".rank" + std::to_string(r);
        nlohmann::json rank_results;
        if (fs::exists(rank_path, ec)) {
          try {
            rank_results = nlohmann::json::parse(read_file(rank_path));
          } catch (const std::exception&) {
          }
        }
        if (rank_results.contains("error") && rank_results["error"].is_string() && outcome.error.empty()) {
          outcome.error = fmt::format("rank {}: {}", r, rank_results["error"].get<std::string>());
        }
        outcome.rank_results.push_back(std::move(rank_results));
      }
      if (!outcome.rank_results.empty() && !outcome.rank_results[0].is_null()) {
        outcome.results = outcome.rank_results[0];
      } else if (outcome.error.empty()) {
        outcome.error = fmt::format("the launcher ended without results (status {}): {}", outcome.exit_status,
                                    failure_excerpt(outcome.output));
      }
      return outcome;
    }
    if (fs::exists(results_path, ec)) {
      try {
        outcome.results = nlohmann::json::parse(read_file(results_path));
        if (outcome.results.contains("error") && outcome.results["error"].is_string()) {
          outcome.error = outcome.results["error"].get<std::string>();
        }
      } catch (const std::exception&) {
        outcome.error = "the probe's results could not be read";
      }
    } else if (outcome.exit_status == 127) {
      outcome.error = fmt::format("cannot run `{}`; pass --python with a Python that has PyTorch", python);
    } else {
      outcome.error = fmt::format("the program ended without results (status {}): {}", outcome.exit_status,
                                  failure_excerpt(outcome.output));
    }
    return outcome;
  }
};

Series series_of(const nlohmann::json& results, int id) {
  Series s;
  if (!results.contains("samples")) {
    return s;
  }
  const std::string key = std::to_string(id);
  if (!results["samples"].contains(key)) {
    return s;
  }
  for (const auto& row : results["samples"][key]) {
    const int entry = row.size() > 5 ? row[5].get<int>() : 0;
    s.seconds.push_back(row[0].get<double>());
    s.rss.push_back(row[1].get<double>());
    s.entry.push_back(entry);
    if (row[2].get<double>() >= 0) {
      s.allocated.push_back(row[2].get<double>());
      s.reserved.push_back(row[3].get<double>());
      s.peak.push_back(row[4].get<double>());
      s.gpu_entry.push_back(entry);
    }
  }
  return s;
}

template <typename T> std::vector<T> after_warmup(const std::vector<T>& v) {
  if (v.size() <= static_cast<size_t>(kWarmup) + 1) {
    return v;
  }
  return {v.begin() + kWarmup, v.end()};
}

std::vector<double> diffs(const std::vector<double>& v) {
  std::vector<double> d;
  for (size_t i = 1; i < v.size(); ++i) {
    d.push_back(v[i] - v[i - 1]);
  }
  return d;
}

RunFigures figures(const Series& s, bool load) {
  RunFigures f;
  f.passes = static_cast<int>(s.seconds.size());
  if (load) {
    // Around the call: samples alternate before, after. The tick before resets the allocator's
    // peak, so the peak read after is the statement's own: what a load needed for a moment counts
    // even when the loaded copy is gone by the end of the statement
    // (`net.load_state_dict(torch.load(path))`).
    for (size_t i = 0; i + 1 < s.rss.size(); i += 2) {
      f.host_load_delta = std::max(f.host_load_delta, s.rss[i + 1] - s.rss[i]);
      if (i + 1 < s.allocated.size()) {
        f.load_delta = std::max(f.load_delta, s.allocated[i + 1] - s.allocated[i]);
        f.load_peak_delta = std::max(f.load_peak_delta, s.peak[i + 1] - s.allocated[i]);
      }
    }
    f.passes = static_cast<int>(s.seconds.size() / 2);
  }
  f.gpu_growth = growth_within_entries(after_warmup(s.allocated), after_warmup(s.gpu_entry));
  f.host_growth = growth_within_entries(after_warmup(s.rss), after_warmup(s.entry));
  for (double p : s.peak) {
    f.peak_allocated = std::max(f.peak_allocated, p);
  }
  for (double r : s.reserved) {
    f.peak_reserved = std::max(f.peak_reserved, r);
  }
  f.step_seconds = median(diffs(after_warmup(s.seconds)));
  return f;
}

double median_peak(const Series& s) {
  return median(after_warmup(s.peak));
}

// The verdict from the two runs' figures; thresholds from ../shared/GROUND-TRUTH.md, see
// docs/verify.md.
void judge(VerifiedFinding& v, VerifyMeasure measure, bool cuda, bool have_fixed) {
  const RunFigures& b = v.baseline;
  const RunFigures& f = v.fixed;
  if (measure == VerifyMeasure::Load) {
    if (cuda) {
      const double needed = std::max(b.load_delta, b.load_peak_delta);
      const double needed_fixed = have_fixed ? std::max(f.load_delta, f.load_peak_delta) : 0;
      v.projected_bytes_10k = 0;
      if (needed - needed_fixed >= kMiB) {
        v.verdict = "confirmed";
        v.reason =
            fmt::format("the load needed +{} of GPU memory ({} still allocated after the statement); with "
                        "the fix, {}",
                        format_bytes(needed), format_bytes(std::max(0.0, b.load_delta)), format_bytes(needed_fixed));
      } else {
        v.verdict = "not-confirmed";
        v.reason = fmt::format("the load statement needed +{} of GPU memory at its peak, {} with the fix: what was "
                               "loaded did not land on the GPU",
                               format_bytes(needed), format_bytes(needed_fixed));
      }
    } else {
      v.verdict = "not-confirmed";
      v.reason = "on the CPU a checkpoint has nowhere else to go; run on a GPU to measure the load";
    }
    return;
  }
  if (!have_fixed) {
    v.verdict = "inconclusive";
    v.reason = "no fix or verification transform to compare against";
    return;
  }
  if (b.passes < kWarmup + 3 || f.passes < kWarmup + 3) {
    v.verdict = "inconclusive";
    v.reason = fmt::format("too few passes measured ({} as written, {} fixed); raise --timeout or --steps", b.passes,
                           f.passes);
    return;
  }
  const std::vector<double> bd =
      diffs_within_entries(after_warmup(v.baseline_series.allocated), after_warmup(v.baseline_series.gpu_entry));
  const double positive =
      bd.empty() ? 0
                 : static_cast<double>(std::count_if(bd.begin(), bd.end(), [](double d) { return d > 0; })) /
                       static_cast<double>(bd.size());
  const bool gpu_grows = cuda && b.gpu_growth >= 512 && positive >= 0.8;
  const bool host_grows =
      b.host_growth >= 10 * kKiB &&
      (v.baseline_series.rss.back() - v.baseline_series.rss[static_cast<size_t>(kWarmup)]) >= 256 * kKiB;
  // What the fix removes: the baseline's growth minus the fixed run's, on the GPU and on the host.
  const double gpu_removed = b.gpu_growth - std::max(0.0, f.gpu_growth);
  const double host_removed = b.host_growth - std::max(0.0, f.host_growth);
  auto growth_verdict = [&]() -> bool {
    if (gpu_grows && gpu_removed >= 512 && gpu_removed >= 0.5 * b.gpu_growth) {
      v.verdict = "confirmed";
      v.projected_bytes_10k = gpu_removed * 10000;
      v.reason = fmt::format("GPU memory grows {} per pass ({} over 10,000 steps); {} per pass with the fix",
                             format_bytes(b.gpu_growth), format_bytes(v.projected_bytes_10k),
                             format_bytes(std::max(0.0, f.gpu_growth)));
      return true;
    }
    if (!gpu_grows && host_grows && host_removed >= 10 * kKiB && host_removed >= 0.5 * b.host_growth) {
      v.verdict = "confirmed";
      v.projected_bytes_10k = host_removed * 10000;
      v.reason =
          fmt::format("host memory grows {} per pass ({} over 10,000 steps); {} per pass with the fix{}",
                      format_bytes(b.host_growth), format_bytes(v.projected_bytes_10k),
                      format_bytes(std::max(0.0, f.host_growth)), gpu_grows ? "" : ", and the GPU does not grow");
      return true;
    }
    if (gpu_grows || host_grows) {
      v.verdict = "fix-ineffective";
      v.projected_bytes_10k = std::max(b.gpu_growth, b.host_growth) * 10000;
      v.reason = fmt::format("memory grows alike with the fix: GPU {} vs {} per pass, host {} vs {} per pass",
                             format_bytes(b.gpu_growth), format_bytes(f.gpu_growth), format_bytes(b.host_growth),
                             format_bytes(f.host_growth));
      return true;
    }
    return false;
  };
  switch (measure) {
  case VerifyMeasure::Growth:
    if (!growth_verdict()) {
      v.verdict = "not-confirmed";
      v.reason = fmt::format("no growth: {} GPU and {} host memory per pass", format_bytes(b.gpu_growth),
                             format_bytes(b.host_growth));
    }
    return;
  case VerifyMeasure::Peak: {
    if (growth_verdict() && v.verdict == "confirmed") {
      return;
    }
    if (!cuda) {
      v.verdict = "inconclusive";
      v.reason = "the per-pass peak is read from the CUDA allocator; run on a GPU to measure it";
      return;
    }
    const double bp = median_peak(v.baseline_series);
    const double fp = median_peak(v.fixed_series);
    if (bp - fp >= std::max(64 * kMiB, 0.05 * fp)) {
      v.verdict = "confirmed";
      v.reason = fmt::format("peak allocated per pass {} as written, {} fixed (+{})", format_bytes(bp),
                             format_bytes(fp), format_bytes(bp - fp));
      v.projected_bytes_10k = bp - fp;
    } else {
      v.verdict = "not-confirmed";
      v.reason = fmt::format("peak allocated per pass {} as written, {} fixed", format_bytes(bp), format_bytes(fp));
    }
    return;
  }
  case VerifyMeasure::Time: {
    const double ratio = f.step_seconds > 0 ? b.step_seconds / f.step_seconds : 0;
    v.projected_seconds_10k = (b.step_seconds - f.step_seconds) * 10000;
    if (!cuda) {
      v.verdict = "not-confirmed";
      v.projected_seconds_10k = 0;
      v.reason = fmt::format("without CUDA, empty_cache() does nothing ({:.2f} vs {:.2f} ms per pass is noise)",
                             b.step_seconds * 1e3, f.step_seconds * 1e3);
      return;
    }
    if (ratio >= 1.05) {
      v.verdict = "confirmed";
      v.reason = fmt::format("a pass takes {:.2f} ms as written and {:.2f} ms without it ({:+.1f}%)",
                             b.step_seconds * 1e3, f.step_seconds * 1e3, (ratio - 1) * 100);
    } else {
      v.verdict = "not-confirmed";
      v.reason = fmt::format("a pass takes {:.2f} ms as written and {:.2f} ms without it{}", b.step_seconds * 1e3,
                             f.step_seconds * 1e3, cuda ? "" : " (empty_cache does nothing without CUDA)");
    }
    return;
  }
  case VerifyMeasure::Load:
  case VerifyMeasure::None:
    return;
  }
}

} // namespace

std::vector<double> diffs_within_entries(const std::vector<double>& ys, const std::vector<int>& entries) {
  std::vector<double> d;
  for (size_t i = 1; i < ys.size(); ++i) {
    if (i >= entries.size() || entries[i] == entries[i - 1]) {
      d.push_back(ys[i] - ys[i - 1]);
    }
  }
  return d;
}

double growth_within_entries(const std::vector<double>& ys, const std::vector<int>& entries) {
  // Each run of samples with one entry number is one entry into the loop; its slope, weighted
  // by its number of steps, tells how a pass grows memory whatever the loop's caller frees.
  double weighted = 0;
  double steps = 0;
  size_t start = 0;
  for (size_t i = 1; i <= ys.size(); ++i) {
    const bool ends = i == ys.size() || i >= entries.size() || entries[i] != entries[start];
    if (!ends) {
      continue;
    }
    const size_t n = i - start;
    if (n >= 3) {
      weighted +=
          slope({ys.begin() + static_cast<std::ptrdiff_t>(start), ys.begin() + static_cast<std::ptrdiff_t>(i)}) *
          static_cast<double>(n - 1);
      steps += static_cast<double>(n - 1);
    }
    start = i;
  }
  // Entries of one or two passes each: the growth across them is the signal.
  return steps > 0 ? weighted / steps : slope(ys);
}

double slope(const std::vector<double>& ys) {
  const size_t n = ys.size();
  if (n < 2) {
    return 0;
  }
  double sx = 0;
  double sy = 0;
  double sxx = 0;
  double sxy = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto x = static_cast<double>(i);
    sx += x;
    sy += ys[i];
    sxx += x * x;
    sxy += x * ys[i];
  }
  const auto dn = static_cast<double>(n);
  const double den = dn * sxx - sx * sx;
  return den == 0 ? 0 : (dn * sxy - sx * sy) / den;
}

std::string format_bytes(double b) {
  const double a = std::fabs(b);
  if (a >= 1024.0 * kMiB) {
    return fmt::format("{:.2f} GiB", b / (1024.0 * kMiB));
  }
  if (a >= kMiB) {
    return fmt::format("{:.1f} MiB", b / kMiB);
  }
  if (a >= kKiB) {
    return fmt::format("{:.1f} KiB", b / kKiB);
  }
  return fmt::format("{:.0f} B", b);
}

double median(std::vector<double> xs) {
  if (xs.empty()) {
    return 0;
  }
  std::sort(xs.begin(), xs.end());
  const size_t n = xs.size();
  return n % 2 == 1 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

Expected<VerifyResult> run_verify(const VerifyOptions& options, const LintSettings& settings) {
  if (options.command.empty()) {
    return failure("nothing to run: give the program after `--`, e.g. `oomlint verify -- python train.py`");
  }
  std::vector<std::string> command = options.command;
  std::string python = options.python;
  if (is_python(command.front())) {
    if (python.empty()) {
      python = command.front();
    }
    command.erase(command.begin());
  }
  if (python.empty()) {
    python = "python3";
  }
  if (command.empty() || command.front().starts_with("-")) {
    return failure("the verifier runs a script: `oomlint verify -- python train.py ARGS` (`-m` and `-c` are not "
                   "supported)");
  }
  std::error_code ec;
  const fs::path script = fs::absolute(command.front(), ec);
  if (!fs::is_regular_file(script, ec)) {
    return failure("the script to verify does not exist; check the path after `--`", command.front());
  }
  if (!fs::is_directory(fs::path(options.probe_dir) / "oomlint_probe", ec)) {
    return failure(fmt::format("the probe is not installed at {}; set OOMLINT_PROBE_DIR to the folder holding "
                               "oomlint_probe",
                               options.probe_dir));
  }

  // 1. Lint the program's local files.
  Config empty;
  const Discovery discovery = discover({script.parent_path().string()}, settings.config ? *settings.config : empty);
  std::vector<FileReport> reports = lint_files(discovery.files, settings, 2);

  // 2. Plan the probe points and fixes.
  VerifyResult result;
  std::vector<Planned> planned;
  std::map<std::string, std::vector<Insertion>> ticks;      // path -> tick insertions
  std::map<std::string, std::vector<Edit>> fixes;           // path -> fix edits
  std::map<std::pair<std::string, std::uint32_t>, int> ids; // (path, at) -> probe id
  std::map<std::string, std::shared_ptr<const SourceFile>> sources;
  syntax::Parser parser;
  int next_id = 0;
  for (const FileReport& r : reports) {
    if (!r.source || r.findings.empty()) {
      continue;
    }
    const std::string path = fs::absolute(r.path).lexically_normal().string();
    sources[path] = r.source;
    const std::string_view text = r.source->text();
    const syntax::Tree tree = parser.parse(text);
    const model::Model m(*r.source, tree.root(), settings.config ? settings.config->model : model::ModelOptions{});
    for (const Finding& f : r.findings) {
      const auto measure = measure_for(settings, f.code);
      const Verification how = verification_of(settings, f.code);
      if (!measure) {
        continue;
      }
      Planned p;
      p.finding = f;
      p.path = path;
      // `entered`: the start of the loop's own line, where each entry into the loop is marked, so
      // that growth is measured within entries (an accumulator reset per call saw-tooths).
      auto point = [&](std::uint32_t at, std::optional<std::uint32_t> entered) {
        auto key = std::make_pair(path, at);
        if (!ids.count(key)) {
          ids[key] = next_id++;
          ticks[path].push_back(
              Insertion{at, indentation_at(text, at) + fmt::format("__oomlint_probe__.tick({})\n", ids[key])});
          if (entered) {
            ticks[path].push_back(Insertion{*entered, indentation_at(text, *entered) +
                                                          fmt::format("__oomlint_probe__.enter({})\n", ids[key])});
          }
        }
        return ids[key];
      };
      if (*measure == VerifyMeasure::Load) {
        const std::uint32_t line = line_start_of(text, f.start);
        {
          const int id = next_id++;
          ticks[path].push_back(
              Insertion{line, indentation_at(text, line) + fmt::format("__oomlint_probe__.tick({})\n", id)});
          // After the statement: the end of the line holding the finding's end.
          const size_t nl = text.find('\n', f.end);
          const std::uint32_t after = nl == std::string_view::npos ? static_cast<std::uint32_t>(text.size())
                                                                   : static_cast<std::uint32_t>(nl + 1);
          ticks[path].push_back(
              Insertion{after, indentation_at(text, line) + fmt::format("__oomlint_probe__.tick({})\n", id)});
          p.probe = id;
        }
      } else {
        // A hook finding is measured where the hook stores, once per call of the hook.
        const std::uint32_t anchor = how.at_first_note ? stored_statement(f).start : f.start;
        const model::ScopeId scope = m.scope_at(anchor);
        const model::LoopId loop = m.loop_at(anchor, scope);
        std::optional<std::uint32_t> at;
        std::optional<std::uint32_t> entered;
        if (loop != model::kNone && m.loop(loop).kind != model::LoopKind::Comprehension) {
          at = block_line_start(text, ts_node_child_by_field_id(m.loop(loop).node, syntax::grammar().field.body));
          const std::uint32_t loop_line = line_start_of(text, ts_node_start_byte(m.loop(loop).node));
          if (at && *at > loop_line) { // a loop on a line of its own
            entered = loop_line;
          }
        } else if (const model::ScopeId fn = m.function_at(anchor); fn != model::kNone) {
          at = block_line_start(text, m.scope(fn).body);
        }
        if (at) {
          p.probe = point(*at, entered);
        } else {
          p.skip_reason = "no loop or function body to put the probe in";
        }
      }
      if (f.fix) {
        p.fix_edits = f.fix->edits;
        p.fix_used = f.fix->message;
      } else if (how.transform == VerifyTransform::DropStatement) {
        p.fix_edits = {Edit{f.start, f.end, "pass"}};
        p.fix_used = "verification transform: drop the flagged statement";
      } else if (how.transform == VerifyTransform::StoreDetachedCpu) {
        p.fix_edits = suffix_stored_argument(text, f, ".detach().cpu()");
        p.fix_used = "verification transform: store `.detach().cpu()`";
        const Related store = stored_statement(f);
        if (text.substr(store.start, store.end - store.start).find(".detach()") == std::string_view::npos) {
          p.alt_edits = suffix_stored_argument(text, f, ".detach()");
          p.alt_used = "`.detach()` alone";
        }
      }
      for (const Edit& e : p.fix_edits) {
        fixes[path].push_back(e);
      }
      planned.push_back(std::move(p));
    }
  }
  if (planned.empty()) {
    result.notes.push_back("no finding the verifier can measure in the program's files");
    return result;
  }

  // Instrumented texts, as written and fixed.
  std::map<std::string, std::string> baseline_sources;
  std::map<std::string, std::vector<Edit>> tick_edits;
  for (const auto& [path, source] : sources) {
    for (const Insertion& i : ticks[path]) {
      tick_edits[path].push_back(Edit{i.at, i.at, i.text});
    }
    baseline_sources[path] = apply_edits(source->text(), tick_edits[path]);
  }
  // Each finding is measured against a run with only its own fix: two findings on one graph
  // (a loss appended and accumulated) must not take each other's credit.
  auto fixed_sources_for = [&](const std::string& path, const std::vector<Edit>& edits) {
    std::map<std::string, std::string> out = baseline_sources;
    std::vector<Edit> all = tick_edits[path];
    all.insert(all.end(), edits.begin(), edits.end());
    out[path] = apply_edits(sources[path]->text(), all);
    return out;
  };
  std::vector<int> all_ids;
  for (int i = 0; i < next_id; ++i) {
    all_ids.push_back(i);
  }

  // 3. Check the interpreter, then run.
  fs::path work = fs::temp_directory_path() / fmt::format("oomlint-verify-{}", ::getpid());
  fs::create_directories(work, ec);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(dir, e);
    }
  } cleanup{work};
  {
    const std::string check = fmt::format("{} -c \"import torch,sys; print(torch.__version__, "
                                          "int(torch.cuda.is_available()))\" > {} 2>&1",
                                          python, (work / "torch.txt").string());
    const std::string env = options.device == "cpu" ? "CUDA_VISIBLE_DEVICES= " : "";
    const int rc = std::system((env + check).c_str());
    const std::string out = read_file(work / "torch.txt");
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
  }
  Nvml nvml;
  result.nvml_note = nvml.available() ? "NVML per-process memory sampled every 100 ms" : nvml.problem();
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  Runner runner{options, python, script.string(), {command.begin() + 1, command.end()}, work, nvml};
  const RunOutcome baseline = runner.run("baseline", baseline_sources, all_ids, "");
  if (g_interrupted.load()) {
    return failure("interrupted; the program's processes were stopped");
  }
  for (std::uint64_t b : baseline.nvml) {
    result.nvml_peak_baseline = std::max(result.nvml_peak_baseline, b);
  }
  const bool baseline_samples = baseline.results.contains("samples") && !baseline.results["samples"].empty();
  if (!baseline_samples && !baseline.error.empty()) {
    return failure(fmt::format("the program failed before reaching a flagged loop: {}", baseline.error));
  }
  const bool probe_timed_out = baseline.results.value("stop_reason", std::string()) == "timeout";
  if (!baseline_samples && (baseline.timed_out || probe_timed_out)) {
    return failure(fmt::format("the program reached no flagged loop within --timeout {} s", options.timeout));
  }
  if (!baseline.error.empty()) {
    result.notes.push_back("as written, the program stopped with " + baseline.error);
  }
  const bool cuda = baseline.results.value("cuda", false);
  if (result.device == "cuda" && !cuda) {
    result.notes.push_back("CUDA is available but the flagged code did not use it: CPU figures only");
  }

  // Optional fragmentation A/B: the baseline again with the allocator setting.
  if (!options.alloc_conf.empty() && cuda) {
    const RunOutcome ab = runner.run("alloc-conf", baseline_sources, all_ids, options.alloc_conf);
    double alloc_default = 0;
    double reserved_default = 0;
    double alloc_conf = 0;
    double reserved_conf = 0;
    for (int id : all_ids) {
      const RunFigures d = figures(series_of(baseline.results, id), false);
      const RunFigures c = figures(series_of(ab.results, id), false);
      alloc_default = std::max(alloc_default, d.peak_allocated);
      reserved_default = std::max(reserved_default, d.peak_reserved);
      alloc_conf = std::max(alloc_conf, c.peak_allocated);
      reserved_conf = std::max(reserved_conf, c.peak_reserved);
    }
    const double ratio_default = alloc_default > 0 ? reserved_default / alloc_default : 0;
    const double ratio_conf = alloc_conf > 0 ? reserved_conf / alloc_conf : 0;
    const bool fragmented = ratio_default >= 1.2 && reserved_conf <= 0.9 * reserved_default;
    result.alloc_conf_note = fmt::format(
        "fragmentation: peak reserved/allocated {:.2f} ({} / {}) by default, {:.2f} ({} / {}) with {}: {}",
        ratio_default, format_bytes(reserved_default), format_bytes(alloc_default), ratio_conf,
        format_bytes(reserved_conf), format_bytes(alloc_conf), options.alloc_conf,
        fragmented ? "fragmentation confirmed, set it before CUDA starts" : "no fragmentation worth fixing");
  }

  // Only the files the program really loaded are its code: a sibling script's findings are not
  // this program's (and would cost a run each for nothing).
  std::set<std::string> loaded;
  if (baseline.results.contains("loaded")) {
    for (const auto& path : baseline.results["loaded"]) {
      loaded.insert(fs::weakly_canonical(path.get<std::string>(), ec).string());
    }
  }
  std::erase_if(planned, [&](const Planned& p) {
    return !loaded.empty() && loaded.count(fs::weakly_canonical(p.path, ec).string()) == 0;
  });

  // 4. Verdicts.
  for (Planned& p : planned) {
    VerifiedFinding v;
    v.path = p.path;
    const RowCol pos = sources[p.path]->position(p.finding.start);
    v.row = static_cast<int>(pos.row + 1);
    v.column = static_cast<int>(pos.column + 1);
    v.finding = p.finding;
    v.fix_used = p.fix_used;
    if (p.probe < 0) {
      v.verdict = "inconclusive";
      v.reason = p.skip_reason;
      result.findings.push_back(std::move(v));
      continue;
    }
    const VerifyMeasure measure = *measure_for(settings, p.finding.code);
    RunOutcome fixed;
    if (!p.fix_edits.empty()) {
      fixed = runner.run(fmt::format("fixed {}", p.finding.code), fixed_sources_for(p.path, p.fix_edits), all_ids, "");
      if (g_interrupted.load()) {
        return failure("interrupted; the program's processes were stopped");
      }
      for (std::uint64_t b : fixed.nvml) {
        v.fixed_nvml_peak = std::max(v.fixed_nvml_peak, b);
      }
      if (!fixed.error.empty()) {
        result.notes.push_back(
            fmt::format("with the {} fix, the program stopped with {}", p.finding.code, fixed.error));
      }
    }
    v.baseline_series = series_of(baseline.results, p.probe);
    v.fixed_series = series_of(fixed.results, p.probe);
    v.baseline = figures(v.baseline_series, measure == VerifyMeasure::Load);
    v.fixed = figures(v.fixed_series, measure == VerifyMeasure::Load);
    if (v.baseline_series.seconds.empty()) {
      v.verdict = "not-reached";
      v.reason = fmt::format("the flagged code never ran within the budget ({} passes or {} s)",
                             options.steps + kWarmup, options.timeout);
    } else {
      judge(v, measure, cuda, !p.fix_edits.empty());
      // Two findings holding one graph (a loss both accumulated and appended): fixing either
      // alone frees nothing. Measure the loop's fixes together before calling it ineffective.
      std::vector<Edit> together;
      std::vector<std::string> partners;
      for (const Planned& q : planned) {
        if (q.probe == p.probe && q.path == p.path && &q != &p && !q.fix_edits.empty() &&
            measure_for(settings, q.finding.code) == VerifyMeasure::Growth) {
          together.insert(together.end(), q.fix_edits.begin(), q.fix_edits.end());
          partners.push_back(q.finding.code);
        }
      }
      if (v.verdict == "fix-ineffective" && !partners.empty()) {
        together.insert(together.end(), p.fix_edits.begin(), p.fix_edits.end());
        const RunOutcome both = runner.run("fixed loop", fixed_sources_for(p.path, together), all_ids, "");
        VerifiedFinding combined = v;
        combined.fixed_series = series_of(both.results, p.probe);
        combined.fixed = figures(combined.fixed_series, false);
        judge(combined, measure, cuda, true);
        if (combined.verdict == "confirmed") {
          combined.reason += fmt::format(" (fixed together with {} in the same loop: each fix alone leaves the graph "
                                         "held by the other)",
                                         fmt::join(partners, ", "));
          combined.fix_used += " + the other fixes in this loop";
          v = std::move(combined);
        }
      }
      // Every rank's own verdict: a leak may live on one rank only (an eval on rank 0, every
      // rank's checkpoint landing on GPU 0).
      for (size_t r = 0; r < baseline.rank_results.size(); ++r) {
        VerifiedFinding rank = v;
        rank.baseline_series = series_of(baseline.rank_results[r], p.probe);
        rank.fixed_series = r < fixed.rank_results.size() ? series_of(fixed.rank_results[r], p.probe) : Series{};
        rank.baseline = figures(rank.baseline_series, measure == VerifyMeasure::Load);
        rank.fixed = figures(rank.fixed_series, measure == VerifyMeasure::Load);
        if (rank.baseline_series.seconds.empty()) {
          rank.verdict = "not-reached";
          rank.reason = "this rank never ran the flagged code";
        } else {
          judge(rank, measure, cuda, !p.fix_edits.empty());
        }
        v.ranks.push_back(RankVerdict{static_cast<int>(r), rank.verdict, rank.reason, rank.baseline, rank.fixed});
      }
      if (std::any_of(v.ranks.begin(), v.ranks.end(),
                      [](const RankVerdict& rv) { return rv.verdict == "confirmed"; }) &&
          v.verdict != "confirmed") {
        for (const RankVerdict& rv : v.ranks) {
          if (rv.verdict == "confirmed") {
            v.verdict = "confirmed";
            v.reason = fmt::format("on rank {}: {}", rv.rank, rv.reason);
            break;
          }
        }
      }
      if (!p.alt_edits.empty()) {
        const RunOutcome alt = runner.run("alternative", fixed_sources_for(p.path, p.alt_edits), all_ids, "");
        VerifiedFinding other = v;
        other.fixed_series = series_of(alt.results, p.probe);
        other.fixed = figures(other.fixed_series, false);
        judge(other, measure, cuda, true);
        v.alternative_used = p.alt_used;
        v.alternative_verdict = other.verdict;
        v.alternative = other.fixed;
        v.reason += fmt::format("; with {}: {} ({})", p.alt_used, other.verdict, other.reason);
      }
    }
    result.findings.push_back(std::move(v));
  }
  return result;
}

} // namespace oomlint::verify
