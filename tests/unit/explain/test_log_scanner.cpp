// Logs as they really come: wrapped, coloured, prefixed, several ranks and errors, cut off.
#include <string>

#include <gtest/gtest.h>

#include "analyzer/explain/explanation.hpp"
#include "analyzer/explain/log_scanner.hpp"

namespace oomlint::explain {
namespace {

const std::string kFragmented =
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 23.69 GiB "
    "of which 0.50 GiB is free. Of the allocated memory 12.09 GiB is allocated by PyTorch, and 9.60 GiB is reserved "
    "by PyTorch but unallocated. If reserved but unallocated memory is large try setting "
    "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for Memory "
    "Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)";

// Feeds `log` in pieces of `chunk` bytes, as a stream would arrive.
ScanResult scan(const std::string& log, std::size_t chunk = 7) {
  LogScanner scanner;
  for (std::size_t at = 0; at < log.size(); at += chunk) {
    scanner.feed(std::string_view(log).substr(at, chunk));
  }
  return scanner.finish();
}

// Hard-wraps `text` every `width` characters, each piece after `prefix`.
std::string wrap(const std::string& text, std::size_t width, const std::string& prefix) {
  std::string out;
  for (std::size_t at = 0; at < text.size(); at += width) {
    out += prefix + text.substr(at, width) + "\n";
  }
  return out;
}

TEST(LogScanner, OneMessageOnOneLine) {
  const ScanResult r = scan("step 10 loss 2.31\n" + kFragmented + "\n");
  EXPECT_EQ(r.oom_count, 1U);
  ASSERT_TRUE(r.last_complete.has_value());
  EXPECT_EQ(r.last_complete->format, "E");
  EXPECT_EQ(r.last_complete->exception, "torch.OutOfMemoryError");
  EXPECT_EQ(r.last_complete->line, 2U);
  EXPECT_EQ(r.last_complete->reserved_unallocated, 10307921510ULL);
}

TEST(LogScanner, WrappedInsideWordsWithAndWithoutPrefixes) {
  for (const std::string prefix : {"", "# ", "[rank0]: ", "2024-06-01 10:00:00,123 - __main__ - ERROR - "}) {
    const ScanResult r = scan("epoch 3\n" + wrap(kFragmented, 61, prefix) + "epoch 4\n");
    EXPECT_EQ(r.oom_count, 1U) << prefix;
    ASSERT_TRUE(r.last_complete.has_value()) << prefix;
    EXPECT_EQ(r.last_complete->total, 25436943811ULL) << prefix;
    EXPECT_EQ(r.last_complete->free, 536870912ULL) << prefix;
  }
}

TEST(LogScanner, AHardWrapThatCutsTheAnchorItself) {
  for (std::size_t cut = 26; cut < 42; ++cut) { // inside `CUDA out of memory`, after the exception
    const std::string log = "[rank1]: " + kFragmented.substr(0, cut) + "\n[rank1]: " + kFragmented.substr(cut) + "\n";
    const ScanResult r = scan(log);
    EXPECT_EQ(r.oom_count, 1U) << cut;
    ASSERT_TRUE(r.last_complete.has_value()) << cut;
    EXPECT_EQ(r.last_complete->exception, "torch.OutOfMemoryError") << cut;
  }
  EXPECT_EQ(scan("ValueError: CUDA out of mem\nthe next line\n").oom_count, 0U);
  // The old form has no `memory` after the anchor: the second line is read all the same.
  const ScanResult old = scan("RuntimeError: CUDA out of mem\nory. Tried to allocate 20.00 MiB (GPU 0; 10.92 GiB total "
                              "capacity; 10.06 GiB already allocated; 17.50 MiB free; 179.00 KiB cached)\n");
  EXPECT_EQ(old.oom_count, 1U);
  EXPECT_TRUE(old.last_complete.has_value());
}

TEST(LogScanner, AnsiColoursCrlfAndTqdmCarriageReturns) {
  std::string coloured = kFragmented;
  coloured.replace(coloured.find("2.00 GiB"), 8, "\x1b[1;31m2.00 GiB\x1b[0m");
  const std::string log =
      "Epoch 1:  10%|#         | 1/10\rEpoch 1:  20%|##        | 2/10\r" + coloured + "\r\n" + "done\r\n";
  const ScanResult r = scan(log, 3);
  EXPECT_EQ(r.oom_count, 1U);
  ASSERT_TRUE(r.last_complete.has_value());
  EXPECT_EQ(r.last_complete->requested, 2147483648ULL);
  EXPECT_EQ(r.lines, 2U);
}

TEST(LogScanner, EveryRankCountsAndInterleavedWrapsStayApart) {
  const std::string a = wrap(kFragmented, 50, "[rank0]: ");
  const std::string b = wrap(kFragmented, 50, "[rank1]: ");
  std::string log;
  // Rank 0's and rank 1's lines alternate, as two processes write to one log.
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() || j < b.size()) {
    for (int k = 0; k < 2 && i < a.size(); ++k) {
      const std::size_t nl = a.find('\n', i);
      log += a.substr(i, nl - i + 1);
      i = nl + 1;
    }
    if (j < b.size()) {
      const std::size_t nl = b.find('\n', j);
      log += b.substr(j, nl - j + 1);
      j = nl + 1;
    }
  }
  const ScanResult r = scan(log);
  EXPECT_EQ(r.oom_count, 2U);
  ASSERT_EQ(r.messages.size(), 2U);
  EXPECT_TRUE(r.messages[0].complete());
  EXPECT_TRUE(r.messages[1].complete());
  EXPECT_NE(r.messages[0].rank, r.messages[1].rank);
}

TEST(LogScanner, JsonLinesAndDockerLogs) {
  const std::string structured =
      "{\"time\": \"2024-06-01T10:00:00Z\", \"level\": \"error\", \"message\": \"training failed\", \"exc_info\": "
      "\"Traceback (most recent call last):\\n  File \\\"train.py\\\", line 12, in <module>\\n    step()\\n" +
      kFragmented + "\"}\n";
  const ScanResult r = scan("{\"time\": \"x\", \"msg\": \"epoch 1\"}\n" + structured);
  EXPECT_EQ(r.oom_count, 1U);
  ASSERT_TRUE(r.last_complete.has_value());
  ASSERT_EQ(r.last_complete_frames.size(), 1U);
  EXPECT_EQ(r.last_complete_frames[0].file, "train.py");
  // Docker's json-file driver: one object per line, the message split over two of them.
  const std::string half = kFragmented.substr(0, 120);
  const std::string rest = kFragmented.substr(120);
  const ScanResult d = scan("{\"log\":\"" + half + "\\n\",\"stream\":\"stderr\"}\n{\"log\":\"" + rest +
                            "\\n\",\"stream\":\"stderr\"}\n");
  EXPECT_EQ(d.oom_count, 1U);
  EXPECT_TRUE(d.last_complete.has_value());
}

TEST(LogScanner, SeveralErrorsTheLastCutOffAtTheEnd) {
  const std::string first =
      "RuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 10.92 GiB total capacity; 10.06 GiB "
      "already allocated; 17.50 MiB free; 179.00 KiB cached)\n";
  const ScanResult r = scan(first + "resuming\n" + kFragmented.substr(0, 150));
  EXPECT_EQ(r.oom_count, 2U);
  ASSERT_TRUE(r.last_complete.has_value());
  EXPECT_EQ(r.last_complete->format, "A");
  ASSERT_TRUE(r.last.has_value());
  EXPECT_FALSE(r.last->complete());
  EXPECT_EQ(r.last->requested, 2147483648ULL);
}

TEST(LogScanner, FormCWhenTheAdviceIsOnTheNextLine) {
  const ScanResult r =
      scan("RuntimeError: CUDA out of memory. Tried to allocate 2.00 MiB (GPU 1; 7.79 GiB total "
           "capacity; 5.40 GiB already allocated; 1.06 MiB free; 5.44 GiB reserved in total by "
           "PyTorch)\nIf reserved memory is >> allocated memory try setting max_split_size_mb to "
           "avoid fragmentation.  See documentation for Memory Management and PYTORCH_CUDA_ALLOC_CONF\n"
           "RuntimeError: CUDA out of memory. Tried to allocate 2.00 MiB (GPU 1; 7.79 GiB total "
           "capacity; 5.40 GiB already allocated; 1.06 MiB free; 5.44 GiB reserved in total by "
           "PyTorch)\nepoch 2\n");
  ASSERT_EQ(r.messages.size(), 2U);
  EXPECT_EQ(r.messages[0].format, "C");
  EXPECT_EQ(r.messages[1].format, "B");
}

TEST(LogScanner, TorchrunsSummaryDoesNotCountARanksErrorTwice) {
  const std::string log = "[rank0]: " + kFragmented + "\n[rank1]: " + kFragmented +
                          "\n============================================================\nRoot Cause (first observed "
                          "failure):\n[0]:\n  rank      : 0 (local_rank: 0)\n  traceback : Traceback (most recent "
                          "call last):\n    File \"train.py\", line 3, in <module>\n  " +
                          kFragmented + "\n";
  EXPECT_EQ(scan(log).oom_count, 2U);
  // Without prefixes, two ranks' identical messages are two.
  EXPECT_EQ(scan(kFragmented + "\n" + kFragmented + "\n").oom_count, 2U);
}

TEST(LogScanner, TheDriverErrorHasNoFigures) {
  const ScanResult r =
      scan("RuntimeError: CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported at some "
           "other API call, so the stacktrace below might be incorrect.\n");
  EXPECT_EQ(r.oom_count, 1U);
  ASSERT_TRUE(r.last.has_value());
  EXPECT_EQ(r.last->format, "driver");
  EXPECT_FALSE(r.last_complete.has_value());
}

TEST(LogScanner, AdviceAndHostAllocatorErrorsAreNotOoms) {
  const ScanResult r =
      scan("If you see CUDA out of memory, lower the batch size.\n"
           "hint: CUDA out of memory. Try --batch-size 8\n"
           "Tip: a 'CUDA error: out of memory' at start-up means another process holds the GPU\n"
           "RuntimeError: [enforce fail at alloc_cpu.cpp:114] data. DefaultCPUAllocator: not enough memory: you tried "
           "to allocate 1073741824 bytes.\n");
  EXPECT_EQ(r.oom_count, 0U);
}

TEST(LogScanner, AMessageWithMalformedFiguresIsCountedButNotComplete) {
  const ScanResult r = scan("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.0.0 GiB. GPU 0 has a "
                            "total capacity of 23.69 GiB\n");
  EXPECT_EQ(r.oom_count, 1U);
  EXPECT_FALSE(r.last_complete.has_value());
}

TEST(LogScanner, TracebackFramesBelongToTheErrorAfterThem) {
  const std::string log = "Traceback (most recent call last):\n  File \"old.py\", line 1, in <module>\nValueError: x\n"
                          "Traceback (most recent call last):\n  File \"/srv/run/train.py\", line 88, in <module>\n"
                          "    main()\n  File \"/srv/run/train.py\", line 61, in main\n    loss = model(x)\n" +
                          kFragmented + "\n";
  const ScanResult r = scan(log);
  ASSERT_EQ(r.last_complete_frames.size(), 2U);
  EXPECT_EQ(r.last_complete_frames[1].line, 61U);
  EXPECT_EQ(r.last_complete_frames[1].function, "main");
}

TEST(LogScanner, ARankPrefixOnTheErrorLineOnlyKeepsThePlainTraceback) {
  const ScanResult r =
      scan("Traceback (most recent call last):\n  File \"train.py\", line 9, in step\n[rank2]: " + kFragmented + "\n");
  ASSERT_TRUE(r.last_complete.has_value());
  EXPECT_EQ(r.last_complete->rank, "rank2");
  ASSERT_EQ(r.last_complete_frames.size(), 1U);
  EXPECT_EQ(r.last_complete_frames[0].line, 9U);
}

TEST(LogScanner, AVeryLongLineIsCutNotKept) {
  std::string log(3U << 20U, 'x');
  log += "\n" + kFragmented + "\n";
  const ScanResult r = scan(log, 1U << 16U);
  EXPECT_EQ(r.oom_count, 1U);
  EXPECT_EQ(r.lines, 2U);
}

TEST(Explanation, DiagnosesTheLastCompleteMessage) {
  const Explanation e = explain("log", scan(kFragmented + "\n"));
  EXPECT_EQ(e.diagnosis, Diagnosis::Fragmentation);
  ASSERT_FALSE(e.fixes.empty());
  EXPECT_NE(e.fixes[0].title.find("expandable_segments"), std::string::npos);
  const Explanation none = explain("log", scan("all good\n"));
  EXPECT_EQ(none.diagnosis, Diagnosis::NoOom);
  const Explanation cut = explain("log", scan(kFragmented.substr(0, 100)));
  EXPECT_EQ(cut.diagnosis, Diagnosis::Unparseable);
}

} // namespace
} // namespace oomlint::explain
