#pragma once
// What real logs put around a message: ANSI colours, the prefixes of launchers (`[rank3]: `,
// `[default0]:`, `[1,0]<stderr>:`, srun's `3: `, Ray's `(Worker pid=12)`) and of loggers
// (timestamps, levels, `WARNING:root:`, `name - ERROR - `, `file.py:12]`), and quoting (`# `,
// `> `, pytest's `E   `). A line reads the same with them taken off.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace oomlint::explain {

// `line` without ANSI escape sequences (CSI `ESC [ ... final`, OSC `ESC ] ... BEL|ESC \`, and
// two-byte escapes).
std::string strip_ansi(std::string_view line);

struct LogLine {
  std::string_view text; // what remains after the prefixes
  std::string rank;      // `rank3`, `default0`, `1,0`, `3`, `pid=12`: who printed it, if a prefix said
};

// Takes the launcher and logger prefixes off the start of `line`.
LogLine strip_log_prefix(std::string_view line);

// A frame of a Python traceback: `File "train.py", line 42, in train_step`.
struct Frame {
  std::string file;
  std::uint64_t line = 0;
  std::string function;
};

std::optional<Frame> parse_frame(std::string_view text);

} // namespace oomlint::explain
