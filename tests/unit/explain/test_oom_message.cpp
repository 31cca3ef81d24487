// The allocator's message, form by form (../shared/OOM-MESSAGES.md), read figure by figure.
#include <string>

#include <gtest/gtest.h>

#include "analyzer/explain/oom_message.hpp"

namespace oomlint::explain {
namespace {

// Matches the text after `CUDA out of memory.` the way the scanner does.
MatchResult read(const std::string& after_anchor, OomMessage& m) {
  return match_allocator_message(compact(after_anchor), m);
}

TEST(ParseSize, ReadsValueTimesBinaryUnitRoundedHalfUp) {
  EXPECT_EQ(parse_size("2.00 GiB"), 2147483648ULL);
  EXPECT_EQ(parse_size("10.06 GiB"), 10801842749ULL); // 10.06 * 2^30 = 10801842749.44
  EXPECT_EQ(parse_size("1.55 KiB"), 1587ULL);         // 1587.2
  EXPECT_EQ(parse_size("179.00 KiB"), 183296ULL);
  EXPECT_EQ(parse_size("1024.00 KiB"), 1048576ULL); // how exactly 1 MiB is printed
  EXPECT_EQ(parse_size("0 bytes"), 0ULL);
  EXPECT_EQ(parse_size("1024 bytes"), 1024ULL);
  EXPECT_EQ(parse_size("130674.91 GiB"), 140311116214436ULL); // no TiB in the message
  EXPECT_EQ(parse_size("0.5 MiB"), 524288ULL);
}

TEST(ParseSize, RejectsWhatIsNotASize) {
  for (const char* bad : {"2.0.0 GiB", "-1.00 GiB", "1,024.00 MiB", "nan GiB", "2.00 GB", "2.00", "GiB", "1.5 bytes",
                          "99999999999999999999 GiB", ".50 GiB", "2. GiB"}) {
    EXPECT_FALSE(parse_size(bad).has_value()) << bad;
  }
}

TEST(AllocatorMessage, FormACachedIsReservedButUnallocated) {
  OomMessage m;
  const auto r = read(" Tried to allocate 20.00 MiB (GPU 0; 10.92 GiB total capacity; 10.06 GiB already "
                      "allocated; 17.50 MiB free; 179.00 KiB cached)",
                      m);
  ASSERT_EQ(r.match, Match::Done);
  EXPECT_EQ(m.format, "A");
  EXPECT_EQ(m.gpu, 0U);
  EXPECT_EQ(m.requested, 20971520ULL);
  EXPECT_EQ(m.total, 11725260718ULL);
  EXPECT_EQ(m.allocated, 10801842749ULL);
  EXPECT_EQ(m.free, 18350080ULL);
  EXPECT_EQ(m.reserved_unallocated, 183296ULL);
  EXPECT_EQ(m.reserved, 10801842749ULL + 183296ULL);
  EXPECT_TRUE(m.complete());
}

TEST(AllocatorMessage, FormBWithAllowed) {
  OomMessage m;
  const auto r = read(" Tried to allocate 2.00 MiB (GPU 1; 7.79 GiB total capacity; 5.40 GiB already allocated; "
                      "1.06 MiB free; 4.77 GiB allowed; 5.44 GiB reserved in total by PyTorch)",
                      m);
  ASSERT_EQ(r.match, Match::Done);
  EXPECT_EQ(m.format, "B");
  EXPECT_EQ(m.gpu, 1U);
  EXPECT_EQ(m.allowed, 5121748500ULL);
  EXPECT_EQ(m.reserved, 5841155523ULL);
  EXPECT_EQ(m.reserved_unallocated, 5841155523ULL - 5798205850ULL);
  EXPECT_FALSE(m.process_in_use.has_value());
}

TEST(AllocatorMessage, FormDWithTheCapactyTypo) {
  OomMessage m;
  const auto r = read(" Tried to allocate 1.53 GiB. GPU 0 has a total capacty of 23.65 GiB of which 1.01 GiB is "
                      "free. Including non-PyTorch memory, this process has 22.63 GiB memory in use. Of the allocated "
                      "memory 17.49 GiB is allocated by PyTorch, and 4.84 GiB is reserved by PyTorch but unallocated. "
                      "If reserved but unallocated memory is large try setting max_split_size_mb to avoid "
                      "fragmentation.  See documentation for Memory Management and PYTORCH_CUDA_ALLOC_CONF",
                      m);
  ASSERT_EQ(r.match, Match::Done);
  EXPECT_EQ(m.format, "D");
  EXPECT_EQ(m.process_in_use, 24298777477ULL);
  EXPECT_EQ(m.allocated, 18779744502ULL);
  EXPECT_EQ(m.reserved_unallocated, 5196910428ULL);
  EXPECT_EQ(m.reserved, 18779744502ULL + 5196910428ULL);
  EXPECT_TRUE(m.other_processes.empty());
}

TEST(AllocatorMessage, FormEWithProcessesAllowedAndPrivatePools) {
  OomMessage m;
  const auto r = read(" Tried to allocate 256.00 MiB. GPU 3 has a total capacity of 79.25 GiB of which 12.75 MiB is "
                      "free. Process 1811 has 1.00 GiB memory in use. Including non-PyTorch memory, this process has "
                      "79.22 GiB memory in use. Process 1904 has 0 bytes memory in use. 78.00 GiB allowed; Of the "
                      "allocated memory 70.10 GiB is allocated by PyTorch, with 3.25 GiB allocated in private pools "
                      "(e.g., CUDA Graphs), and 7.90 GiB is reserved by PyTorch but unallocated. If reserved but "
                      "unallocated memory is large try setting PYTORCH_ALLOC_CONF=expandable_segments:True",
                      m);
  ASSERT_EQ(r.match, Match::Done);
  EXPECT_EQ(m.format, "E");
  EXPECT_EQ(m.gpu, 3U);
  ASSERT_EQ(m.other_processes.size(), 2U);
  EXPECT_EQ(m.other_processes[0].pid, 1811U);
  EXPECT_EQ(m.other_processes[0].bytes, 1073741824ULL);
  EXPECT_EQ(m.other_processes[1].bytes, 0ULL);
  EXPECT_EQ(m.process_in_use, 85061827297ULL);
  EXPECT_EQ(m.allowed, 83751862272ULL);
  EXPECT_EQ(m.private_pools, 3489660928ULL);
  EXPECT_EQ(m.allocated, 75269301862ULL); // includes the private pools
  EXPECT_EQ(m.reserved, 75269301862ULL + 8482560410ULL);
}

TEST(AllocatorMessage, WrappedAnywhereReadsTheSameWithoutWhitespace) {
  OomMessage m;
  // Broken inside a word and inside a number, as a terminal hard-wraps.
  const auto r = read(" Tried to allocate 2.00 GiB. GPU 0 has a total capac\nity of 23.69 GiB of which 0.5\n0 GiB is "
                      "free. Of the allocated memory 12.09 GiB is allocated by PyTorch, and 9.60 GiB is reserved by "
                      "PyTorch but unallocated.",
                      m);
  ASSERT_EQ(r.match, Match::Done);
  EXPECT_EQ(m.total, 25436943811ULL);
  EXPECT_EQ(m.free, 536870912ULL);
}

TEST(AllocatorMessage, CutShortIsIncompleteWithWhatWasRead) {
  OomMessage m;
  const auto r = read(" Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 23.69 GiB of wh", m);
  EXPECT_EQ(r.match, Match::Incomplete);
  EXPECT_EQ(m.requested, 2147483648ULL);
  EXPECT_EQ(m.total, 25436943811ULL);
  EXPECT_FALSE(m.complete());
  OomMessage n;
  EXPECT_EQ(read(" Tried to allocate 2.00 Gi", n).match, Match::Incomplete);
}

TEST(AllocatorMessage, AMalformedFigureIsUnknownAndTheOthersAreRead) {
  OomMessage m;
  const auto r = read(" Tried to allocate 2.0.0 GiB (GPU 0; 23.69 GiB total capacity; 4.21 GiB already allocated; "
                      "60..94 MiB free; 4.39 GiB reserved in total by PyTorch)",
                      m);
  EXPECT_EQ(r.match, Match::Done);
  EXPECT_FALSE(m.requested.has_value());
  EXPECT_FALSE(m.free.has_value());
  EXPECT_EQ(m.total, 25436943811ULL);
  EXPECT_EQ(m.reserved, 4713726607ULL);
  EXPECT_EQ(m.reserved_unallocated, 4713726607ULL - 4520453079ULL);
  EXPECT_FALSE(m.complete());
  OomMessage garbled;
  EXPECT_EQ(read(" Tried to allocate nan GiB (GPU 0", garbled).match, Match::Mismatch);
  OomMessage advice;
  EXPECT_EQ(read(" Try a smaller batch size.", advice).consumed, 0U);
}

} // namespace
} // namespace oomlint::explain
