#pragma once
// What the probe recorded at one probe point over a run, and the figures verdicts are made of:
// growth per pass within each entry into the flagged loop, peaks, time per pass, and what a
// load statement needed. Pure functions over recorded samples.
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace oomlint::verify {

// Passes left out at the start of every run: the first passes allocate the optimizer's state,
// the allocator's first blocks and the autograd engine's buffers.
constexpr int kWarmupPasses = 2;

// One run's per-pass series for one probe point.
struct Series {
  std::vector<double> seconds;
  std::vector<double> rss;
  std::vector<double> heap;      // malloc's bytes in use, one per sample; empty where the probe cannot read it
  std::vector<double> allocated; // empty on the CPU path
  std::vector<double> reserved;
  std::vector<double> peak;
  std::vector<int> entry;     // per sample: which entry into the flagged loop (0: not marked)
  std::vector<int> gpu_entry; // the same, for the samples with allocator figures
};

struct RunFigures {
  int passes = 0;
  double gpu_growth = 0;  // bytes per pass (least-squares slope within entries)
  double host_growth = 0; // bytes per pass (resident set)
  double heap_growth = 0; // bytes per pass (malloc's bytes in use); 0 without heap samples
  double peak_allocated = 0;
  double peak_reserved = 0;
  double step_seconds = 0;    // median
  double load_delta = 0;      // allocated after - before a load statement
  double load_peak_delta = 0; // the peak inside the load statement - allocated before it
  double host_load_delta = 0;
};

// A run as measured at one probe point: its samples and their figures.
struct MeasuredRun {
  Series series;
  RunFigures figures;
};

// The samples of probe point `id` in a probe results document (verifier/probe/PROTOCOL.md);
// empty when the point was never reached.
Series series_of(const nlohmann::json& results, int id);
// `load`: the samples alternate before/after a statement (the probe points around a load).
RunFigures figures_of(const Series& series, bool load);
MeasuredRun measured(Series series, bool load);

std::vector<double> after_warmup(const std::vector<double>& v);
std::vector<int> after_warmup(const std::vector<int>& v);
// Least-squares slope of ys over their index.
double slope(const std::vector<double>& ys);
// Growth per pass measured within each entry into the loop (runs of equal `entries`) and
// combined, weighted by steps; the plain slope when no entry has three passes.
double growth_within_entries(const std::vector<double>& ys, const std::vector<int>& entries);
// Differences between consecutive samples of the same entry.
std::vector<double> diffs_within_entries(const std::vector<double>& ys, const std::vector<int>& entries);
double median(std::vector<double> xs);
// The median per-pass peak allocated after warm-up.
double median_peak(const Series& s);
// The highest per-pass peak allocated after warm-up.
double max_peak(const Series& s);
// `1.5 GiB`, `328.1 MiB`, `24.4 KiB`, `512 B`.
std::string format_bytes(double bytes);

} // namespace oomlint::verify
