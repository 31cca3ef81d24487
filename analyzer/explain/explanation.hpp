#pragma once
// What `oomlint explain` says about a log: the diagnosis of its last complete message (or of
// its table), the fix path, the traceback's frames, and the findings in the files they name,
// as text for people and as one JSON object.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "analyzer/explain/log_scanner.hpp"
#include "analyzer/explain/triage.hpp"

namespace oomlint::explain {

// A finding of `oomlint check` in a file of the traceback, next to the frame nearest to it.
struct LinkedFinding {
  std::string filename;
  std::uint32_t row = 0; // 1-based
  std::uint32_t column = 0;
  std::string code;
  std::string message;
  std::uint64_t frame_line = 0; // the nearest frame's line in the same file
  std::size_t frame_rank = 0;   // 0: the innermost frame of the project's files
  std::uint64_t distance = 0;   // lines between the finding and that frame
};

struct Explanation {
  std::string source; // the log's name as given, `-` for stdin
  ScanResult scan;
  Diagnosis diagnosis = Diagnosis::NoOom;
  bool from_table = false; // diagnosed from a memory_summary() table, with no OOM message
  std::vector<FixStep> fixes;
  std::vector<Frame> frames; // of the traceback of the diagnosed (else the last) error, outermost first
  std::vector<LinkedFinding> findings;
  // The diagnosed message (the last complete one), or the last OOM when none is complete.
  [[nodiscard]] const OomMessage* message() const;
};

Explanation explain(std::string source, ScanResult scan);

// Orders findings as a reader of the traceback wants them: near the innermost frames first.
void rank_findings(std::vector<LinkedFinding>& findings);

std::string render_text(const Explanation& e);
nlohmann::json render_json(const Explanation& e);

} // namespace oomlint::explain
