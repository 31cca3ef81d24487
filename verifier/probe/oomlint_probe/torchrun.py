"""Starts PyTorch's own launcher (`torch.distributed.run`, what the `torchrun` command runs).

Debian's torch 1.13 on Python 3.11 cannot parse its own default `--redirects 0`: 3.11 changed
how a zero IntFlag tests membership, so `Std.from_str("0")` returns None and torchrun crashes
before starting a rank. Where that bug is present, this fills in the one parsing function; the
launcher itself is PyTorch's, unchanged."""
import sys


def _repair_std_parsing():
    try:
        from torch.distributed.elastic.multiprocessing import api
    except ImportError:
        return
    std = api.Std
    if std.from_str("0") is not None:
        return

    def from_str(vm):
        def to_std(v):
            return std(int(v))

        if ":" not in vm:
            return to_std(vm)
        out = {}
        for pair in vm.split(","):
            rank, value = pair.split(":")
            out[int(rank)] = to_std(value)
        return out

    std.from_str = staticmethod(from_str)


if __name__ == "__main__":
    _repair_std_parsing()
    from torch.distributed.run import main

    main(sys.argv[1:])
