"""The oomlint verifier's probe: runs a program with some of its files instrumented and samples
memory once per pass of each flagged loop (stdlib only; torch is read if the program imports it).

`oomlint verify` starts it as `python -m oomlint_probe CONFIG.json -- SCRIPT ARGS...`. CONFIG
names the instrumented sources (path -> text), the pass budget, the time budget and where to
write the results. Instrumented code calls `__oomlint_probe__.tick(ID)` (a builtin the probe
installs) at the top of each flagged loop's body, or around a flagged statement.
"""

import builtins
import importlib.machinery
import importlib.util
import json
import os
import sys
import threading
import time

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss_bytes():
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


class _Mallinfo2:
    """glibc's count of the bytes malloc has handed out and not had back (arenas and mapped
    chunks alike): exact, where the resident set moves by pages and by malloc's top pad, so a
    few KiB of autograd nodes kept per step show as growth every step."""

    def __init__(self):
        import ctypes

        class Info(ctypes.Structure):
            _fields_ = [
                (name, ctypes.c_size_t)
                for name in (
                    "arena", "ordblks", "smblks", "hblks", "hblkhd",
                    "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
                )
            ]

        self._call = ctypes.CDLL(None).mallinfo2
        self._call.restype = Info
        self._call.argtypes = []

    def __call__(self):
        info = self._call()
        return info.uordblks + info.hblkhd


def _heap_reader():
    try:
        return _Mallinfo2()
    except (ImportError, OSError, AttributeError):  # not glibc, or glibc before 2.33
        return None


class _StopProgram(SystemExit):
    """Raised from a tick to end the program cleanly once the budget is spent."""


class Probe:
    def __init__(self, config):
        self.passes = int(config.get("passes", 20))
        self.timeout = float(config.get("timeout", 60.0))
        self.out = config["out"]
        # Under a launcher (torchrun) every rank runs the probe: one results file per rank.
        self.rank = os.environ.get("RANK")
        if config.get("per_rank") and self.rank is not None:
            self.out = f"{self.out}.rank{self.rank}"
        self.ids = [str(i) for i in config.get("ids", [])]
        # Probe points around one statement (a load): measured once a before/after pair exists.
        self.once = {str(i) for i in config.get("once_ids", [])}
        self.samples = {}
        self.entries = {}  # probe id -> how many times its loop was entered
        self.started = time.perf_counter()
        self.stopping = False
        self.stop_reason = ""
        self._cuda = None  # (stats, reset, device) once torch.cuda is initialised
        self._written = False
        self.loaded = []  # the instrumented files the program imported (and its script)
        self._heap = _heap_reader()

    # Allocator statistics straight from the C++ binding: torch.cuda.memory_allocated() builds
    # the whole statistics dict in Python (85 us measured); the binding call costs ~12 us.
    def _cuda_reader(self):
        if self._cuda is not None:
            return self._cuda
        torch = sys.modules.get("torch")
        if torch is None:
            return None
        try:
            if not torch.cuda.is_available() or not torch.cuda.is_initialized():
                return None
            device = torch.cuda.current_device()
            stats = getattr(torch._C, "_cuda_memoryStats", None)
            reset = getattr(torch._C, "_cuda_resetPeakMemoryStats", None)
            if stats is None or reset is None:
                return None
            self._cuda = (stats, reset, device)
        except Exception:  # a torch without CUDA support: CPU figures only
            return None
        return self._cuda

    def enter(self, probe_id):
        """Called just before a flagged loop starts: its passes from here on are one entry."""
        key = str(probe_id)
        self.entries[key] = self.entries.get(key, 0) + 1

    def no_grad(self):
        """The verification transform for a forward run with autograd on: the statement under
        torch.no_grad() (the program has imported torch by the time the statement runs)."""
        import contextlib

        torch = sys.modules.get("torch")
        return torch.no_grad() if torch is not None else contextlib.nullcontext()

    def tick(self, probe_id):
        now = time.perf_counter()
        heap = self._heap() if self._heap is not None else -1
        sample = [now - self.started, _rss_bytes(), -1, -1, -1, self.entries.get(str(probe_id), 0), heap]
        reader = self._cuda_reader()
        if reader is not None:
            stats, reset, device = reader
            s = stats(device)
            allocated = s["allocated_bytes"]["all"]
            sample[2] = allocated["current"]
            sample[3] = s["reserved_bytes"]["all"]["current"]
            sample[4] = allocated["peak"]
            reset(device)
        key = str(probe_id)
        series = self.samples.setdefault(key, [])
        series.append(sample)
        if self.stopping:
            raise _StopProgram(0)
        if self._budget_spent(now):
            self.stopping = True
            raise _StopProgram(0)

    def _budget_spent(self, now):
        if now - self.started > self.timeout:
            self.stop_reason = "timeout"
            return True
        counts = {i: len(self.samples.get(i, ())) for i in self.ids}
        done = all(c >= 2 if i in self.once else c > self.passes for i, c in counts.items())
        if counts and done:
            self.stop_reason = "passes"
            return True
        loops = [c for i, c in counts.items() if i not in self.once]
        if loops and max(loops) > 4 * self.passes:
            self.stop_reason = "passes"
            return True
        return False

    def write(self, error=None):
        if self._written:
            return
        self._written = True
        torch = sys.modules.get("torch")
        result = {
            "samples": self.samples,
            "columns": ["seconds", "rss_bytes", "allocated_bytes", "reserved_bytes", "peak_allocated_bytes", "entry", "heap_bytes"],
            "stop_reason": self.stop_reason or "finished",
            "torch": getattr(torch, "__version__", None),
            "cuda": bool(self._cuda),
            "error": error,
            "pid": os.getpid(),
            "loaded": self.loaded,
            "rank": None if self.rank is None else int(self.rank),
        }
        tmp = self.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f)
        os.replace(tmp, self.out)


