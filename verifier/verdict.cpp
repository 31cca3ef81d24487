#include "verifier/verdict.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

namespace oomlint::verify {

namespace {

constexpr double kKiB = 1024.0;
constexpr double kMiB = 1024.0 * 1024.0;

Verdict make(std::string verdict, std::string reason) {
  Verdict v;
  v.verdict = std::move(verdict);
  v.reason = std::move(reason);
  return v;
}

// What a load statement needed on the GPU, left allocated or at its peak, as written and fixed.
Verdict load_verdict(bool cuda, const RunFigures& b, const RunFigures* f) {
  if (!cuda) {
    return make("not-confirmed", "on the CPU a checkpoint has nowhere else to go; run on a GPU to measure the load");
  }
  const double needed = std::max(b.load_delta, b.load_peak_delta);
  const double needed_fixed = f != nullptr ? std::max(f->load_delta, f->load_peak_delta) : 0;
  if (needed - needed_fixed >= kMiB) {
    return make("confirmed",
                fmt::format("the load needed +{} of GPU memory ({} still allocated after the statement); with the "
                            "fix, {}",
                            format_bytes(needed), format_bytes(std::max(0.0, b.load_delta)),
                            format_bytes(needed_fixed)));
  }
  return make("not-confirmed", fmt::format("the load statement needed +{} of GPU memory at its peak, {} with the fix: "
                                           "what was loaded did not land on the GPU",
                                           format_bytes(needed), format_bytes(needed_fixed)));
}

// Whether per-pass differences (within entries) show memory kept rather than noise: most passes
// grow, or the passes add up to at least half of what the slope says (a store every N steps
// grows in one pass of N and holds still in the others).
bool steady_growth(const std::vector<double>& diffs, double per_pass) {
  if (diffs.empty() || per_pass <= 0) {
    return false;
  }
  const auto up = std::count_if(diffs.begin(), diffs.end(), [](double d) { return d > 0; });
  if (static_cast<double>(up) >= 0.8 * static_cast<double>(diffs.size())) {
    return true;
  }
  double rise = 0;
  for (double d : diffs) {
    rise += d;
  }
  return up >= 2 && rise >= 0.5 * per_pass * static_cast<double>(diffs.size());
}

// How the host's memory grows as written and fixed: malloc's bytes in use where the probe read
// them (exact, so a few KiB of autograd nodes kept every pass stand out), else the resident set
// (it moves by pages and by malloc's top pad, so it must grow more to count).
struct HostGrowth {
  bool grows = false;
  double baseline = 0; // bytes per pass
  double fixed = 0;
  double least = 0; // what counts as removed
  const char* what = "";
};

HostGrowth host_growth(const MeasuredRun& baseline, const MeasuredRun& fixed) {
  const Series& s = baseline.series;
  if (!s.heap.empty() && !fixed.series.heap.empty()) {
    const double per_pass = baseline.figures.heap_growth;
    const bool steady = steady_growth(diffs_within_entries(after_warmup(s.heap), after_warmup(s.entry)), per_pass);
    return {per_pass >= kKiB && steady, per_pass, fixed.figures.heap_growth, kKiB, "host memory in use (malloc)"};
  }
  const bool grows = baseline.figures.host_growth >= 10 * kKiB && s.rss.size() > static_cast<size_t>(kWarmupPasses) &&
                     (s.rss.back() - s.rss[static_cast<size_t>(kWarmupPasses)]) >= 256 * kKiB;
  return {grows, baseline.figures.host_growth, fixed.figures.host_growth, 10 * kKiB, "host resident memory"};
}

// "; the fix removes only part of it" when more than a quarter of the growth is left.
std::string partial(double growth, double left) {
  return left > 0.25 * growth
             ? fmt::format(" (the fix removes only part of it: {} per pass remains)", format_bytes(left))
             : "";
}

// Growth per pass as written against the fixed run: nullopt when memory does not grow.
std::optional<Verdict> growth_verdict(bool cuda, const MeasuredRun& baseline, const MeasuredRun& fixed) {
  const RunFigures& b = baseline.figures;
  const RunFigures& f = fixed.figures;
  const Series& s = baseline.series;
  const bool gpu_grows =
      cuda && b.gpu_growth >= 512 &&
      steady_growth(diffs_within_entries(after_warmup(s.allocated), after_warmup(s.gpu_entry)), b.gpu_growth);
  const HostGrowth host = host_growth(baseline, fixed);
  // What the fix removes: the baseline's growth minus the fixed run's, on the GPU and on the host.
  const double gpu_left = std::max(0.0, f.gpu_growth);
  const double host_left = std::max(0.0, host.fixed);
  const double gpu_removed = b.gpu_growth - gpu_left;
  const double host_removed = host.baseline - host_left;
  if (gpu_grows && gpu_removed >= 512 && gpu_removed >= 0.5 * b.gpu_growth) {
    Verdict v = make("confirmed", "");
    v.projected_bytes_10k = gpu_removed * 10000;
    v.reason = fmt::format("GPU memory grows {} per pass ({} over 10,000 steps); {} per pass with the fix{}",
                           format_bytes(b.gpu_growth), format_bytes(v.projected_bytes_10k), format_bytes(gpu_left),
                           partial(b.gpu_growth, gpu_left));
    return v;
  }
  if (!gpu_grows && host.grows && host_removed >= host.least && host_removed >= 0.5 * host.baseline) {
    Verdict v = make("confirmed", "");
    v.projected_bytes_10k = host_removed * 10000;
    v.reason = fmt::format("{} grows {} per pass ({} over 10,000 steps); {} per pass with the fix{}{}", host.what,
                           format_bytes(host.baseline), format_bytes(v.projected_bytes_10k), format_bytes(host_left),
                           partial(host.baseline, host_left), cuda ? ", and the GPU does not grow" : "");
    return v;
  }
  if (gpu_grows || host.grows) {
    Verdict v = make("fix-ineffective",
                     fmt::format("the fix removes less than half of the growth: GPU {} vs {} per pass, {} {} vs {} "
                                 "per pass",
                                 format_bytes(b.gpu_growth), format_bytes(f.gpu_growth), host.what,
                                 format_bytes(host.baseline), format_bytes(host.fixed)));
    v.projected_bytes_10k = std::max(b.gpu_growth, host.baseline) * 10000;
    return v;
  }
  return std::nullopt;
}

Verdict peak_verdict(bool cuda, const MeasuredRun& baseline, const MeasuredRun& fixed) {
  if (auto grows = growth_verdict(cuda, baseline, fixed); grows && grows->verdict == "confirmed") {
    return *grows;
  }
  if (!cuda) {
    return make("inconclusive", "the per-pass peak is read from the CUDA allocator; run on a GPU to measure it");
  }
  const double bp = median_peak(baseline.series);
  const double fp = median_peak(fixed.series);
  const auto counts = [](double as_written, double with_fix) {
    return as_written - with_fix >= std::max(64 * kMiB, 0.05 * with_fix);
  };
  if (counts(bp, fp)) {
    Verdict v = make("confirmed", fmt::format("peak allocated per pass {} as written, {} fixed (+{})", format_bytes(bp),
                                              format_bytes(fp), format_bytes(bp - fp)));
    v.projected_bytes_10k = bp - fp;
    return v;
  }
  // A forward that runs every N steps (sampling, logging) raises a few passes' peaks, not the
  // median's; the run dies at its highest pass, so that is compared too.
  const double bmax = max_peak(baseline.series);
  const double fmax = max_peak(fixed.series);
  if (counts(bmax, fmax)) {
    Verdict v = make("confirmed", fmt::format("the highest pass's peak allocated is {} as written, {} fixed (+{}); "
                                              "the median pass's {} and {}",
                                              format_bytes(bmax), format_bytes(fmax), format_bytes(bmax - fmax),
                                              format_bytes(bp), format_bytes(fp)));
    v.projected_bytes_10k = bmax - fmax;
    return v;
  }
  return make("not-confirmed", fmt::format("peak allocated per pass {} as written, {} fixed (highest pass {} and {})",
                                           format_bytes(bp), format_bytes(fp), format_bytes(bmax), format_bytes(fmax)));
}

Verdict time_verdict(bool cuda, const RunFigures& b, const RunFigures& f) {
  if (!cuda) {
    return make("not-confirmed",
                fmt::format("without CUDA, empty_cache() does nothing ({:.2f} vs {:.2f} ms per pass is noise)",
                            b.step_seconds * 1e3, f.step_seconds * 1e3));
  }
  const double ratio = f.step_seconds > 0 ? b.step_seconds / f.step_seconds : 0;
  Verdict v = ratio >= 1.05
                  ? make("confirmed", fmt::format("a pass takes {:.2f} ms as written and {:.2f} ms without "
                                                  "it ({:+.1f}%)",
                                                  b.step_seconds * 1e3, f.step_seconds * 1e3, (ratio - 1) * 100))
                  : make("not-confirmed", fmt::format("a pass takes {:.2f} ms as written and {:.2f} ms "
                                                      "without it",
                                                      b.step_seconds * 1e3, f.step_seconds * 1e3));
  v.projected_seconds_10k = (b.step_seconds - f.step_seconds) * 10000;
  return v;
}

} // namespace

Verdict judge(VerifyMeasure measure, bool cuda, const MeasuredRun& baseline, const MeasuredRun* fixed) {
  if (measure == VerifyMeasure::Load) {
    return load_verdict(cuda, baseline.figures, fixed != nullptr ? &fixed->figures : nullptr);
  }
  if (fixed == nullptr) {
    return make("inconclusive", "no fix or verification transform to compare against");
  }
  const int least = kWarmupPasses + 3;
  if (baseline.figures.passes < least || fixed->figures.passes < least) {
    return make("inconclusive", fmt::format("too few passes measured ({} as written, {} fixed); raise --timeout or "
                                            "--steps",
                                            baseline.figures.passes, fixed->figures.passes));
  }
  switch (measure) {
  case VerifyMeasure::Growth: {
    if (auto grows = growth_verdict(cuda, baseline, *fixed)) {
      return *grows;
    }
    const HostGrowth host = host_growth(baseline, *fixed);
    return make("not-confirmed",
                fmt::format("no steady growth: {} GPU memory and {} {} per pass",
                            format_bytes(baseline.figures.gpu_growth), format_bytes(host.baseline), host.what));
  }
  case VerifyMeasure::Peak:
    return peak_verdict(cuda, baseline, *fixed);
  case VerifyMeasure::Time:
    return time_verdict(cuda, baseline.figures, fixed->figures);
  case VerifyMeasure::Load:
  case VerifyMeasure::None:
    break;
  }
  return make("inconclusive", "this rule's findings are not measured");
}

} // namespace oomlint::verify
