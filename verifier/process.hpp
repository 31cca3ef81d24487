#pragma once
// Running the program under the probe: one child process group per run, the configuration the
// probe reads (verifier/probe/PROTOCOL.md), a time budget enforced from outside the program
// (SIGTERM, then SIGKILL to the group), Ctrl-C passed on to the whole group, NVML sampled while
// it runs, and the probe's results read back (one document per rank under a launcher).
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "verifier/nvml_sampler.hpp"
#include "verifier/verifier.hpp"

namespace oomlint::verify {

struct RunOutcome {
  bool started = false;
  int exit_status = 0;
  bool timed_out = false;
  std::string error;                        // from the probe: the program's exception
  std::string output;                       // the program's stdout+stderr
  nlohmann::json results;                   // rank 0's (the only one without a launcher)
  std::vector<nlohmann::json> rank_results; // with a launcher: one per rank
  std::vector<std::uint64_t> nvml;          // bytes, one sample per 100 ms
};

// The probe points a run samples; those around one statement are done after one pair.
struct ProbePoints {
  std::vector<int> ids;
  std::vector<int> statements;
};

class ProbeRunner {
public:
  // `work`: where each run's configuration, results and output are written.
  ProbeRunner(const VerifyOptions& options, std::string python, std::string script, std::vector<std::string> args,
              std::filesystem::path work, const Nvml& nvml);

  // Runs the program once with these instrumented sources (path -> text), sampling the probe
  // points; `alloc_conf` sets PYTORCH_CUDA_ALLOC_CONF when not empty.
  [[nodiscard]] RunOutcome run(const std::string& label, const std::map<std::string, std::string>& sources,
                               const ProbePoints& points, const std::string& alloc_conf) const;

private:
  [[noreturn]] void exec_child(const std::filesystem::path& config, const std::filesystem::path& log,
                               const std::string& alloc_conf) const;
  // Waits for the group, stopping it at the time budget or on Ctrl-C; the exit status.
  int wait_for(int pid, const std::string& label, RunOutcome& outcome) const;
  void read_results(const std::filesystem::path& results, RunOutcome& outcome) const;

  const VerifyOptions& m_options;
  std::string m_python;
  std::string m_script;
  std::vector<std::string> m_args;
  std::filesystem::path m_work;
  const Nvml& m_nvml;
};

// SIGINT and SIGTERM stop the running program's whole process group and are remembered.
void install_interrupt_handlers();
bool interrupted();

// The last exception line a Python traceback printed (`RecursionError: ...`), which a
// launcher's closing banner would otherwise hide; empty when there is none.
std::string last_exception_line(const std::string& text);
// A file's whole content (empty when it cannot be read): the run's output, results and checks.
std::string read_text(const std::filesystem::path& path);
// The last `n` lines of a program's output.
std::string last_lines(const std::string& text, int n);

} // namespace oomlint::verify
