#pragma once
// `torch.cuda.memory_summary()`: a 75-column table whose rows read
// `| Allocated memory      |   12345 MiB |   23456 MiB |  ...  |  ...  |`. Byte cells are whole
// numbers of a binary unit (`B`, `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`, `TB`/`TiB`), floored when
// printed, so a cell reads as its value times its unit.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace oomlint::explain {

struct MemorySummary {
  std::string rank;
  std::uint64_t line = 0; // 1-based line of the table's title
  std::optional<std::uint64_t> device;
  std::optional<std::uint64_t> ooms;           // `CUDA OOMs: N`
  std::optional<std::uint64_t> malloc_retries; // `cudaMalloc retries: N`
  std::optional<std::uint64_t> allocated;      // `Allocated memory`, Cur Usage
  std::optional<std::uint64_t> peak_allocated; // `Allocated memory`, Peak Usage
  std::optional<std::uint64_t> reserved;       // `GPU reserved memory`, Cur Usage
  std::optional<std::uint64_t> peak_reserved;  // `GPU reserved memory`, Peak Usage
  std::optional<std::uint64_t> non_releasable; // `Non-releasable memory`, Cur Usage
  [[nodiscard]] bool complete() const { return allocated && reserved; }
};

// The device of a table's title line (`PyTorch CUDA memory summary, device ID 0`), or nullopt
// when `line` is no title.
std::optional<std::uint64_t> memory_summary_title(std::string_view line);

// Reads one row of the table into `summary`; false when `line` is not a row of a table.
bool read_memory_summary_row(std::string_view line, MemorySummary& summary);

// A byte cell (`  12345 MiB`, `      0 B  `) in bytes.
std::optional<std::uint64_t> parse_summary_cell(std::string_view cell);

} // namespace oomlint::explain
