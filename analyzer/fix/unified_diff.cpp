#include "analyzer/fix/unified_diff.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

namespace oomlint {

namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t at = 0;
  while (at < text.size()) {
    const size_t nl = text.find('\n', at);
    const size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    lines.push_back(text.substr(at, end - at));
    at = end;
  }
  return lines;
}

enum class Op : std::uint8_t { Keep, Remove, Add };

// Myers' greedy shortest edit script, recording each round's furthest points to walk back.
std::vector<Op> edit_script(const std::vector<std::string_view>& a, const std::vector<std::string_view>& b) {
  const int n = static_cast<int>(a.size());
  const int m = static_cast<int>(b.size());
  const int max = n + m;
  const int offset = max + 1;
  std::vector<int> v(static_cast<size_t>(2 * max + 3), 0);
  std::vector<std::vector<int>> trace;
  int final_d = 0;
  for (int d = 0; d <= max; ++d) {
    trace.push_back(v);
    bool done = false;
    for (int k = -d; k <= d; k += 2) {
      int x = (k == -d || (k != d && v[static_cast<size_t>(k - 1 + offset)] < v[static_cast<size_t>(k + 1 + offset)]))
                  ? v[static_cast<size_t>(k + 1 + offset)]
                  : v[static_cast<size_t>(k - 1 + offset)] + 1;
      int y = x - k;
      while (x < n && y < m && a[static_cast<size_t>(x)] == b[static_cast<size_t>(y)]) {
        ++x;
        ++y;
      }
      v[static_cast<size_t>(k + offset)] = x;
      if (x >= n && y >= m) {
        done = true;
        break;
      }
    }
    if (done) {
      final_d = d;
      break;
    }
  }
  std::vector<Op> ops;
  int x = n;
  int y = m;
  for (int d = final_d; d > 0; --d) {
    const std::vector<int>& pv = trace[static_cast<size_t>(d)];
    const int k = x - y;
    const bool down =
        k == -d || (k != d && pv[static_cast<size_t>(k - 1 + offset)] < pv[static_cast<size_t>(k + 1 + offset)]);
    const int prev_k = down ? k + 1 : k - 1;
    const int prev_x = pv[static_cast<size_t>(prev_k + offset)];
    const int prev_y = prev_x - prev_k;
    while (x > prev_x && y > prev_y) {
      ops.push_back(Op::Keep);
      --x;
      --y;
    }
    ops.push_back(down ? Op::Add : Op::Remove);
    x = prev_x;
    y = prev_y;
  }
  while (x > 0 && y > 0) {
    ops.push_back(Op::Keep);
    --x;
    --y;
  }
  std::reverse(ops.begin(), ops.end());
  return ops;
}

void append_line(std::string& out, char mark, std::string_view line) {
  out += mark;
  out.append(line);
  if (line.empty() || line.back() != '\n') {
    out += "\n\\ No newline at end of file\n";
  }
}

} // namespace

std::string unified_diff(std::string_view before, std::string_view after, std::string_view from_name,
                         std::string_view to_name, int context) {
  if (before == after) {
    return {};
  }
  const std::vector<std::string_view> a = split_lines(before);
  const std::vector<std::string_view> b = split_lines(after);
  const std::vector<Op> ops = edit_script(a, b);
  // Positions in a and b before each op.
  std::vector<int> ai(ops.size() + 1);
  std::vector<int> bi(ops.size() + 1);
  for (size_t i = 0; i < ops.size(); ++i) {
    ai[i + 1] = ai[i] + (ops[i] != Op::Add ? 1 : 0);
    bi[i + 1] = bi[i] + (ops[i] != Op::Remove ? 1 : 0);
  }
  std::string out = fmt::format("--- {}\n+++ {}\n", from_name, to_name);
  size_t i = 0;
  while (i < ops.size()) {
    if (ops[i] == Op::Keep) {
      ++i;
      continue;
    }
    // A hunk: from `context` lines before this change to `context` lines after the last change
    // that lies within 2*context lines of the previous one.
    size_t start = i >= static_cast<size_t>(context) ? i - static_cast<size_t>(context) : 0;
    while (start < i && ops[start] != Op::Keep) {
      ++start;
    }
    size_t end = i;
    size_t keep_run = 0;
    for (size_t j = i; j < ops.size(); ++j) {
      if (ops[j] == Op::Keep) {
        if (++keep_run > static_cast<size_t>(2 * context)) {
          break;
        }
      } else {
        keep_run = 0;
        end = j + 1;
      }
    }
    end = std::min(ops.size(), end + static_cast<size_t>(context));
    const int a_count = ai[end] - ai[start];
    const int b_count = bi[end] - bi[start];
    out += fmt::format("@@ -{},{} +{},{} @@\n", a_count == 0 ? ai[start] : ai[start] + 1, a_count,
                       b_count == 0 ? bi[start] : bi[start] + 1, b_count);
    for (size_t j = start; j < end; ++j) {
      switch (ops[j]) {
      case Op::Keep:
        append_line(out, ' ', a[static_cast<size_t>(ai[j])]);
        break;
      case Op::Remove:
        append_line(out, '-', a[static_cast<size_t>(ai[j])]);
        break;
      case Op::Add:
        append_line(out, '+', b[static_cast<size_t>(bi[j])]);
        break;
      }
    }
    i = end;
  }
  return out;
}

} // namespace oomlint
