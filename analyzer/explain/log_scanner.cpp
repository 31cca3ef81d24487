#include "analyzer/explain/log_scanner.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <cstring>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace oomlint::explain {

namespace {

constexpr std::string_view kAnchor = "CUDA out of memory";
constexpr std::string_view kHipAnchor = "HIP out of memory"; // ROCm builds print the same message so
constexpr std::string_view kDriver = "CUDA error: out of memory";
constexpr std::string_view kTraceback = "Traceback (most recent call last)";
constexpr std::size_t kMaxFrames = 256;
constexpr std::size_t kMaxRanks = 4096;
constexpr int kMaxTableLines = 200;
constexpr int kMaxWrappedLines = 32;
constexpr std::size_t kMaxMessageBytes = 16384;

bool contains(std::string_view text, std::string_view needle) {
  return memmem(text.data(), text.size(), needle.data(), needle.size()) != nullptr;
}

std::size_t find_anchor(std::string_view text, std::size_t& length) {
  std::size_t at = text.find(kAnchor);
  length = kAnchor.size();
  if (at == std::string_view::npos) {
    at = text.find(kHipAnchor);
    length = kHipAnchor.size();
  }
  return at;
}

bool starts_a_new_record(std::string_view text) {
  return contains(text, kAnchor) || contains(text, kHipAnchor) || contains(text, kDriver) ||
         contains(text, kTraceback) || parse_frame(text).has_value();
}

// `torch.OutOfMemoryError` in `[rank0]: torch.OutOfMemoryError: ` before the anchor.
std::string exception_before(std::string_view before) {
  while (!before.empty() && (before.back() == ' ' || before.back() == '\t')) {
    before.remove_suffix(1);
  }
  if (before.empty() || before.back() != ':') {
    return {};
  }
  before.remove_suffix(1);
  std::size_t start = before.size();
  while (start > 0) {
    const char c = before[start - 1];
    const bool word =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    if (!word) {
      break;
    }
    --start;
  }
  const std::string_view name = before.substr(start);
  if (name.ends_with("Error") || name.ends_with("Exception")) {
    return std::string(name);
  }
  return {};
}

bool is_message_key(std::string_view key) {
  static constexpr std::array<std::string_view, 14> kKeys = {
      "log",   "message",     "msg",       "text",  "exc_info", "exception", "exc_text",
      "stack", "stack_trace", "traceback", "error", "err",      "stderr",    "output"};
  return std::find(kKeys.begin(), kKeys.end(), key) != kKeys.end();
}

void note_tail(OomMessage& m, std::string_view tail) {
  // Form C is form B with the max_split_size_mb advice after it (1.10 to 2.0).
  if (m.format == "B" && contains(tail, "max_split_size_mb")) {
    m.format = "C";
  }
}

} // namespace

void LogScanner::feed(std::string_view chunk) {
  m_result.bytes += chunk.size();
  while (!chunk.empty()) {
    const void* nl = std::memchr(chunk.data(), '\n', chunk.size());
    const std::size_t line_end = nl == nullptr ? chunk.size() : static_cast<const char*>(nl) - chunk.data();
    // A carriage return ends a segment too: tqdm redraws its bar on one physical line.
    const void* cr = std::memchr(chunk.data(), '\r', line_end);
    const std::size_t end = cr == nullptr ? line_end : static_cast<const char*>(cr) - chunk.data();
    const std::string_view piece = chunk.substr(0, end);
    if (end == chunk.size()) {
      const std::size_t room = kMaxLine > m_partial.size() ? kMaxLine - m_partial.size() : 0;
      m_partial.append(piece.substr(0, room));
      m_partial_truncated = m_partial_truncated || piece.size() > room;
      break;
    }
    if (m_partial.empty() && !m_partial_truncated) {
      segment(piece);
    } else {
      const std::size_t room = kMaxLine > m_partial.size() ? kMaxLine - m_partial.size() : 0;
      m_partial.append(piece.substr(0, room));
      segment(m_partial);
      m_partial.clear();
      m_partial_truncated = false;
    }
    if (chunk[end] == '\n') {
      ++m_result.lines;
    }
    chunk.remove_prefix(end + 1);
  }
}

