// How verification results are shown: a table, JSON (the finding's fields plus verdict and
// figures), and a self-contained HTML page with a memory-over-passes chart per finding.
#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analyzer/support/strings.hpp"
#include "verifier/verifier.hpp"

namespace oomlint::verify {

namespace {

nlohmann::json figures_json(const RunFigures& f);

nlohmann::json ranks_json(const VerifiedFinding& v) {
  nlohmann::json ranks = nlohmann::json::array();
  for (const RankVerdict& rv : v.ranks) {
    ranks.push_back({{"rank", rv.rank},
                     {"verdict", rv.verdict},
                     {"reason", rv.reason},
                     {"figures", {{"baseline", figures_json(rv.baseline)}, {"fixed", figures_json(rv.fixed)}}}});
  }
  return ranks;
}

// What nvidia-smi saw next to what PyTorch's allocator held: the process's whole GPU memory
// (CUDA context, cuBLAS/cuDNN workspaces, NCCL buffers) against the allocator's reserve at the
// probe points. Each figure is stated with the part the allocator explains, so that a difference
// between runs is read as what it is.
std::string nvml_line(const char* run, std::uint64_t nvml, double reserved) {
  const double outside = static_cast<double>(nvml) - reserved;
  if (reserved <= 0) {
    return fmt::format("{} {}", run, format_bytes(static_cast<double>(nvml)));
  }
  return fmt::format("{} {} (the allocator reserved at most {} at the probe points{})", run,
                     format_bytes(static_cast<double>(nvml)), format_bytes(reserved),
                     outside > 0 ? fmt::format(": {} outside it, the CUDA context and libraries", format_bytes(outside))
                                 : std::string());
}

std::string nvml_view(const VerifyResult& r) {
  double reserved = 0;
  for (const VerifiedFinding& v : r.findings) {
    reserved = std::max(reserved, v.baseline.peak_reserved);
  }
  std::string out =
      "\nnvidia-smi view (NVML), each run's peak: " + nvml_line("as written", r.nvml_peak_baseline, reserved);
  for (const VerifiedFinding& v : r.findings) {
    if (v.fixed_nvml_peak == 0) {
      continue;
    }
    out += "; " +
           nvml_line(fmt::format("with the {} fix", v.finding.code).c_str(), v.fixed_nvml_peak, v.fixed.peak_reserved);
    const double nvml_change = static_cast<double>(v.fixed_nvml_peak) - static_cast<double>(r.nvml_peak_baseline);
    const double allocator_change = v.fixed.peak_reserved - reserved;
    if (std::fabs(nvml_change) >= 64 * 1024.0 * 1024.0 && std::fabs(allocator_change) < 0.5 * std::fabs(nvml_change)) {
      out += " -- the difference is not in the allocator's reserve at the probe points: the fixed run reached "
             "memory outside them (a phase the probe points do not see, or another library's)";
    }
  }
  return out + "\n";
}

nlohmann::json figures_json(const RunFigures& f) {
  return {{"passes", f.passes},
          {"gpu_growth_bytes_per_step", f.gpu_growth},
          {"host_growth_bytes_per_step", f.host_growth},
          {"heap_growth_bytes_per_step", f.heap_growth},
          {"peak_allocated_bytes", f.peak_allocated},
          {"peak_reserved_bytes", f.peak_reserved},
          {"step_seconds", f.step_seconds},
          {"load_allocated_delta_bytes", f.load_delta},
          {"load_peak_delta_bytes", f.load_peak_delta}};
}

// An inline SVG line chart of two series over pass number.
std::string chart(const std::vector<double>& a, const std::vector<double>& b, std::string_view unit) {
  constexpr int kW = 560;
  constexpr int kH = 180;
  constexpr int kPad = 40;
  const size_t n = std::max(a.size(), b.size());
  if (n < 2) {
    return "<p>not enough passes to draw</p>";
  }
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  for (const auto* s : {&a, &b}) {
    for (double v : *s) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (hi <= lo) {
    hi = lo + 1;
  }
  auto line = [&](const std::vector<double>& s, std::string_view colour) {
    std::string pts;
    for (size_t i = 0; i < s.size(); ++i) {
      const double x = kPad + (kW - 2 * kPad) * static_cast<double>(i) / static_cast<double>(n - 1);
      const double y = kH - kPad / 2.0 - (kH - kPad) * (s[i] - lo) / (hi - lo);
      pts += fmt::format("{:.1f},{:.1f} ", x, y);
    }
    return fmt::format(R"(<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>)", colour, pts);
  };
  return fmt::format(
      R"(<svg width="{0}" height="{1}" viewBox="0 0 {0} {1}" xmlns="http://www.w3.org/2000/svg" role="img">)"
      R"(<rect width="{0}" height="{1}" fill="#fafafa" stroke="#ddd"/>)"
      R"(<text x="4" y="14" font-size="11">{2} ({3})</text><text x="4" y="{4}" font-size="11">{5}</text>)"
      R"({6}{7}<text x="{8}" y="14" font-size="11" fill="#c0392b">as written</text>)"
      R"(<text x="{8}" y="28" font-size="11" fill="#2471a3">fixed</text></svg>)",
      kW, kH, format_bytes(hi), unit, kH - 4, format_bytes(lo), line(a, "#c0392b"), line(b, "#2471a3"), kW - 80);
}

} // namespace

std::string verify_text(const VerifyResult& r, bool color) {
  std::string out;
  auto paint = [&](std::string_view verdict) {
    if (!color) {
      return std::string(verdict);
    }
    const char* c = verdict == "confirmed" ? "\033[1;31m" : verdict == "fix-ineffective" ? "\033[1;33m" : "\033[2m";
    return fmt::format("{}{}\033[0m", c, verdict);
  };
  if (r.findings.empty()) {
    for (const std::string& n : r.notes) {
      out += "nothing to verify: " + n + "\n";
    }
    return out;
  }
  out += fmt::format("device: {}   torch: {}   {}\n\n", r.device, r.torch_version, r.nvml_note);
  out += fmt::format("{:<40} {:<7} {:<16} {:>12} {:>12} {:>11} {:>10}\n", "finding", "code", "verdict", "GPU/step",
                     "host/step", "peak alloc", "ms/step");
  for (const VerifiedFinding& v : r.findings) {
    std::string where = fmt::format("{}:{}:{}", v.path, v.row, v.column);
    if (where.size() > 40) {
      where = "..." + where.substr(where.size() - 37);
    }
    const std::string verdict = paint(v.verdict);
    out += fmt::format("{:<40} {:<7} {:<16} {:>12} {:>12} {:>11} {:>10.2f}\n", where, v.finding.code, verdict,
                       format_bytes(v.baseline.gpu_growth), format_bytes(v.baseline.host_growth),
                       format_bytes(v.baseline.peak_allocated), v.baseline.step_seconds * 1e3);
    out += fmt::format("    {}\n", v.reason);
    for (const RankVerdict& rv : v.ranks) {
      out += fmt::format("    rank {}: {} -- {}\n", rv.rank, rv.verdict, rv.reason);
    }
  }
  if (r.nvml_peak_baseline > 0) {
    out += nvml_view(r);
  }
  if (!r.alloc_conf_note.empty()) {
    out += "\n" + r.alloc_conf_note + "\n";
  }
  for (const std::string& n : r.notes) {
    out += "note: " + n + "\n";
  }
  const auto confirmed = std::count_if(r.findings.begin(), r.findings.end(),
                                       [](const VerifiedFinding& v) { return v.verdict == "confirmed"; });
  out +=
      fmt::format("\n{} of {} finding{} confirmed.\n", confirmed, r.findings.size(), r.findings.size() == 1 ? "" : "s");
  return out;
}

std::string verify_json(const VerifyResult& r, const std::string& docs_url_base) {
  nlohmann::json list = nlohmann::json::array();
  for (const VerifiedFinding& v : r.findings) {
    list.push_back(
        {{"code", v.finding.code},
         {"name", v.finding.name},
         {"message", v.finding.message},
         {"severity", std::string(to_string(v.finding.severity))},
         {"filename", v.path},
         {"location", {{"row", v.row}, {"column", v.column}}},
         {"url", docs_url_base + v.finding.code + ".md"},
         {"verdict", v.verdict},
         {"reason", v.reason},
         {"fix_used", v.fix_used},
         {"device", r.device},
         {"ranks", ranks_json(v)},
         {"alternative", v.alternative_used.empty() ? nlohmann::json(nullptr)
                                                    : nlohmann::json{{"fix", v.alternative_used},
                                                                     {"verdict", v.alternative_verdict},
                                                                     {"figures", figures_json(v.alternative)}}},
         {"figures",
          {{"baseline", figures_json(v.baseline)},
           {"fixed", figures_json(v.fixed)},
           {"projected_bytes_over_10000_steps", v.projected_bytes_10k},
           {"projected_seconds_over_10000_steps", v.projected_seconds_10k},
           {"nvml_peak_bytes_baseline", r.nvml_peak_baseline},
           {"nvml_peak_bytes_fixed", v.fixed_nvml_peak}}}});
  }
  return list.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string verify_html(const VerifyResult& r) {
  std::string body;
  for (const VerifiedFinding& v : r.findings) {
    const bool gpu = !v.baseline_series.allocated.empty();
    body += fmt::format("<section><h2>{}:{} <code>{}</code> &mdash; <span class=\"v {}\">{}</span></h2>"
                        "<p>{}</p><p class=\"why\">{}</p><p>Fix measured: {}</p>",
                        escape_markup(v.path), v.row, v.finding.code, v.verdict, v.verdict, escape_markup(v.reason),
                        escape_markup(v.finding.message), escape_markup(v.fix_used.empty() ? "none" : v.fix_used));
    body += chart(gpu ? v.baseline_series.allocated : v.baseline_series.rss,
                  gpu ? v.fixed_series.allocated : v.fixed_series.rss, gpu ? "GPU allocated" : "host RSS");
    body += fmt::format("<table><tr><th></th><th>GPU growth/step</th><th>host growth/step</th><th>peak allocated</th>"
                        "<th>ms/step</th><th>passes</th></tr>"
                        "<tr><td>as written</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2f}</td><td>{}</td></tr>"
                        "<tr><td>fixed</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2f}</td><td>{}</td></tr></table>"
                        "</section>\n",
                        format_bytes(v.baseline.gpu_growth), format_bytes(v.baseline.host_growth),
                        format_bytes(v.baseline.peak_allocated), v.baseline.step_seconds * 1e3, v.baseline.passes,
                        format_bytes(v.fixed.gpu_growth), format_bytes(v.fixed.host_growth),
                        format_bytes(v.fixed.peak_allocated), v.fixed.step_seconds * 1e3, v.fixed.passes);
  }
  return fmt::format(R"(<!doctype html><html lang="en"><head><meta charset="utf-8"><title>oomlint verify</title>
<style>body{{font:14px system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222}}
code{{background:#eee;padding:0 .3em}} .v{{padding:0 .4em;border-radius:3px}}
.confirmed{{background:#f5b7b1}} .fix-ineffective{{background:#f9e79f}} .not-confirmed,.not-reached,.inconclusive{{background:#e5e8e8}}
table{{border-collapse:collapse;margin:.5em 0 2em}} td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}
.why{{color:#555}}</style></head><body><h1>oomlint verify</h1><p>device: {} &middot; torch {} &middot; {}</p>{}{}</body></html>
)",
                     escape_markup(r.device), escape_markup(r.torch_version), escape_markup(r.nvml_note),
                     r.alloc_conf_note.empty() ? "" : "<p>" + escape_markup(r.alloc_conf_note) + "</p>", body);
}

} // namespace oomlint::verify
