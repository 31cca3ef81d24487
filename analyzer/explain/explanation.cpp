#include "analyzer/explain/explanation.hpp"

#include <algorithm>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace oomlint::explain {

namespace {

nlohmann::json figure(const std::optional<std::uint64_t>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json message_json(const OomMessage& m) {
  nlohmann::json others = nlohmann::json::array();
  for (const OtherProcess& p : m.other_processes) {
    others.push_back({{"pid", p.pid}, {"bytes", p.bytes}});
  }
  return {{"format", m.format},
          {"line", m.line},
          {"rank", m.rank.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.rank)},
          {"exception", m.exception.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.exception)},
          {"complete", m.complete()},
          {"gpu", figure(m.gpu)},
          {"requested_bytes", figure(m.requested)},
          {"total_bytes", figure(m.total)},
          {"free_bytes", figure(m.free)},
          {"allocated_bytes", figure(m.allocated)},
          {"reserved_bytes", figure(m.reserved)},
          {"reserved_unallocated_bytes", figure(m.reserved_unallocated)},
          {"private_pools_bytes", figure(m.private_pools)},
          {"process_in_use_bytes", figure(m.process_in_use)},
          {"other_processes", others},
          {"allowed_bytes", figure(m.allowed)}};
}

nlohmann::json summary_json(const MemorySummary& s) {
  return {{"line", s.line},
          {"rank", s.rank.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.rank)},
          {"device", figure(s.device)},
          {"ooms", figure(s.ooms)},
          {"malloc_retries", figure(s.malloc_retries)},
          {"allocated_bytes", figure(s.allocated)},
          {"peak_allocated_bytes", figure(s.peak_allocated)},
          {"reserved_bytes", figure(s.reserved)},
          {"peak_reserved_bytes", figure(s.peak_reserved)},
          {"non_releasable_bytes", figure(s.non_releasable)}};
}

std::string or_unknown(const std::optional<std::uint64_t>& v) {
  return v ? format_bytes(*v) : std::string("?");
}

// One sentence on why the figures say what they say.
std::string reason(const Explanation& e) {
  const OomMessage* m = e.message();
  if (e.diagnosis == Diagnosis::NoOom) {
    return "no CUDA out-of-memory error and no memory_summary() table in the log";
  }
  if (e.diagnosis == Diagnosis::Unparseable) {
    return "an out-of-memory error, but its figures could not all be read (cut off, or not in a form PyTorch prints)";
  }
  if (e.from_table) {
    const MemorySummary& s = *e.scan.last_summary;
    const std::uint64_t u = *s.reserved > *s.allocated ? *s.reserved - *s.allocated : 0;
    return fmt::format("the memory_summary() table shows {} reserved by PyTorch and {} allocated: {} reserved but not "
                       "allocated",
                       format_bytes(*s.reserved), format_bytes(*s.allocated), format_bytes(u));
  }
  switch (e.diagnosis) {
  case Diagnosis::RequestExceedsCapacity:
    return fmt::format("one request of {} is larger than the whole GPU ({})", format_bytes(*m->requested),
                       format_bytes(*m->total));
  case Diagnosis::HeldElsewhere: {
    const std::uint64_t held = *m->total - *m->free - *m->reserved;
    return fmt::format("{} of the GPU's {} is held outside PyTorch's reservation (total - free - reserved): other "
                       "processes or this process's non-PyTorch memory",
                       format_bytes(held), format_bytes(*m->total));
  }
  case Diagnosis::Fragmentation:
    return fmt::format("PyTorch reserved {} but only {} is allocated to tensors: {} is free inside the cache, in "
                       "pieces too small for the {} request",
                       format_bytes(*m->reserved), format_bytes(*m->allocated), format_bytes(*m->reserved_unallocated),
                       format_bytes(*m->requested));
  case Diagnosis::GenuinelyFull:
    return fmt::format("tensors really use the memory: {} allocated of {} reserved, and {} free of {}",
                       format_bytes(*m->allocated), format_bytes(*m->reserved), format_bytes(*m->free),
                       format_bytes(*m->total));
  default:
    return {};
  }
}

} // namespace

const OomMessage* Explanation::message() const {
  if (scan.last_complete) {
    return &*scan.last_complete;
  }
  return scan.last ? &*scan.last : nullptr;
}

Explanation explain(std::string source, ScanResult scan) {
  Explanation e;
  e.source = std::move(source);
  e.scan = std::move(scan);
  const ScanResult& s = e.scan;
  if (s.oom_count == 0 && !s.last_summary) {
    e.diagnosis = Diagnosis::NoOom;
  } else if (s.last_complete) {
    e.diagnosis = diagnose_message(*s.last_complete);
  } else if (s.oom_count > 0) {
    e.diagnosis = Diagnosis::Unparseable;
  } else {
    e.diagnosis = diagnose_summary(*s.last_summary);
    e.from_table = e.diagnosis != Diagnosis::Unparseable;
  }
  e.frames = s.last_complete ? s.last_complete_frames : s.last_frames;
  e.fixes = fix_path(e.diagnosis, e.from_table ? nullptr : e.message());
  return e;
}

