#include "analyzer/explain/memory_summary.hpp"

#include <array>
#include <vector>

#include "analyzer/support/strings.hpp"

namespace oomlint::explain {

namespace {

std::optional<std::uint64_t> whole_number(std::string_view s) {
  s = trim(s);
  if (s.empty() || s.size() > 19) {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

std::vector<std::string_view> cells(std::string_view line) {
  std::vector<std::string_view> out;
  line = trim(line);
  if (line.size() < 2 || line.front() != '|' || line.back() != '|') {
    return out;
  }
  line = line.substr(1, line.size() - 2);
  while (true) {
    const std::size_t bar = line.find('|');
    out.push_back(trim(line.substr(0, bar)));
    if (bar == std::string_view::npos) {
      break;
    }
    line.remove_prefix(bar + 1);
  }
  return out;
}

// `CUDA OOMs: 3` inside a cell.
std::optional<std::uint64_t> counter(std::string_view cell, std::string_view name) {
  if (cell.substr(0, name.size()) != name) {
    return std::nullopt;
  }
  cell.remove_prefix(name.size());
  if (cell.empty() || cell.front() != ':') {
    return std::nullopt;
  }
  return whole_number(cell.substr(1));
}

} // namespace

std::optional<std::uint64_t> parse_summary_cell(std::string_view cell) {
  struct Unit {
    std::string_view name;
    std::uint64_t bytes;
  };
  static constexpr std::array<Unit, 9> kUnits = {{{"B", 1},
                                                  {"KB", 1ULL << 10U},
                                                  {"KiB", 1ULL << 10U},
                                                  {"MB", 1ULL << 20U},
                                                  {"MiB", 1ULL << 20U},
                                                  {"GB", 1ULL << 30U},
                                                  {"GiB", 1ULL << 30U},
                                                  {"TB", 1ULL << 40U},
                                                  {"TiB", 1ULL << 40U}}};
  cell = trim(cell);
  const std::size_t space = cell.find(' ');
  if (space == std::string_view::npos) {
    return std::nullopt;
  }
  const auto value = whole_number(cell.substr(0, space));
  const std::string_view unit = trim(cell.substr(space));
  if (!value) {
    return std::nullopt;
  }
  for (const Unit& u : kUnits) {
    if (unit == u.name) {
      if (*value > UINT64_MAX / u.bytes) {
        return std::nullopt;
      }
      return *value * u.bytes;
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> memory_summary_title(std::string_view line) {
  static constexpr std::string_view kTitle = "memory summary, device ID";
  const std::size_t at = line.find(kTitle);
  if (at == std::string_view::npos || line.find("PyTorch") == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view rest = line.substr(at + kTitle.size());
  const std::size_t bar = rest.find('|');
  return whole_number(rest.substr(0, bar));
}

bool read_memory_summary_row(std::string_view line, MemorySummary& summary) {
  const std::vector<std::string_view> row = cells(line);
  if (row.empty()) {
    const std::string_view t = trim(line);
    return !t.empty() && t.front() == '|'; // a rule (`|=====|`) still belongs to the table
  }
  if (row.size() == 2) {
    if (auto v = counter(row[0], "CUDA OOMs")) {
      summary.ooms = v;
    }
    if (auto v = counter(row[1], "cudaMalloc retries")) {
      summary.malloc_retries = v;
    }
    return true;
  }
  if (row.size() < 3) {
    return true;
  }
  const std::string_view metric = row[0];
  if (metric == "Allocated memory") {
    summary.allocated = parse_summary_cell(row[1]);
    summary.peak_allocated = parse_summary_cell(row[2]);
  } else if (metric == "GPU reserved memory") {
    summary.reserved = parse_summary_cell(row[1]);
    summary.peak_reserved = parse_summary_cell(row[2]);
  } else if (metric == "Non-releasable memory") {
    summary.non_releasable = parse_summary_cell(row[1]);
  }
  return true;
}

} // namespace oomlint::explain