ScanResult LogScanner::finish() {
  if (!m_partial.empty()) {
    segment(m_partial);
    ++m_result.lines;
    m_partial.clear();
  }
  for (auto& [rank, state] : m_ranks) {
    if (state.pending) {
      finalize(state);
    }
    if (state.table) {
      close_table(state);
    }
  }
  return std::move(m_result);
}

void LogScanner::segment(std::string_view text) {
  if (text.empty()) {
    return;
  }
  std::string cleaned;
  if (std::memchr(text.data(), '\x1b', text.size()) != nullptr) {
    cleaned = strip_ansi(text);
    text = cleaned;
  }
  // Most lines of a log say nothing about memory: leave them at a glance.
  if (m_active == 0 && !contains(text, "memory") && !contains(text, "Traceback") && !contains(text, "File ") &&
      !contains(text, "Error:")) {
    return;
  }
  if (m_json_depth == 0) {
    const std::string_view body = strip_log_prefix(text).text;
    if (body.size() >= 2 && body.front() == '{' && body.back() == '}') {
      decode_json(body);
      return;
    }
  }
  logical_line(text);
}

// A structured log line (`{"message": "...", "exc_info": "Traceback ...\n..."}`, Docker's
// `{"log": "...\n"}`): each string it holds is read as lines of the log.
void LogScanner::decode_json(std::string_view text) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded()) {
    logical_line(text);
    return;
  }
  ++m_json_depth;
  std::vector<const nlohmann::json*> stack{&doc};
  while (!stack.empty()) {
    const nlohmann::json* node = stack.back();
    stack.pop_back();
    if (node->is_string()) {
      std::string_view s = node->get_ref<const std::string&>();
      while (!s.empty()) {
        const std::size_t nl = s.find_first_of("\r\n");
        segment(s.substr(0, nl));
        if (nl == std::string_view::npos) {
          break;
        }
        s.remove_prefix(nl + 1);
      }
    } else if (node->is_object() || node->is_array()) {
      // In document order: the stack is last-in first-out. An object with a message field is read
      // for its message fields only: a `"stream": "stderr"` between two halves of a wrapped
      // message is not part of it.
      std::vector<const nlohmann::json*> children;
      if (node->is_object()) {
        for (const auto& [key, child] : node->items()) {
          if (is_message_key(key)) {
            children.push_back(&child);
          }
        }
      }
      if (children.empty()) {
        for (const auto& child : *node) {
          children.push_back(&child);
        }
      }
      for (auto it = children.rbegin(); it != children.rend(); ++it) {
        stack.push_back(*it);
      }
    }
  }
  --m_json_depth;
}

void LogScanner::logical_line(std::string_view raw) {
  const LogLine line = strip_log_prefix(raw);
  auto found = m_ranks.find(line.rank);
  if (found == m_ranks.end()) {
    found = m_ranks.size() < kMaxRanks ? m_ranks.emplace(line.rank, RankState{}).first : m_ranks.find("");
    if (found == m_ranks.end()) {
      found = m_ranks.emplace("", RankState{}).first;
    }
  }
  RankState& state = found->second;
  const std::string_view text = line.text;
  check_form_c(line.rank, text);
  if (state.split_anchor && complete_split_anchor(state, text)) {
    return;
  }
  if (state.pending && continue_pending(state, text)) {
    return;
  }
  if (state.table && continue_table(state, text)) {
    return;
  }
  if (auto device = memory_summary_title(text)) {
    MemorySummary table;
    table.rank = line.rank;
    table.line = m_result.lines + 1;
    table.device = device;
    state.table = std::move(table);
    state.table_lines = 0;
    ++m_active;
    return;
  }
  if (contains(text, kTraceback)) {
    state.traceback.clear();
    return;
  }
  if (auto frame = parse_frame(text)) {
    if (state.traceback.size() >= kMaxFrames) {
      state.traceback.erase(state.traceback.begin());
    }
    state.traceback.push_back(std::move(*frame));
    return;
  }
  std::size_t anchor_length = 0;
  if (const std::size_t anchor = find_anchor(text, anchor_length); anchor != std::string_view::npos) {
    start_message(state, line.rank, text, anchor);
    return;
  }
  if (note_split_anchor(state, line.rank, text)) {
    return;
  }
  if (const std::size_t driver = text.find(kDriver); driver != std::string_view::npos) {
    // Printed by the CUDA runtime's error check: at the start of the text, or after an exception
    // name. Advice that quotes it is neither.
    const std::string exception = exception_before(text.substr(0, driver));
    std::string_view before = text.substr(0, driver);
    while (!before.empty() && before.back() == ' ') {
      before.remove_suffix(1);
    }
    if (before.empty() || !exception.empty()) {
      OomMessage m;
      m.format = "driver";
      m.exception = exception;
      m.rank = line.rank;
      m.line = m_result.lines + 1;
      record(std::move(m), traceback_of(state));
    }
  }
}

