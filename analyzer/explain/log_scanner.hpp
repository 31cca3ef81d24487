#pragma once
// Reads a log as a stream, in chunks of any size, and finds every CUDA out-of-memory error in
// it: the allocator's messages (each form, wrapped over lines, coloured, prefixed, one per rank),
// the figure-less `CUDA error: out of memory`, `memory_summary()` tables, and the Python
// traceback frames before each error. Memory stays bounded whatever the log's size: a line is
// kept up to a limit, and so are the messages and tables kept for the report.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "analyzer/explain/log_line.hpp"
#include "analyzer/explain/memory_summary.hpp"
#include "analyzer/explain/oom_message.hpp"

namespace oomlint::explain {

struct ScanResult {
  // Allocator messages (one per rank that printed one, complete or not) plus figure-less
  // driver errors.
  std::uint64_t oom_count = 0;
  std::vector<OomMessage> messages; // the first kMaxKept of them, in the log's order
  std::vector<MemorySummary> summaries;
  std::optional<OomMessage> last;          // the last OOM (kept even beyond kMaxKept)
  std::optional<OomMessage> last_complete; // the last message whose figures were all read
  std::optional<MemorySummary> last_summary;
  std::vector<Frame> last_frames;          // the traceback printed before `last`
  std::vector<Frame> last_complete_frames; // the traceback printed before `last_complete`
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
};

class LogScanner {
public:
  static constexpr std::size_t kMaxKept = 1000;
  static constexpr std::size_t kMaxLine = 1U << 20U; // bytes of one line kept; the rest is skipped

  void feed(std::string_view chunk);
  // Ends the log: a line without its newline is read, a message cut off at the end is counted.
  ScanResult finish();

private:
  struct Pending {
    OomMessage message;
    std::string compact; // the text after `CUDA out of memory.`, whitespace removed
    int lines = 0;
  };
  struct SplitAnchor {
    OomMessage message;
    std::string tail; // the start of `CUDA out of memory` that ended the line, whitespace removed
  };
  struct RankState {
    std::optional<Pending> pending;
    std::optional<SplitAnchor> split_anchor;
    std::optional<MemorySummary> table;
    int table_lines = 0;
    std::vector<Frame> traceback;
  };

  void physical_line(std::string_view line);
  void segment(std::string_view text);
  void logical_line(std::string_view raw);
  bool continue_pending(RankState& state, std::string_view text);
  bool continue_table(RankState& state, std::string_view text);
  void start_message(RankState& state, const std::string& rank, std::string_view text, std::size_t anchor);
  void begin_message(RankState& state, OomMessage message, std::string rest);
  bool note_split_anchor(RankState& state, const std::string& rank, std::string_view text);
  bool complete_split_anchor(RankState& state, std::string_view text);
  void finalize(RankState& state);
  void record(OomMessage message, const std::vector<Frame>& frames);
  [[nodiscard]] const std::vector<Frame>& traceback_of(const RankState& state) const;
  void check_form_c(const std::string& rank, std::string_view text);
  void close_table(RankState& state);
  void decode_json(std::string_view text);

  ScanResult m_result;
  std::string m_partial; // a line not yet ended by a newline
  bool m_partial_truncated = false;
  std::map<std::string, RankState> m_ranks;
  int m_active = 0; // ranks with a pending message or an open table: every line matters then
  int m_json_depth = 0;
  struct MaybeC {
    std::string rank;
    std::size_t index = 0; // in m_result.messages, SIZE_MAX when not kept
  };
  std::optional<MaybeC> m_maybe_c;
  std::unordered_set<std::string> m_ranked_signatures; // complete messages printed with a rank prefix
};

} // namespace oomlint::explain
