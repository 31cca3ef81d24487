// The decision rule of docs/explain.md, at and around each threshold, and memory_summary() tables.
#include <string>

#include <gtest/gtest.h>

#include "analyzer/explain/log_scanner.hpp"
#include "analyzer/explain/memory_summary.hpp"
#include "analyzer/explain/triage.hpp"

namespace oomlint::explain {
namespace {

constexpr std::uint64_t kGiB = 1ULL << 30U;

OomMessage message(std::uint64_t q, std::uint64_t t, std::uint64_t f, std::uint64_t a, std::uint64_t r) {
  OomMessage m;
  m.requested = q;
  m.total = t;
  m.free = f;
  m.allocated = a;
  m.reserved = r;
  m.reserved_unallocated = r - a;
  return m;
}

TEST(Triage, FirstMatchWins) {
  // Q > T wins over everything else.
  EXPECT_EQ(diagnose_message(message(100 * kGiB, 24 * kGiB, 0, 2 * kGiB, 20 * kGiB)),
            Diagnosis::RequestExceedsCapacity);
  // H = T - F - R = 10 GiB of 24 (>= 25%, >= 1 GiB), even though U is large too.
  EXPECT_EQ(diagnose_message(message(kGiB, 24 * kGiB, 0, 4 * kGiB, 14 * kGiB)), Diagnosis::HeldElsewhere);
  // U = 9.6 of 21.7 GiB reserved.
  EXPECT_EQ(diagnose_message(message(2 * kGiB, 24 * kGiB, kGiB, 12 * kGiB, 22 * kGiB)), Diagnosis::Fragmentation);
  EXPECT_EQ(diagnose_message(message(2 * kGiB, 24 * kGiB, kGiB / 2, 22 * kGiB, 23 * kGiB)), Diagnosis::GenuinelyFull);
}

TEST(Triage, ThresholdsAreInclusiveAndNeedOneGiB) {
  // U exactly 25% of R and exactly 1 GiB: fragmentation.
  EXPECT_EQ(diagnose_message(message(kGiB, 5 * kGiB, kGiB, 3 * kGiB, 4 * kGiB)), Diagnosis::Fragmentation);
  // U one byte under 25% of R.
  EXPECT_EQ(diagnose_message(message(kGiB, 5 * kGiB, kGiB, 3 * kGiB + 1, 4 * kGiB)), Diagnosis::GenuinelyFull);
  // 50% unallocated but under 1 GiB: a small process, genuinely full.
  EXPECT_EQ(diagnose_message(message(kGiB / 4, 2 * kGiB, kGiB, kGiB / 2, kGiB - 1)), Diagnosis::GenuinelyFull);
  // H exactly 25% of T and at least 1 GiB.
  EXPECT_EQ(diagnose_message(message(kGiB, 8 * kGiB, 0, 6 * kGiB, 6 * kGiB)), Diagnosis::HeldElsewhere);
  // Free plus reserved above the total (Windows WDDM): nothing is held elsewhere.
  EXPECT_EQ(diagnose_message(message(kGiB, 8 * kGiB, 2 * kGiB, 9 * kGiB, 9 * kGiB)), Diagnosis::GenuinelyFull);
  // Q equal to T is not larger than T.
  EXPECT_NE(diagnose_message(message(8 * kGiB, 8 * kGiB, 0, 7 * kGiB, 8 * kGiB)), Diagnosis::RequestExceedsCapacity);
}

TEST(Triage, IncompleteFiguresAreUnparseable) {
  OomMessage m = message(kGiB, 8 * kGiB, 0, 6 * kGiB, 6 * kGiB);
  m.free.reset();
  EXPECT_EQ(diagnose_message(m), Diagnosis::Unparseable);
}

TEST(Triage, EachDiagnosisHasItsFixPath) {
  EXPECT_TRUE(fix_path(Diagnosis::NoOom, nullptr).empty());
  const auto frag = fix_path(Diagnosis::Fragmentation, nullptr);
  ASSERT_GE(frag.size(), 2U);
  EXPECT_NE(frag[0].title.find("expandable_segments:True"), std::string::npos);
  EXPECT_NE(frag[0].detail.find("before"), std::string::npos);
  EXPECT_NE(frag[1].title.find("max_split_size_mb"), std::string::npos);
  const auto full = fix_path(Diagnosis::GenuinelyFull, nullptr);
  ASSERT_GE(full.size(), 6U);
  EXPECT_NE(full[0].title.find("batch size"), std::string::npos);
  EXPECT_NE(full[1].title.find("inference_mode"), std::string::npos);
  OomMessage m = message(kGiB, 8 * kGiB, 0, 6 * kGiB, 6 * kGiB);
  m.other_processes.push_back(OtherProcess{4242, 2 * kGiB});
  const auto held = fix_path(Diagnosis::HeldElsewhere, &m);
  ASSERT_FALSE(held.empty());
  EXPECT_NE(held[0].detail.find("process 4242 holds 2.00 GiB"), std::string::npos) << held[0].detail;
}

TEST(Triage, FormatsSizesAsPyTorchDoes) {
  EXPECT_EQ(format_bytes(0), "0 bytes");
  EXPECT_EQ(format_bytes(1024), "1024 bytes");
  EXPECT_EQ(format_bytes(1048576), "1024.00 KiB");
  EXPECT_EQ(format_bytes(2147483648ULL), "2.00 GiB");
}

const char* const kTable2x = R"(|===========================================================================|
|                  PyTorch CUDA memory summary, device ID 1                 |
|---------------------------------------------------------------------------|
|            CUDA OOMs: 2            |        cudaMalloc retries: 5         |
|===========================================================================|
|        Metric         | Cur Usage  | Peak Usage | Tot Alloc  | Tot Freed  |
|---------------------------------------------------------------------------|
| Allocated memory      |  12380 MiB |  20480 MiB |   1234 GiB |   1222 GiB |
|       from large pool |  12000 MiB |  20000 MiB |   1200 GiB |   1188 GiB |
|       from small pool |    380 MiB |    480 MiB |     34 GiB |     34 GiB |
|---------------------------------------------------------------------------|
| GPU reserved memory   |  22210 MiB |  22210 MiB |  22210 MiB |      0 B   |
|---------------------------------------------------------------------------|
| Allocations           |    1234    |    2345    |   12345 K  |   12344 K  |
|===========================================================================|
)";

TEST(MemorySummaryTable, ReadsCurrentUsageAndCounters) {
  LogScanner scanner;
  scanner.feed(kTable2x);
  const ScanResult r = scanner.finish();
  EXPECT_EQ(r.oom_count, 0U);
  ASSERT_TRUE(r.last_summary.has_value());
  EXPECT_EQ(r.last_summary->device, 1U);
  EXPECT_EQ(r.last_summary->ooms, 2U);
  EXPECT_EQ(r.last_summary->malloc_retries, 5U);
  EXPECT_EQ(r.last_summary->allocated, 12380ULL << 20U);
  EXPECT_EQ(r.last_summary->peak_allocated, 20480ULL << 20U);
  EXPECT_EQ(r.last_summary->reserved, 22210ULL << 20U);
  EXPECT_EQ(diagnose_summary(*r.last_summary), Diagnosis::Fragmentation);
}

TEST(MemorySummaryTable, ReadsATableBehindRankPrefixes) {
  std::string prefixed;
  std::string table = kTable2x;
  for (std::size_t at = 0; at < table.size();) {
    const std::size_t nl = table.find('\n', at);
    prefixed += "[rank3]: " + table.substr(at, nl - at + 1);
    at = nl + 1;
  }
  LogScanner scanner;
  scanner.feed(prefixed);
  const ScanResult r = scanner.finish();
  ASSERT_TRUE(r.last_summary.has_value());
  EXPECT_EQ(r.last_summary->rank, "rank3");
  EXPECT_EQ(r.last_summary->reserved, 22210ULL << 20U);
}

TEST(MemorySummaryTable, ReadsThe113CellUnits) {
  EXPECT_EQ(parse_summary_cell("   12345 MB"), 12345ULL << 20U);
  EXPECT_EQ(parse_summary_cell("      0 B "), 0ULL);
  EXPECT_EQ(parse_summary_cell("  768 KiB"), 768ULL << 10U);
  EXPECT_FALSE(parse_summary_cell("  12 K ").has_value()); // a count, not bytes
  EXPECT_FALSE(parse_summary_cell("  -3 MiB").has_value());
}

} // namespace
} // namespace oomlint::explain