class _Finder:
    """Serves the instrumented text of the program's flagged modules."""

    def __init__(self, sources, loaded):
        self.sources = {os.path.realpath(p): text for p, text in sources.items()}
        self.loaded = loaded
        self._busy = False

    def find_spec(self, name, path=None, target=None):
        # PathFinder may import (zipimport, encodings) and so re-enter this finder: the inner
        # look-up is left to the other finders, or it recurses until RecursionError.
        if self._busy:
            return None
        self._busy = True
        try:
            spec = importlib.machinery.PathFinder.find_spec(name, path)
        finally:
            self._busy = False
        if spec is None or not spec.origin:
            return None
        origin = os.path.realpath(spec.origin)
        if origin not in self.sources:
            return None
        self.loaded.append(spec.origin)
        loader = _Loader(name, spec.origin, self.sources[origin])
        return importlib.util.spec_from_file_location(
            name, spec.origin, loader=loader, submodule_search_locations=spec.submodule_search_locations
        )


class _Loader:
    def __init__(self, name, path, text):
        self.name = name
        self.path = path
        self.text = text

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        code = compile(self.text, self.path, "exec")
        exec(code, module.__dict__)


def _error_summary(exc):
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" at {last.filename}:{last.lineno}"
    return f"{type(exc).__name__}: {exc}{where}"


def main(argv):
    if len(argv) >= 2 and argv[1] == "--":
        argv = [argv[0], "--"] + argv[2:]
    elif len(argv) >= 2:
        argv = [argv[0], "--"] + argv[1:]  # a launcher may drop the `--`
    if len(argv) < 3:
        sys.stderr.write("usage: python -m oomlint_probe CONFIG.json -- SCRIPT [ARG ...]\n")
        return 2
    with open(argv[0]) as f:
        config = json.load(f)
    probe = Probe(config)
    builtins.__oomlint_probe__ = probe
    sources = config.get("sources", {})
    sys.meta_path.insert(0, _Finder(sources, probe.loaded))
    script = os.path.abspath(argv[2])
    probe.loaded.append(script)
    sys.argv = [script] + argv[3:]
    sys.path.insert(0, os.path.dirname(script))
    text = sources.get(script)
    if text is None:
        with open(script, encoding="utf-8") as f:
            text = f.read()

    # The watchdog ends a program stuck outside flagged loops (a hang, a long setup).
    def watchdog():
        time.sleep(probe.timeout + 5.0)
        probe.stop_reason = "timeout"
        probe.write(error=None)
        os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    globals_ = {"__name__": "__main__", "__file__": script, "__builtins__": builtins}
    status = 0
    try:
        exec(compile(text, script, "exec"), globals_)
    except _StopProgram:
        pass
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if status != 0:
            probe.write(error=f"the program exited with status {status}")
    except BaseException as e:  # the program's own failure: report it, do not hide it
        probe.write(error=_error_summary(e))
        status = 3
    probe.write()
    sys.stdout.flush()
    return status
