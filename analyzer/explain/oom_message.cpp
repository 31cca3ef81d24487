#include "analyzer/explain/oom_message.hpp"

#include <array>
#include <utility>

namespace oomlint::explain {

namespace {

struct Unit {
  std::string_view name;
  std::uint64_t bytes;
};

// `bytes` first: "B" alone is no unit of the message.
constexpr std::array<Unit, 5> kUnits = {
    {{"bytes", 1}, {"KiB", 1ULL << 10U}, {"MiB", 1ULL << 20U}, {"GiB", 1ULL << 30U}, {"TiB", 1ULL << 40U}}};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// value = digits / 10^decimals, times `unit`, rounded half-up; nullopt on overflow.
std::optional<std::uint64_t> scaled(std::string_view digits, std::size_t decimals, std::uint64_t unit) {
  if (digits.empty() || digits.size() > 19 || decimals > 9) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (char c : digits) {
    if (__builtin_mul_overflow(value, 10U, &value) ||
        __builtin_add_overflow(value, static_cast<std::uint64_t>(c - '0'), &value)) {
      return std::nullopt;
    }
  }
  std::uint64_t scale = 1;
  for (std::size_t i = 0; i < decimals; ++i) {
    scale *= 10;
  }
  // (value * unit + scale / 2) / scale, in parts that cannot overflow where the result fits.
  std::uint64_t whole = 0;
  std::uint64_t rest = 0;
  if (__builtin_mul_overflow(value / scale, unit, &whole) || __builtin_mul_overflow(value % scale, unit, &rest)) {
    return std::nullopt;
  }
  const std::uint64_t fraction = rest / scale + ((rest % scale) * 2 >= scale ? 1 : 0);
  std::uint64_t bytes = 0;
  if (__builtin_add_overflow(whole, fraction, &bytes)) {
    return std::nullopt;
  }
  return bytes;
}

// A cursor over the compacted message: each step reads a piece of the template and says whether
// it matched, ran out of text, or met something else.
class Cursor {
public:
  explicit Cursor(std::string_view s) : m_s(s) {}
  [[nodiscard]] std::size_t pos() const { return m_pos; }
  [[nodiscard]] bool at_end() const { return m_pos >= m_s.size(); }
  [[nodiscard]] char peek() const { return at_end() ? '\0' : m_s[m_pos]; }

  // Whether `lit` is here, without consuming it.
  [[nodiscard]] Match probe(std::string_view lit) const {
    const std::size_t n = std::min(lit.size(), m_s.size() - m_pos);
    if (m_s.substr(m_pos, n) != lit.substr(0, n)) {
      return Match::Mismatch;
    }
    return n < lit.size() ? Match::Incomplete : Match::Done;
  }

  Match literal(std::string_view lit) {
    const Match m = probe(lit);
    if (m == Match::Done) {
      m_pos += lit.size();
    }
    return m;
  }

  // The first of `alternatives` that is here (its index in `which`), consumed.
  template <std::size_t N> Match choose(const std::array<std::string_view, N>& alternatives, std::size_t& which) {
    bool incomplete = false;
    for (std::size_t i = 0; i < N; ++i) {
      const Match m = probe(alternatives[i]);
      if (m == Match::Done) {
        m_pos += alternatives[i].size();
        which = i;
        return Match::Done;
      }
      incomplete = incomplete || m == Match::Incomplete;
    }
    return incomplete ? Match::Incomplete : Match::Mismatch;
  }

  Match integer(std::optional<std::uint64_t>& into) {
    const std::size_t start = m_pos;
    while (!at_end() && is_digit(m_s[m_pos])) {
      ++m_pos;
    }
    if (at_end()) {
      m_pos = start;
      return Match::Incomplete; // more digits may follow on the next line
    }
    if (m_pos == start || m_pos - start > 19) {
      return Match::Mismatch;
    }
    into = scaled(m_s.substr(start, m_pos - start), 0, 1);
    return into ? Match::Done : Match::Mismatch;
  }

