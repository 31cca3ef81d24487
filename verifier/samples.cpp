#include "verifier/samples.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace oomlint::verify {

namespace {

constexpr double kKiB = 1024.0;
constexpr double kMiB = 1024.0 * 1024.0;

template <typename T> std::vector<T> skip_warmup(const std::vector<T>& v) {
  if (v.size() <= static_cast<size_t>(kWarmupPasses) + 1) {
    return v;
  }
  return {v.begin() + kWarmupPasses, v.end()};
}

std::vector<double> diffs(const std::vector<double>& v) {
  std::vector<double> d;
  for (size_t i = 1; i < v.size(); ++i) {
    d.push_back(v[i] - v[i - 1]);
  }
  return d;
}

double number(const nlohmann::json& v) {
  return v.is_number() ? v.get<double>() : -1;
}

} // namespace

std::vector<double> after_warmup(const std::vector<double>& v) {
  return skip_warmup(v);
}

std::vector<int> after_warmup(const std::vector<int>& v) {
  return skip_warmup(v);
}

Series series_of(const nlohmann::json& results, int id) {
  Series s;
  if (!results.is_object() || !results.contains("samples") || !results["samples"].is_object()) {
    return s;
  }
  const std::string key = std::to_string(id);
  if (!results["samples"].contains(key)) {
    return s;
  }
  for (const auto& row : results["samples"][key]) {
    if (!row.is_array() || row.size() < 5) {
      continue; // not a sample this verifier can read
    }
    const int entry = row.size() > 5 && row[5].is_number_integer() ? row[5].get<int>() : 0;
    s.seconds.push_back(number(row[0]));
    s.rss.push_back(number(row[1]));
    s.entry.push_back(entry);
    s.heap.push_back(row.size() > 6 ? number(row[6]) : -1);
    if (number(row[2]) >= 0) {
      s.allocated.push_back(number(row[2]));
      s.reserved.push_back(number(row[3]));
      s.peak.push_back(number(row[4]));
      s.gpu_entry.push_back(entry);
    }
  }
  if (std::any_of(s.heap.begin(), s.heap.end(), [](double h) { return h < 0; })) {
    s.heap.clear(); // one figure missing: the resident set is the host measure
  }
  return s;
}

RunFigures figures_of(const Series& s, bool load) {
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
  if (!load && s.heap.size() == s.entry.size()) {
    f.heap_growth = growth_within_entries(after_warmup(s.heap), after_warmup(s.entry));
  }
  for (double p : s.peak) {
    f.peak_allocated = std::max(f.peak_allocated, p);
  }
  for (double r : s.reserved) {
    f.peak_reserved = std::max(f.peak_reserved, r);
  }
  f.step_seconds = median(diffs(after_warmup(s.seconds)));
  return f;
}

MeasuredRun measured(Series series, bool load) {
  MeasuredRun run;
  run.figures = figures_of(series, load);
  run.series = std::move(series);
  return run;
}

double median_peak(const Series& s) {
  return median(after_warmup(s.peak));
}

double max_peak(const Series& s) {
  const std::vector<double> peaks = after_warmup(s.peak);
  return peaks.empty() ? 0 : *std::max_element(peaks.begin(), peaks.end());
}

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

} // namespace oomlint::verify