void LogScanner::start_message(RankState& state, const std::string& rank, std::string_view text, std::size_t anchor) {
  std::size_t anchor_length = 0;
  find_anchor(text.substr(anchor), anchor_length);
  OomMessage m;
  m.rank = rank;
  m.line = m_result.lines + 1;
  m.exception = exception_before(text.substr(0, anchor));
  begin_message(state, std::move(m), compact(text.substr(anchor + anchor_length)));
}

// A hard wrap that cut the anchor itself (`...OutOfMemoryError: CUDA out of mem` / `ory. Tried
// ...`): the line's end is kept, and the next line of the same rank may complete it.
bool LogScanner::note_split_anchor(RankState& state, const std::string& rank, std::string_view text) {
  static constexpr std::string_view kCompactAnchor = "CUDAoutofmemory";
  const std::string c = compact(text);
  const std::size_t error = c.rfind("Error:");
  if (error == std::string::npos) {
    return false;
  }
  const std::string tail = c.substr(error + 6);
  if (tail.size() < 2 || tail.size() >= kCompactAnchor.size() || !kCompactAnchor.starts_with(tail)) {
    return false;
  }
  OomMessage m;
  m.rank = rank;
  m.line = m_result.lines + 1;
  m.exception = exception_before(text.substr(0, text.rfind("Error:") + 6));
  if (!state.split_anchor) {
    ++m_active; // the next line completes it whatever it says
  }
  state.split_anchor = SplitAnchor{std::move(m), tail};
  return true;
}

bool LogScanner::complete_split_anchor(RankState& state, std::string_view text) {
  static constexpr std::string_view kCompactAnchor = "CUDAoutofmemory";
  SplitAnchor split = std::move(*state.split_anchor);
  state.split_anchor.reset();
  --m_active;
  std::string joined = split.tail + compact(text);
  if (!std::string_view(joined).starts_with(kCompactAnchor)) {
    return false;
  }
  begin_message(state, std::move(split.message), joined.substr(kCompactAnchor.size()));
  return true;
}

void LogScanner::begin_message(RankState& state, OomMessage m, std::string rest) {
  if (rest.empty() || rest == ".") {
    // The line ends at the anchor: an exception's message goes on below; a heading does not.
    if (!m.exception.empty()) {
      state.pending = Pending{std::move(m), std::string(), 0};
      ++m_active;
    }
    return;
  }
  if (rest.front() != '.') {
    return; // `CUDA out of memory error` in a sentence
  }
  rest.erase(0, 1);
  const MatchResult r = match_allocator_message(rest, m);
  switch (r.match) {
  case Match::Done:
    note_tail(m, std::string_view(rest).substr(r.consumed));
    record(std::move(m), traceback_of(state));
    return;
  case Match::Incomplete:
    state.pending = Pending{std::move(m), std::move(rest), 0};
    ++m_active;
    return;
  case Match::Mismatch:
    // `CUDA out of memory. Try a smaller batch` is advice; a message whose figures went wrong
    // after `Tried to allocate` is still an OOM, with what could be read.
    if (r.consumed > 0) {
      record(std::move(m), traceback_of(state));
    }
    return;
  }
}

