#include "analyzer/output/emitter.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analyzer/support/strings.hpp"

namespace oomlint {

namespace {

constexpr std::string_view kBold = "\033[1m";
constexpr std::string_view kRed = "\033[31m";
constexpr std::string_view kYellow = "\033[33m";
constexpr std::string_view kCyan = "\033[36m";
constexpr std::string_view kBlue = "\033[34m";
constexpr std::string_view kReset = "\033[0m";

std::string paint(bool color, std::string_view style, std::string_view text) {
  if (!color) {
    return std::string(text);
  }
  return fmt::format("{}{}{}", style, text, kReset);
}

std::string_view severity_style(Severity s) {
  switch (s) {
  case Severity::Error:
    return kRed;
  case Severity::Warning:
    return kYellow;
  case Severity::Info:
    return kCyan;
  }
  return kYellow;
}

// Tabs become four spaces so carets line up with what a terminal shows; control characters
// become visible pictures of one column, so nothing in a file can drive the terminal.
std::string expand_tabs(std::string_view line) {
  std::string out;
  for (char c : printable(line)) {
    if (c == '\t') {
      out += "    ";
    } else {
      out += c;
    }
  }
  return out;
}

std::uint32_t display_width(std::string_view bytes) {
  std::uint32_t width = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '\t') {
      width += 4;
    } else if ((c & 0xC0) != 0x80) {
      ++width;
    }
  }
  return width;
}

std::string location_prefix(const FileReport& r, const Finding& f, bool color) {
  const RowCol pos = r.source->position(f.start);
  return fmt::format("{}:{}:{}:", paint(color, kBold, printable(r.path)), pos.row + 1, pos.column + 1);
}

std::string fix_label(const Finding& f) {
  if (!f.fix) {
    return {};
  }
  return f.fix->applicability == Applicability::Safe ? " [*]" : " [-]";
}

nlohmann::json position_json(const SourceFile& source, std::uint32_t byte) {
  const RowCol pos = source.position(byte);
  return {{"row", pos.row + 1}, {"column", pos.column + 1}};
}

} // namespace

std::string code_frame(const SourceFile& source, const Finding& finding, bool color) {
  const RowCol start = source.position(finding.start, ColumnUnit::Byte);
  const RowCol end = source.position(std::max(finding.end, finding.start), ColumnUnit::Byte);
  const std::uint32_t last_row = std::min(end.row, start.row + 2);
  const std::uint32_t first_context = start.row > 0 ? start.row - 1 : 0;
  const std::uint32_t last_context = std::min(last_row + 1, source.lines().line_count() - 1);
  const size_t gutter = fmt::format("{}", last_context + 1).size();
  const std::string bar = paint(color, kBlue, "|");
  std::string out = fmt::format("{:>{}} {}\n", "", gutter, bar);
  for (std::uint32_t row = first_context; row <= last_context; ++row) {
    const std::string_view line = source.line_text(row);
    out +=
        fmt::format("{} {} {}\n", paint(color, kBlue, fmt::format("{:>{}}", row + 1, gutter)), bar, expand_tabs(line));
    if (row < start.row || row > last_row) {
      continue;
    }
    const std::uint32_t from = row == start.row ? display_width(line.substr(0, start.column)) : 0;
    std::uint32_t to = display_width(line);
    if (row == end.row) {
      to = display_width(line.substr(0, std::min<std::uint32_t>(end.column, static_cast<std::uint32_t>(line.size()))));
    }
    const std::uint32_t width = std::max<std::uint32_t>(1, to > from ? to - from : 1);
    std::string carets =
        std::string(from, ' ') + paint(color, severity_style(finding.severity), std::string(width, '^'));
    if (row == start.row) {
      carets += " " + paint(color, severity_style(finding.severity), finding.code);
    }
    out += fmt::format("{:>{}} {} {}\n", "", gutter, bar, carets);
  }
  out += fmt::format("{:>{}} {}\n", "", gutter, bar);
  for (const Related& note : finding.related) {
    const RowCol at = source.position(note.start);
    out += fmt::format("{:>{}} = {} {}:{}: {}\n", "", gutter, paint(color, kCyan, "note:"), at.row + 1, at.column + 1,
                       printable(note.message));
  }
  if (finding.fix) {
    out += fmt::format("{:>{}} = {} ({}): {}\n", "", gutter, paint(color, kCyan, "fix"),
                       to_string(finding.fix->applicability), printable(finding.fix->message));
  }
  return out;
}

std::string emit_text(const std::vector<FileReport>& reports, const EmitOptions& options) {
  std::string out;
  for (const FileReport& r : reports) {
    if (!r.source) {
      continue;
    }
    for (const Finding& f : r.findings) {
      out += fmt::format("{} {} {}{} {}\n", location_prefix(r, f, options.color), paint(options.color, kBold, f.code),
                         paint(options.color, severity_style(f.severity), to_string(f.severity)), fix_label(f),
                         printable(f.message));
      out += code_frame(*r.source, f, options.color);
      out += "\n";
    }
  }
  return out;
}

std::string emit_concise(const std::vector<FileReport>& reports, const EmitOptions& options) {
  std::string out;
  for (const FileReport& r : reports) {
    if (!r.source) {
      continue;
    }
    for (const Finding& f : r.findings) {
      out += fmt::format("{} {}{} {}\n", location_prefix(r, f, options.color), paint(options.color, kBold, f.code),
                         fix_label(f), printable(f.message));
    }
  }
  return out;
}