  Match size(std::optional<std::uint64_t>& into) {
    const std::size_t start = m_pos;
    std::size_t end = m_pos;
    while (end < m_s.size() && is_digit(m_s[end])) {
      ++end;
    }
    const std::size_t whole = end - start;
    std::size_t decimals = 0;
    if (end < m_s.size() && m_s[end] == '.' && whole > 0) {
      ++end;
      while (end < m_s.size() && is_digit(m_s[end])) {
        ++end;
        ++decimals;
      }
    }
    if (end >= m_s.size()) {
      return Match::Incomplete;
    }
    if (whole == 0 || (m_s[end - 1] == '.')) {
      return skip_malformed(start);
    }
    std::string digits(m_s.substr(start, whole));
    digits += m_s.substr(start + whole + (decimals > 0 ? 1 : 0), decimals);
    const std::string_view rest = m_s.substr(end);
    for (const Unit& u : kUnits) {
      const std::size_t n = std::min(u.name.size(), rest.size());
      if (rest.substr(0, n) != u.name.substr(0, n)) {
        continue;
      }
      if (n < u.name.size()) {
        return Match::Incomplete;
      }
      if (u.bytes == 1 && decimals > 0) {
        return Match::Mismatch; // `N bytes` is always a whole number
      }
      into = scaled(digits, decimals, u.bytes);
      if (!into) {
        return skip_malformed(start);
      }
      m_pos = end + u.name.size();
      return Match::Done;
    }
    return skip_malformed(start);
  }

private:
  // A figure printed wrong (`2.0.0 GiB`, `60..94 MiB`, `-1.00 GiB`): stepped over with its unit,
  // so that the figures after it are still read; it stays unknown.
  Match skip_malformed(std::size_t start) {
    std::size_t end = start;
    while (end < m_s.size() &&
           (is_digit(m_s[end]) || m_s[end] == '.' || m_s[end] == ',' || m_s[end] == '-' || m_s[end] == '+')) {
      ++end;
    }
    if (end == start) {
      return Match::Mismatch;
    }
    if (end >= m_s.size()) {
      return Match::Incomplete;
    }
    for (const Unit& u : kUnits) {
      if (m_s.substr(end, u.name.size()) == u.name) {
        m_pos = end + u.name.size();
        return Match::Done;
      }
    }
    return Match::Mismatch;
  }

