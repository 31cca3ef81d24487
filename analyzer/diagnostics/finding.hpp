#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace oomlint {

enum class Severity : std::uint8_t { Info, Warning, Error };
enum class Applicability : std::uint8_t { Safe, Unsafe };
enum class FixAvailability : std::uint8_t { Never, Sometimes, Always };

std::string_view to_string(Severity s);
std::string_view to_string(Applicability a);
std::string_view to_string(FixAvailability f);

// A replacement of the bytes [start, end) of the analysed text.
struct Edit {
  std::uint32_t start = 0;
  std::uint32_t end = 0;
  std::string content;
};

struct Fix {
  Applicability applicability = Applicability::Unsafe;
  std::string message;
  std::vector<Edit> edits;
};

// One step of the evidence behind a finding: a place in the same file and what it shows
// (`loss` <- `criterion(out, y)`, a loss), in the order the reasoning follows them.
struct Related {
  std::uint32_t start = 0;
  std::uint32_t end = 0;
  std::string message;
};

struct Finding {
  std::string code; // OOM101
  std::string name; // graph-retaining-accumulation
  Severity severity = Severity::Warning;
  std::string message;
  std::uint32_t start = 0; // bytes of the analysed text
  std::uint32_t end = 0;
  std::uint32_t noqa_row = 0; // 0-based line where `# noqa` suppresses it
  std::optional<Fix> fix;
  std::vector<Related> related; // the evidence chain, may be empty
};

} // namespace oomlint
