#include <gtest/gtest.h>

#include "tests/support/model_fixture.hpp"

using oomlint::testing::ModelFixture;

TEST(CallArguments, KeywordWinsOverPosition) {
  ModelFixture f("opt.zero_grad(set_to_none=False)\n"
                 "opt.zero_grad(False)\n"
                 "opt.zero_grad()\n"
                 "f(True, flag=x)\n");
  const auto& m = f.model();
  const std::string_view src = m.source().text();
  const auto keyword = f.call("opt.zero_grad(set_to_none=False)")->argument("set_to_none", 0, src);
  ASSERT_TRUE(keyword.has_value());
  EXPECT_EQ(m.text(keyword->node), "set_to_none=False");
  EXPECT_EQ(m.bool_literal(keyword->value), false);
  const auto positional = f.call("opt.zero_grad(False)")->argument("set_to_none", 0, src);
  ASSERT_TRUE(positional.has_value());
  EXPECT_EQ(m.text(positional->node), "False");
  EXPECT_EQ(m.bool_literal(positional->value), false);
  EXPECT_FALSE(f.call("opt.zero_grad()")->argument("set_to_none", 0, src).has_value());
  const auto flag = f.call("f(True, flag=x)")->argument("flag", 0, src);
  ASSERT_TRUE(flag.has_value());
  EXPECT_EQ(m.text(flag->value), "x");
  EXPECT_EQ(m.bool_literal(flag->value), std::nullopt);
}

TEST(CallArguments, BoolLiterals) {
  ModelFixture f("a = True\nb = False\nc = 1\nd = flag\n");
  const auto& m = f.model();
  EXPECT_EQ(m.bool_literal(f.node("True")), true);
  EXPECT_EQ(m.bool_literal(f.node("False")), false);
  EXPECT_EQ(m.bool_literal(f.node("1")), std::nullopt);
  EXPECT_EQ(m.bool_literal(f.node("flag")), std::nullopt);
}

TEST(CallArguments, MethodCallsHaveAReceiver) {
  ModelFixture f("opt.zero_grad()\nzero_grad()\n");
  EXPECT_TRUE(f.call("opt.zero_grad()")->is_method_call());
  EXPECT_FALSE(f.call("zero_grad()")->is_method_call());
}