std::string emit_grouped(const std::vector<FileReport>& reports, const EmitOptions& options) {
  std::string out;
  for (const FileReport& r : reports) {
    if (!r.source || r.findings.empty()) {
      continue;
    }
    out += paint(options.color, kBold, printable(r.path)) + ":\n";
    for (const Finding& f : r.findings) {
      const RowCol at = r.source->position(f.start);
      out += fmt::format("  {}:{} {}{} {}\n", at.row + 1, at.column + 1, paint(options.color, kBold, f.code),
                         fix_label(f), printable(f.message));
    }
    out += "\n";
  }
  return out;
}

std::string emit_json(const std::vector<FileReport>& reports, const EmitOptions& options) {
  nlohmann::json list = nlohmann::json::array();
  for (const FileReport& r : reports) {
    if (!r.source) {
      continue;
    }
    for (const Finding& f : r.findings) {
      nlohmann::json item;
      item["code"] = f.code;
      item["name"] = f.name;
      item["message"] = f.message;
      item["severity"] = std::string(to_string(f.severity));
      item["filename"] = r.path;
      item["location"] = position_json(*r.source, f.start);
      item["end_location"] = position_json(*r.source, f.end);
      if (f.fix) {
        nlohmann::json edits = nlohmann::json::array();
        for (const Edit& e : f.fix->edits) {
          edits.push_back({{"content", e.content},
                           {"location", position_json(*r.source, e.start)},
                           {"end_location", position_json(*r.source, e.end)}});
        }
        item["fix"] = {{"applicability", std::string(to_string(f.fix->applicability))},
                       {"message", f.fix->message},
                       {"edits", edits}};
      } else {
        item["fix"] = nullptr;
      }
      nlohmann::json related = nlohmann::json::array();
      for (const Related& note : f.related) {
        related.push_back({{"message", note.message},
                           {"location", position_json(*r.source, note.start)},
                           {"end_location", position_json(*r.source, note.end)}});
      }
      item["related"] = std::move(related);
      item["noqa_row"] = f.noqa_row + 1;
      item["url"] = options.docs_url_base + f.code + ".md";
      list.push_back(std::move(item));
    }
  }
  return list.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string summary_line(const std::vector<FileReport>& reports, const EmitOptions& options, bool other_errors) {
  size_t unchecked = 0;
  for (const FileReport& r : reports) {
    unchecked += r.error ? 1 : 0;
  }
  auto count = [](size_t n, std::string_view word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); };
  std::string trouble;
  if (unchecked > 0) {
    trouble = fmt::format("{} could not be checked", count(unchecked, "file"));
  }
  if (other_errors) {
    trouble += trouble.empty() ? "there were errors" : " and there were other errors";
  }
  if (!trouble.empty()) {
    trouble += " (see above)";
  }
  size_t errors = 0;
  size_t warnings = 0;
  size_t infos = 0;
  size_t files = 0;
  size_t fixable = 0;
  for (const FileReport& r : reports) {
    files += r.findings.empty() ? 0 : 1;
    for (const Finding& f : r.findings) {
      errors += f.severity == Severity::Error ? 1 : 0;
      warnings += f.severity == Severity::Warning ? 1 : 0;
      infos += f.severity == Severity::Info ? 1 : 0;
      fixable += f.fix ? 1 : 0;
    }
  }
  const size_t total = errors + warnings + infos;
  if (total == 0) {
    if (!trouble.empty()) {
      return paint(options.color, kBold, fmt::format("No findings in what was checked, but {}.", trouble)) + "\n";
    }
    return paint(options.color, kBold, "All checks passed!") + "\n";
  }
  std::vector<std::string> parts;
  if (errors > 0) {
    parts.push_back(count(errors, "error"));
  }
  if (warnings > 0) {
    parts.push_back(count(warnings, "warning"));
  }
  if (infos > 0) {
    parts.push_back(fmt::format("{} info", infos));
  }
  std::string line =
      fmt::format("Found {} ({}) in {}.", count(total, "finding"), fmt::join(parts, ", "), count(files, "file"));
  if (fixable > 0) {
    line += fmt::format(" {} with a suggested fix ([*] safe, [-] unsafe).", fixable);
  }
  if (!trouble.empty()) {
    line += fmt::format(" {}{}.", static_cast<char>(std::toupper(static_cast<unsigned char>(trouble[0]))),
                        trouble.substr(1));
  }
  return paint(options.color, kBold, line) + "\n";
}

std::string emit_statistics(const std::vector<FileReport>& reports, bool json) {
  struct Row {
    std::string code;
    std::string name;
    size_t count = 0;
    size_t fixable = 0;
  };
  std::map<std::string, Row> rows;
  for (const FileReport& r : reports) {
    for (const Finding& f : r.findings) {
      Row& row = rows[f.code];
      row.code = f.code;
      row.name = f.name;
      ++row.count;
      row.fixable += f.fix ? 1 : 0;
    }
  }
  std::vector<Row> sorted;
  for (auto& [code, row] : rows) {
    sorted.push_back(row);
  }
  std::stable_sort(sorted.begin(), sorted.end(), [](const Row& a, const Row& b) { return a.count > b.count; });
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (const Row& r : sorted) {
      list.push_back({{"code", r.code}, {"name", r.name}, {"count", r.count}, {"fixable", r.fixable > 0}});
    }
    return list.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  std::string out;
  for (const Row& r : sorted) {
    out += fmt::format("{:>5}\t{}\t{}{}\n", r.count, r.code, r.name, r.fixable > 0 ? "\t[fix]" : "");
  }
  return out;
}

} // namespace oomlint
