#include "analyzer/support/crash_guard.hpp"

#include <csetjmp>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <vector>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define OOMLINT_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define OOMLINT_SANITIZED 1
#endif

namespace oomlint {

#ifndef OOMLINT_SANITIZED

namespace {

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};

thread_local sigjmp_buf* t_recover = nullptr;
thread_local std::vector<char> t_alt_stack;

void on_fatal_signal(int signal) {
  if (t_recover != nullptr) {
    siglongjmp(*t_recover, signal);
  }
  // Not inside guarded work: die of the signal as the process would have.
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

void install_handlers_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_handler = on_fatal_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_ONSTACK | SA_NODEFER;
    for (int s : kFatalSignals) {
      sigaction(s, &action, nullptr);
    }
  });
}

// A stack overflow can only be caught on a stack of its own, one per thread.
void ensure_alternate_stack() {
  if (!t_alt_stack.empty()) {
    return;
  }
  t_alt_stack.resize(static_cast<size_t>(64) * 1024);
  stack_t stack{};
  stack.ss_sp = t_alt_stack.data();
  stack.ss_size = t_alt_stack.size();
  sigaltstack(&stack, nullptr);
}

} // namespace

bool run_guarded(const std::function<void()>& work) {
  install_handlers_once();
  ensure_alternate_stack();
  sigjmp_buf recover;
  sigjmp_buf* const outer = t_recover;
  if (sigsetjmp(recover, 1) != 0) {
    t_recover = outer;
    return false;
  }
  struct Restore {
    sigjmp_buf* outer;
    ~Restore() { t_recover = outer; } // also when `work` throws
  } restore{outer};
  t_recover = &recover;
  work();
  return true;
}

bool crash_guard_active() {
  return true;
}

#else

bool run_guarded(const std::function<void()>& work) {
  work();
  return true;
}

bool crash_guard_active() {
  return false;
}

#endif

} // namespace oomlint