void rank_findings(std::vector<LinkedFinding>& findings) {
  std::stable_sort(findings.begin(), findings.end(), [](const LinkedFinding& a, const LinkedFinding& b) {
    return std::tie(a.frame_rank, a.distance, a.filename, a.row) <
           std::tie(b.frame_rank, b.distance, b.filename, b.row);
  });
}

std::string render_text(const Explanation& e) {
  std::string out;
  const ScanResult& s = e.scan;
  if (e.diagnosis == Diagnosis::NoOom) {
    return fmt::format("{}: no CUDA out-of-memory error found ({} lines read).\n", e.source, s.lines);
  }
  out += fmt::format("{}: {} CUDA out-of-memory error{}", e.source, s.oom_count, s.oom_count == 1 ? "" : "s");
  if (!s.summaries.empty()) {
    out += fmt::format(", {} memory_summary() table{}", s.summaries.size(), s.summaries.size() == 1 ? "" : "s");
  }
  out += "\n\n";
  out += fmt::format("diagnosis: {}\n  {}.\n", diagnosis_name(e.diagnosis), reason(e));
  if (const OomMessage* m = e.message(); m != nullptr && !e.from_table) {
    out += fmt::format("\nthe {}error at line {}{} (form {}{}):\n", m->complete() ? "" : "last ", m->line,
                       m->rank.empty() ? "" : fmt::format(", {}", m->rank), m->format,
                       m->gpu ? fmt::format(", GPU {}", *m->gpu) : "");
    if (m->format != "driver") {
      out += fmt::format("  requested {}  total {}  free {}\n  allocated {}  reserved {} ({} of it unallocated)\n",
                         or_unknown(m->requested), or_unknown(m->total), or_unknown(m->free), or_unknown(m->allocated),
                         or_unknown(m->reserved), or_unknown(m->reserved_unallocated));
      for (const OtherProcess& p : m->other_processes) {
        out += fmt::format("  process {} holds {}\n", p.pid, format_bytes(p.bytes));
      }
      if (m->process_in_use) {
        out += fmt::format("  this process holds {} in all\n", format_bytes(*m->process_in_use));
      }
      if (m->allowed) {
        out += fmt::format("  allowed for this process: {}\n", format_bytes(*m->allowed));
      }
    }
  }
  if (!e.fixes.empty()) {
    out += "\nwhat to do, in this order:\n";
    for (std::size_t i = 0; i < e.fixes.size(); ++i) {
      out += fmt::format("  {}. {}\n     {}\n", i + 1, e.fixes[i].title, e.fixes[i].detail);
    }
  }
  if (!e.frames.empty()) {
    out += "\nthe traceback, innermost frame last:\n";
    const std::size_t first = e.frames.size() > 8 ? e.frames.size() - 8 : 0;
    for (std::size_t i = first; i < e.frames.size(); ++i) {
      out += fmt::format("  {}:{}{}\n", e.frames[i].file, e.frames[i].line,
                         e.frames[i].function.empty() ? "" : fmt::format(" in {}", e.frames[i].function));
    }
  }
  if (!e.findings.empty()) {
    out += "\nfindings in the traceback's files, nearest to the failing frames first:\n";
    for (const LinkedFinding& f : e.findings) {
      out += fmt::format("  {}:{}:{}: {} {}\n", f.filename, f.row, f.column, f.code, f.message);
    }
  }
  return out;
}

nlohmann::json render_json(const Explanation& e) {
  nlohmann::json messages = nlohmann::json::array();
  for (const OomMessage& m : e.scan.messages) {
    messages.push_back(message_json(m));
  }
  nlohmann::json summaries = nlohmann::json::array();
  for (const MemorySummary& s : e.scan.summaries) {
    summaries.push_back(summary_json(s));
  }
  nlohmann::json fixes = nlohmann::json::array();
  for (const FixStep& f : e.fixes) {
    fixes.push_back({{"title", f.title}, {"detail", f.detail}});
  }
  nlohmann::json frames = nlohmann::json::array();
  for (const Frame& f : e.frames) {
    frames.push_back({{"filename", f.file}, {"line", f.line}, {"function", f.function}});
  }
  nlohmann::json findings = nlohmann::json::array();
  for (const LinkedFinding& f : e.findings) {
    findings.push_back({{"code", f.code},
                        {"message", f.message},
                        {"filename", f.filename},
                        {"location", {{"row", f.row}, {"column", f.column}}},
                        {"frame_line", f.frame_line},
                        {"distance", f.distance}});
  }
  const OomMessage* diagnosed = e.from_table ? nullptr : e.message();
  return {{"source", e.source},
          {"diagnosis", diagnosis_name(e.diagnosis)},
          {"reason", reason(e)},
          {"oom_count", e.scan.oom_count},
          {"diagnosed_line", diagnosed != nullptr ? nlohmann::json(diagnosed->line) : nlohmann::json(nullptr)},
          {"messages", messages},
          {"summaries", summaries},
          {"fixes", fixes},
          {"frames", frames},
          {"findings", findings},
          {"lines", e.scan.lines}};
}

} // namespace oomlint::explain
