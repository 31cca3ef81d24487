"""Two (or more) ranks on one GPU, each filling it with 1 GiB tensors until one runs out: a real
multi-rank out-of-memory log for `oomlint explain`, with torchrun's own prefixes and summary.

usage: torchrun --nproc_per_node 2 --tee 3 bench/explain/torchrun_oom.py > torchrun.log 2>&1
"""
import torch
import torch.distributed as dist

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.cuda.set_device(0)  # every rank on GPU 0: each sees the others' memory as another process's
held = []
for step in range(10000):
    held.append(torch.empty(1 << 30, dtype=torch.uint8, device="cuda"))
    if step % 10 == 0:
        print(f"rank {rank} step {step}", flush=True)
