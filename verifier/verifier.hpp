#pragma once
// `oomlint verify` (DESIGN §7): lint the program's local files, run it twice under the probe
// (as written, and with the findings fixed in memory), and give each finding a verdict with
// the measured figures.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/diagnostics/finding.hpp"
#include "analyzer/service/lint_service.hpp"
#include "analyzer/support/expected.hpp"
#include "verifier/samples.hpp"

namespace oomlint::verify {

struct VerifyOptions {
  std::vector<std::string> command; // [python] script.py args...
  std::string python;               // --python; empty: from the command, else python3
  int steps = 20;                   // measured passes per flagged loop (after 2 warm-up passes)
  double timeout = 120.0;           // seconds per run
  std::string device = "auto";      // auto, cuda, cpu
  std::string alloc_conf;           // --alloc-conf: an A/B run of the baseline with this setting
  std::string probe_dir;            // where the oomlint_probe package lives
  std::vector<std::string> select;
  std::vector<std::string> ignore;
  bool progress = false; // a progress line on stderr
  std::string launcher;  // "" or "torchrun": run every rank under the probe
  int nproc = 1;         // ranks per node with a launcher
  std::string keep_runs; // --keep-runs: keep each run's configuration, results and output here
};

struct RankVerdict {
  int rank = 0;
  std::string verdict;
  std::string reason;
  RunFigures baseline;
  RunFigures fixed;
};

struct VerifiedFinding {
  std::string path;
  int row = 0;
  int column = 0;
  Finding finding;
  std::string verdict;  // confirmed, fix-ineffective, not-confirmed, not-reached, inconclusive, error
  std::string reason;   // one sentence: what the figures show
  std::string fix_used; // the fix or the verification transform
  RunFigures baseline;
  RunFigures fixed;
  Series baseline_series;
  Series fixed_series;
  std::string alternative_used; // a second fix measured for comparison, e.g. "`.detach()` alone"
  std::string alternative_verdict;
  RunFigures alternative;
  std::vector<RankVerdict> ranks;    // with a launcher: each rank's own verdict
  std::uint64_t fixed_nvml_peak = 0; // NVML: what nvidia-smi saw during this finding's fixed run
  double projected_bytes_10k = 0;
  double projected_seconds_10k = 0;
};

struct VerifyResult {
  std::vector<VerifiedFinding> findings;
  std::string device; // "cuda (NVIDIA H200)" / "cpu"
  std::string torch_version;
  std::string nvml_note;
  std::uint64_t nvml_peak_baseline = 0;
  std::uint64_t nvml_peak_fixed = 0;
  std::string alloc_conf_note; // the fragmentation A/B, when asked
  std::vector<std::string> notes;
};

// Runs the whole verification: lints the script's folder and fixes through the lint service,
// under `settings`; an Error is a usage or environment problem (exit status 2).
Expected<VerifyResult> run_verify(const VerifyOptions& options, const service::LintService& service,
                                  const service::Settings& settings);

std::string verify_text(const VerifyResult& result, bool color);
std::string verify_json(const VerifyResult& result, const std::string& docs_url_base);
std::string verify_html(const VerifyResult& result);

} // namespace oomlint::verify