bool LogScanner::continue_pending(RankState& state, std::string_view text) {
  Pending& p = *state.pending;
  if (text.empty()) {
    if (++p.lines > kMaxWrappedLines) {
      finalize(state);
    }
    return true;
  }
  if (starts_a_new_record(text)) {
    finalize(state);
    return false;
  }
  std::string joined = p.compact + compact(text);
  if (p.compact.empty() && !joined.empty() && joined.front() == '.') {
    joined.erase(0, 1); // the anchor's line ended before its period
  }
  OomMessage probe = p.message;
  const MatchResult r = match_allocator_message(joined, probe);
  switch (r.match) {
  case Match::Done:
    note_tail(probe, std::string_view(joined).substr(r.consumed));
    p.message = std::move(probe);
    finalize(state);
    return true;
  case Match::Incomplete:
    p.message = std::move(probe);
    p.compact = std::move(joined);
    if (++p.lines > kMaxWrappedLines || p.compact.size() > kMaxMessageBytes) {
      finalize(state);
    }
    return true;
  case Match::Mismatch:
    break;
  }
  // This line does not continue the message: it ended (cut short) on the line before.
  finalize(state);
  return false;
}

bool LogScanner::continue_table(RankState& state, std::string_view text) {
  if (!memory_summary_title(text) && ++state.table_lines < kMaxTableLines &&
      read_memory_summary_row(text, *state.table)) {
    return true;
  }
  close_table(state);
  return false;
}

void LogScanner::finalize(RankState& state) {
  OomMessage m = std::move(state.pending->message);
  state.pending.reset();
  --m_active;
  record(std::move(m), traceback_of(state));
}

// A rank's own traceback, or (where only the error line carries the rank's prefix) the one
// printed without a prefix.
const std::vector<Frame>& LogScanner::traceback_of(const RankState& state) const {
  if (!state.traceback.empty()) {
    return state.traceback;
  }
  static const std::vector<Frame> kNone;
  const auto plain = m_ranks.find("");
  return plain == m_ranks.end() ? kNone : plain->second.traceback;
}

void LogScanner::record(OomMessage message, const std::vector<Frame>& frames) {
  if (message.complete()) {
    // torchrun's failure summary repeats a rank's error without the rank's prefix: that rank
    // printed one OOM, not two.
    const std::string signature = fmt::format("{}|{}|{}|{}|{}|{}|{}|{}", message.format, message.gpu.value_or(0),
                                              *message.requested, *message.total, *message.free, *message.allocated,
                                              *message.reserved, message.process_in_use.value_or(0));
    if (message.rank.empty() && m_ranked_signatures.count(signature) != 0) {
      return;
    }
    if (!message.rank.empty() && m_ranked_signatures.size() < kMaxRanks) {
      m_ranked_signatures.insert(signature);
    }
  }
  ++m_result.oom_count;
  std::size_t kept = SIZE_MAX;
  if (m_result.messages.size() < kMaxKept) {
    kept = m_result.messages.size();
    m_result.messages.push_back(message);
  }
  // Form B's message may end on this line and its max_split_size_mb advice (form C) on the next.
  m_maybe_c.reset();
  if (message.format == "B") {
    m_maybe_c = MaybeC{message.rank, kept};
  }
  if (message.complete()) {
    m_result.last_complete = message;
    m_result.last_complete_frames = frames;
  }
  m_result.last = std::move(message);
  m_result.last_frames = frames;
}

// The line after a form-B message, from the same rank: the advice that makes it form C?
void LogScanner::check_form_c(const std::string& rank, std::string_view text) {
  if (!m_maybe_c || m_maybe_c->rank != rank) {
    return;
  }
  const MaybeC maybe = *m_maybe_c;
  m_maybe_c.reset();
  if (!contains(text, "max_split_size_mb")) {
    return;
  }
  if (maybe.index < m_result.messages.size()) {
    m_result.messages[maybe.index].format = "C";
  }
  for (std::optional<OomMessage>* m : {&m_result.last, &m_result.last_complete}) {
    if (*m && (*m)->format == "B" && (*m)->rank == rank) {
      (*m)->format = "C";
    }
  }
}

void LogScanner::close_table(RankState& state) {
  MemorySummary table = std::move(*state.table);
  state.table.reset();
  --m_active;
  if (m_result.summaries.size() < kMaxKept) {
    m_result.summaries.push_back(table);
  }
  m_result.last_summary = std::move(table);
}

} // namespace oomlint::explain
