// run_guarded(): a fatal signal in guarded work ends that work, not the process.
#include <csignal>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "analyzer/support/crash_guard.hpp"

namespace {

using oomlint::crash_guard_active;
using oomlint::run_guarded;

TEST(CrashGuard, WorkThatFinishesReturnsTrue) {
  int ran = 0;
  EXPECT_TRUE(run_guarded([&] { ++ran; }));
  EXPECT_EQ(ran, 1);
}

TEST(CrashGuard, ASegfaultEndsOnlyTheGuardedWork) {
  if (!crash_guard_active()) {
    GTEST_SKIP() << "sanitizer build: fatal signals are left to the sanitizer";
  }
  EXPECT_FALSE(run_guarded([] { std::raise(SIGSEGV); }));
  // The guard is re-armed: the next work on this thread runs and is guarded again.
  EXPECT_TRUE(run_guarded([] {}));
  EXPECT_FALSE(run_guarded([] { std::raise(SIGBUS); }));
}

TEST(CrashGuard, EachThreadIsGuardedOnItsOwn) {
  if (!crash_guard_active()) {
    GTEST_SKIP() << "sanitizer build: fatal signals are left to the sanitizer";
  }
  bool crashed_in_thread = false;
  std::thread t([&] { crashed_in_thread = !run_guarded([] { std::raise(SIGFPE); }); });
  t.join();
  EXPECT_TRUE(crashed_in_thread);
}

TEST(CrashGuard, ExceptionsPassThroughAndDisarm) {
  EXPECT_THROW(run_guarded([] { throw std::runtime_error("x"); }), std::runtime_error);
  EXPECT_TRUE(run_guarded([] {}));
}

} // namespace