  std::string_view m_s;
  std::size_t m_pos = 0;
};

std::uint64_t saturating_sub(std::uint64_t a, std::uint64_t b) {
  return a > b ? a - b : 0;
}

#define OOMLINT_STEP(expr)                                                                                             \
  do {                                                                                                                 \
    if (const Match step_ = (expr); step_ != Match::Done) {                                                            \
      return {step_, c.pos()};                                                                                         \
    }                                                                                                                  \
  } while (false)

// `(GPU n; T total capacity; A already allocated; F free; [X allowed; ]{U cached|R reserved in
// total by PyTorch})`: forms A to C.
MatchResult match_parenthesised(Cursor& c, OomMessage& out) {
  OOMLINT_STEP(c.literal("(GPU"));
  OOMLINT_STEP(c.integer(out.gpu));
  OOMLINT_STEP(c.literal(";"));
  OOMLINT_STEP(c.size(out.total));
  OOMLINT_STEP(c.literal("totalcapacity;"));
  OOMLINT_STEP(c.size(out.allocated));
  OOMLINT_STEP(c.literal("alreadyallocated;"));
  OOMLINT_STEP(c.size(out.free));
  OOMLINT_STEP(c.literal("free;"));
  std::optional<std::uint64_t> figure;
  OOMLINT_STEP(c.size(figure));
  static constexpr std::array<std::string_view, 3> kAfter = {"allowed;", "cached)", "reservedintotalbyPyTorch)"};
  std::size_t which = 0;
  OOMLINT_STEP(c.choose(kAfter, which));
  if (which == 0) {
    out.allowed = figure;
    OOMLINT_STEP(c.size(figure));
    static constexpr std::array<std::string_view, 2> kLast = {"cached)", "reservedintotalbyPyTorch)"};
    OOMLINT_STEP(c.choose(kLast, which));
    ++which;
  }
  if (which == 1) {
    out.format = "A"; // `cached` is what is reserved and not allocated
    out.reserved_unallocated = figure;
    if (out.allocated && figure) {
      out.reserved = *out.allocated + *figure;
    }
  } else {
    out.format = "B";
    out.reserved = figure;
    if (out.allocated && figure) {
      out.reserved_unallocated = saturating_sub(*figure, *out.allocated);
    }
  }
  return {Match::Done, c.pos()};
}

// `Of the allocated memory A is allocated by PyTorch, [with P allocated in private pools (e.g.,
// CUDA Graphs), ]and U is reserved by PyTorch but unallocated.`
MatchResult match_allocated_sentence(Cursor& c, OomMessage& out) {
  OOMLINT_STEP(c.size(out.allocated));
  OOMLINT_STEP(c.literal("isallocatedbyPyTorch,"));
  static constexpr std::array<std::string_view, 2> kNext = {"with", "and"};
  std::size_t which = 0;
  OOMLINT_STEP(c.choose(kNext, which));
  if (which == 0) {
    OOMLINT_STEP(c.size(out.private_pools));
    OOMLINT_STEP(c.literal("allocatedinprivatepools(e.g.,CUDAGraphs),and"));
  }
  OOMLINT_STEP(c.size(out.reserved_unallocated));
  OOMLINT_STEP(c.literal("isreservedbyPyTorchbutunallocated."));
  if (out.allocated && out.reserved_unallocated) {
    out.reserved = *out.allocated + *out.reserved_unallocated;
  }
  return {Match::Done, c.pos()};
}

// `. GPU n has a total capacity of T of which F is free. ...`: forms D (`capacty`, 2.1) and E.
MatchResult match_sentences(Cursor& c, OomMessage& out) {
  OOMLINT_STEP(c.literal(".GPU"));
  OOMLINT_STEP(c.integer(out.gpu));
  OOMLINT_STEP(c.literal("hasatotalcapac"));
  static constexpr std::array<std::string_view, 2> kSpelling = {"ity", "ty"};
  std::size_t spelling = 0;
  OOMLINT_STEP(c.choose(kSpelling, spelling));
  out.format = spelling == 1 ? "D" : "E";
  OOMLINT_STEP(c.literal("of"));
  OOMLINT_STEP(c.size(out.total));
  OOMLINT_STEP(c.literal("ofwhich"));
  OOMLINT_STEP(c.size(out.free));
  OOMLINT_STEP(c.literal("isfree."));
  static constexpr std::array<std::string_view, 3> kSentences = {"Includingnon-PyTorchmemory,thisprocesshas", "Process",
                                                                 "Oftheallocatedmemory"};
  // One sentence per compute process on the device, then `X allowed; `, then the allocator's.
  for (int guard = 0; guard < 4096; ++guard) {
    if (is_digit(c.peek())) {
      OOMLINT_STEP(c.size(out.allowed));
      OOMLINT_STEP(c.literal("allowed;"));
      continue;
    }
    std::size_t which = 0;
    OOMLINT_STEP(c.choose(kSentences, which));
    if (which == 2) {
      return match_allocated_sentence(c, out);
    }
    std::optional<std::uint64_t> pid;
    if (which == 1) {
      OOMLINT_STEP(c.integer(pid));
      OOMLINT_STEP(c.literal("has"));
    }
    std::optional<std::uint64_t> used;
    OOMLINT_STEP(c.size(used));
    OOMLINT_STEP(c.literal("memoryinuse."));
    if (which == 0) {
      out.process_in_use = used;
    } else if (used) {
      out.other_processes.push_back(OtherProcess{*pid, *used});
    }
  }
  return {Match::Mismatch, c.pos()};
}

#undef OOMLINT_STEP

} // namespace

std::optional<std::uint64_t> parse_size(std::string_view printed) {
  const std::string text = compact(printed);
  const std::string terminated = text + '\x01'; // so that a complete size is not read as cut short
  Cursor c(terminated);
  std::optional<std::uint64_t> bytes;
  if (c.size(bytes) != Match::Done || c.pos() != text.size()) {
    return std::nullopt;
  }
  return bytes;
}

std::string compact(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r' && ch != '\v' && ch != '\f') {
      out.push_back(ch);
    }
  }
  return out;
}

MatchResult match_allocator_message(std::string_view compact_text, OomMessage& out) {
  out.format = "unknown";
  out.gpu.reset();
  out.requested.reset();
  out.total.reset();
  out.free.reset();
  out.allocated.reset();
  out.reserved.reset();
  out.reserved_unallocated.reset();
  out.private_pools.reset();
  out.process_in_use.reset();
  out.allowed.reset();
  out.other_processes.clear();
  Cursor c(compact_text);
  if (const Match m = c.literal("Triedtoallocate"); m != Match::Done) {
    return {m, c.pos()};
  }
  if (const Match m = c.size(out.requested); m != Match::Done) {
    return {m, c.pos()};
  }
  if (c.peek() == '(') {
    return match_parenthesised(c, out);
  }
  if (c.peek() == '.') {
    return match_sentences(c, out);
  }
  return {c.at_end() ? Match::Incomplete : Match::Mismatch, c.pos()};
}

} // namespace oomlint::explain
