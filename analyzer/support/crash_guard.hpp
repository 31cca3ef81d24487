#pragma once
// Keeps one file's crash from costing the whole run: work run under a guard that dies of a
// fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL) returns false instead of ending the process,
// so the driver reports an internal error for that file and goes on with the others. The
// memory the interrupted work held is abandoned; this is a last line of defence, not a way
// of handling errors. Sanitizer builds leave the signals to the sanitizer, which reports them.
#include <functional>

namespace oomlint {

// Runs `work` on this thread; false when it was ended by a fatal signal.
bool run_guarded(const std::function<void()>& work);

// Whether run_guarded() catches fatal signals in this build (not under sanitizers).
bool crash_guard_active();

} // namespace oomlint
