#include "verifier/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include <fmt/format.h>

#include "verifier/samples.hpp"

namespace fs = std::filesystem;

namespace oomlint::verify {

namespace {

std::atomic<bool> g_interrupted{false};
std::atomic<int> g_child_group{0};

void on_interrupt(int) {
  g_interrupted.store(true);
  const int pgid = g_child_group.load();
  if (pgid > 0) {
    ::kill(-pgid, SIGTERM);
  }
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

nlohmann::json read_json(const fs::path& path) {
  try {
    return nlohmann::json::parse(read_text(path));
  } catch (const std::exception&) {
    return nlohmann::json();
  }
}

} // namespace

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() {
  return g_interrupted.load();
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

ProbeRunner::ProbeRunner(const VerifyOptions& options, std::string python, std::string script,
                         std::vector<std::string> args, fs::path work, const Nvml& nvml)
    : m_options(options), m_python(std::move(python)), m_script(std::move(script)), m_args(std::move(args)),
      m_work(std::move(work)), m_nvml(nvml) {}

RunOutcome ProbeRunner::run(const std::string& label, const std::map<std::string, std::string>& sources,
                            const ProbePoints& points, const std::string& alloc_conf) const {
  RunOutcome outcome;
  std::string file = label;
  std::replace(file.begin(), file.end(), ' ', '-');
  const fs::path config_path = m_work / (file + ".json");
  const fs::path results_path = m_work / (file + ".results.json");
  const fs::path log_path = m_work / (file + ".log");
  const nlohmann::json config = {{"passes", m_options.steps + kWarmupPasses},
                                 {"timeout", m_options.timeout},
                                 {"out", results_path.string()},
                                 {"ids", points.ids},
                                 {"once_ids", points.statements},
                                 {"per_rank", !m_options.launcher.empty()},
                                 {"sources", sources}};
  std::ofstream(config_path) << config.dump();
  const pid_t pid = ::fork();
  if (pid < 0) {
    outcome.error = "cannot start the program (fork failed)";
    return outcome;
  }
  if (pid == 0) {
    exec_child(config_path, log_path, alloc_conf);
  }
  ::setpgid(pid, pid);
  g_child_group.store(pid);
  outcome.started = true;
  NvmlSampler sampler(m_nvml, pid);
  outcome.exit_status = wait_for(pid, label, outcome);
  g_child_group.store(0);
  outcome.nvml = sampler.stop();
  outcome.output = read_text(log_path);
  read_results(results_path, outcome);
  return outcome;
}

void ProbeRunner::exec_child(const fs::path& config, const fs::path& log_path, const std::string& alloc_conf) const {
  ::setpgid(0, 0);
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (log >= 0) {
    ::dup2(log, 1);
    ::dup2(log, 2);
  }
  const char* old = std::getenv("PYTHONPATH");
  const std::string path = m_options.probe_dir + (old != nullptr && *old != '\0' ? ":" + std::string(old) : "");
  ::setenv("PYTHONPATH", path.c_str(), 1);
  ::setenv("PYTHONUNBUFFERED", "1", 1);
  // Blocks of 64 KiB and more (tensors' storage) mapped on their own and given back when
  // freed: resident memory then follows what is alive, not malloc's high-water mark.
  ::setenv("MALLOC_MMAP_THRESHOLD_", "65536", 1);
  if (m_options.device == "cpu") {
    ::setenv("CUDA_VISIBLE_DEVICES", "", 1);
  }
  if (!alloc_conf.empty()) {
    ::setenv("PYTORCH_CUDA_ALLOC_CONF", alloc_conf.c_str(), 1);
  }
  const fs::path package = fs::path(m_options.probe_dir) / "oomlint_probe";
  std::vector<std::string> argv = {m_python, "-m", "oomlint_probe", config.string(), "--", m_script};
  if (m_options.launcher == "torchrun") {
    // The launcher that ships with PyTorch (torchrun), running the probe as a script in every
    // rank; torchrun.py only repairs a Debian torch 1.13 / Python 3.11 parsing bug first.
    argv = {m_python,
            (package / "torchrun.py").string(),
            "--nproc_per_node",
            std::to_string(m_options.nproc),
            "--master_port",
            std::to_string(29500 + ::getpid() % 2000),
            (package / "launch.py").string(),
            config.string(),
            "--",
            m_script};
  }
  argv.insert(argv.end(), m_args.begin(), m_args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) {
    cargv.push_back(a.data());
  }
  cargv.push_back(nullptr);
  ::execvp(cargv[0], cargv.data());
  std::fprintf(stderr, "cannot run %s\n", m_python.c_str());
  ::_exit(127);
}

int ProbeRunner::wait_for(int pid, const std::string& label, RunOutcome& outcome) const {
  const auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  bool term_sent = false;
  double term_at = 0;
  while (::waitpid(pid, &status, WNOHANG) != pid) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (m_options.progress) {
      const int width = 24;
      const int filled = std::min(width, static_cast<int>(width * elapsed / (m_options.timeout + 10)));
      fmt::print(stderr, "\r{:<9} [{}{}] {:5.1f} s", label, std::string(static_cast<size_t>(filled), '#'),
                 std::string(static_cast<size_t>(width - filled), '.'), elapsed);
    }
    // The probe stops the program itself at the time budget; this is the backstop.
    if (!term_sent && (elapsed > m_options.timeout + 15 || g_interrupted.load())) {
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
  if (m_options.progress) {
    fmt::print(stderr, "\r{:<50}\r", "");
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void ProbeRunner::read_results(const fs::path& results_path, RunOutcome& outcome) const {
  std::error_code ec;
  if (!m_options.launcher.empty()) {
    for (int r = 0; r < m_options.nproc; ++r) {
      const fs::path rank_path = results_path.string() + ".rank" + std::to_string(r);
      nlohmann::json rank_results = fs::exists(rank_path, ec) ? read_json(rank_path) : nlohmann::json();
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
    return;
  }
  if (fs::exists(results_path, ec)) {
    outcome.results = read_json(results_path);
    if (outcome.results.is_null()) {
      outcome.error = "the probe's results could not be read";
    } else if (outcome.results.contains("error") && outcome.results["error"].is_string()) {
      outcome.error = outcome.results["error"].get<std::string>();
    }
  } else if (outcome.exit_status == 127) {
    outcome.error = fmt::format("cannot run `{}`; pass --python with a Python that has PyTorch", m_python);
  } else {
    outcome.error = fmt::format("the program ended without results (status {}): {}", outcome.exit_status,
                                failure_excerpt(outcome.output));
  }
}

} // namespace oomlint::verify
