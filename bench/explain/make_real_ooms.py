"""Makes real CUDA out-of-memory errors on this machine's GPU and writes each one's log, as
a training script's stderr would show it, for `oomlint explain` to read.

usage: python3 bench/explain/make_real_ooms.py OUT_DIR

Writes OUT_DIR/NAME.log and OUT_DIR/truth.json (what the allocator's own counters said at the
failure, read with torch.cuda.memory_allocated / memory_reserved / mem_get_info, so the figures
the message printed can be checked against them).
"""
import json
import os
import sys
import traceback

import torch

out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)
truth = {}


def record(name, fn):
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    held = []
    try:
        fn(held)
    except torch.OutOfMemoryError:
        free, total = torch.cuda.mem_get_info()
        truth[name] = {
            "allocated_bytes": torch.cuda.memory_allocated(),
            "reserved_bytes": torch.cuda.memory_reserved(),
            "free_bytes": free,
            "total_bytes": total,
            "torch": torch.__version__,
        }
        with open(os.path.join(out_dir, name + ".log"), "w") as f:
            f.write("step 1 loss 2.31\nstep 2 loss 2.28\n")
            f.write(traceback.format_exc())
            f.write(torch.cuda.memory_summary())
    finally:
        held.clear()
        torch.cuda.empty_cache()


def too_large(held):
    total = torch.cuda.get_device_properties(0).total_memory
    held.append(torch.empty(total * 2, dtype=torch.uint8, device="cuda"))


def full(held):
    while True:
        held.append(torch.empty(1 << 30, dtype=torch.uint8, device="cuda"))


def fragmented(held):
    # 4 MiB tensors come from 20 MiB segments, five to a segment. Keep one in five: no segment
    # can be given back, and the free memory inside them is in 16 MiB pieces, smaller than the
    # next request.
    blocks = []
    try:
        while True:
            blocks.append(torch.empty(4 << 20, dtype=torch.uint8, device="cuda"))
    except torch.OutOfMemoryError:
        pass
    held.extend(blocks[::5])
    del blocks
    held.append(torch.empty(2 << 30, dtype=torch.uint8, device="cuda"))


for name, fn in [("too_large", too_large), ("full", full), ("fragmented", fragmented)]:
    record(name, fn)

with open(os.path.join(out_dir, "truth.json"), "w") as f:
    json.dump(truth, f, indent=2)
print(json.dumps(truth, indent=2))
