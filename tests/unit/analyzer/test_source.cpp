#include <gtest/gtest.h>

#include "analyzer/diagnostics/suppression.hpp"
#include "analyzer/source/line_index.hpp"
#include "analyzer/source/source_file.hpp"
#include "analyzer/support/strings.hpp"

using namespace oomlint;

TEST(LineIndex, ColumnsInBytesCharactersAndUtf16) {
  const std::string text = "a = 1\nb = \"\xC3\xA9\xF0\x9F\x98\x80\" + x\n";
  const LineIndex idx(text);
  const auto x = static_cast<std::uint32_t>(text.find('x'));
  EXPECT_EQ(idx.position(text, x, ColumnUnit::Byte).column, 15U);
  EXPECT_EQ(idx.position(text, x, ColumnUnit::Character).column, 11U);
  EXPECT_EQ(idx.position(text, x, ColumnUnit::Utf16).column, 12U);
  EXPECT_EQ(idx.position(text, x, ColumnUnit::Utf16).row, 1U);
  EXPECT_EQ(idx.offset(text, RowCol{1, 12}, ColumnUnit::Utf16), x);
}

TEST(LineIndex, CrLfLinesExcludeTheTerminator) {
  const std::string text = "a = 1\r\nb = 2\r\n";
  const LineIndex idx(text);
  EXPECT_EQ(idx.line_text(text, 0), "a = 1");
  EXPECT_EQ(idx.line_text(text, 1), "b = 2");
}

TEST(SourceFile, StripsBomAndRemembersLineEndings) {
  const SourceFile f("x.py", "\xEF\xBB\xBFimport torch\r\n");
  EXPECT_TRUE(f.had_bom());
  EXPECT_EQ(f.text(), "import torch\r\n");
  EXPECT_EQ(f.line_ending(), LineEnding::CrLf);
}

TEST(SourceFile, FindsInvalidUtf8) {
  EXPECT_FALSE(find_invalid_utf8("caf\xC3\xA9").has_value());
  const auto bad = find_invalid_utf8("ab\xFF"
                                     "cd");
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->byte, 2U);
  EXPECT_TRUE(find_invalid_utf8("\xED\xA0\x80").has_value()); // a UTF-16 surrogate
  EXPECT_TRUE(find_invalid_utf8("\xC0\xAF").has_value());     // overlong
}

TEST(Suppression, ParsesNoqaForms) {
  EXPECT_TRUE(parse_noqa_comment("# noqa").line->all);
  const auto codes = parse_noqa_comment("# noqa: OOM101, OOM201").line;
  ASSERT_TRUE(codes.has_value());
  EXPECT_FALSE(codes->all);
  EXPECT_EQ(codes->codes.count("OOM101"), 1U);
  EXPECT_EQ(codes->codes.count("OOM201"), 1U);
  EXPECT_TRUE(parse_noqa_comment("# NOQA:OOM101").line.has_value());
  EXPECT_TRUE(parse_noqa_comment("# oomlint: noqa").file->all);
  EXPECT_EQ(parse_noqa_comment("# oomlint: noqa: OOM301").file->codes.count("OOM301"), 1U);
}

TEST(Suppression, ExpectIsNotNoqa) {
  const auto parsed = parse_noqa_comment("# expect: OOM101");
  EXPECT_FALSE(parsed.line.has_value());
  EXPECT_FALSE(parsed.file.has_value());
  EXPECT_FALSE(parse_noqa_comment("# noqakeep").line.has_value());
}

TEST(Suppression, LineAndFileScopes) {
  Suppressions s;
  s.add_comment(3, "# noqa: OOM101");
  s.add_comment(9, "# oomlint: noqa: OOM301");
  Finding a;
  a.code = "OOM101";
  a.noqa_row = 3;
  EXPECT_TRUE(s.suppresses(a));
  a.code = "OOM102";
  EXPECT_FALSE(s.suppresses(a));
  a.code = "OOM301";
  a.noqa_row = 40;
  EXPECT_TRUE(s.suppresses(a));
}

TEST(Words, SplitsSnakeCamelAndPunctuation) {
  const Words a("computeLoss");
  ASSERT_EQ(a.size(), 2U);
  EXPECT_EQ(a[0], "compute");
  EXPECT_EQ(a[1], "loss");
  const Words b("enumerate(train_loader)");
  EXPECT_TRUE(b.contains("train"));
  EXPECT_TRUE(b.contains("loader"));
  const Words c("HTTPServer_v2");
  ASSERT_EQ(c.size(), 3U);
  EXPECT_EQ(c[0], "http");
  EXPECT_EQ(c[1], "server");
  EXPECT_EQ(c[2], "v2");
  EXPECT_TRUE(Words("").empty());
  const Words long_text(std::string(1000, 'a')); // bounded storage, no overflow
  EXPECT_LE(long_text[0].size(), Words::kCapacity);
}
