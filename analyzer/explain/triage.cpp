#include "analyzer/explain/triage.hpp"

#include <fmt/format.h>

namespace oomlint::explain {

namespace {

constexpr std::uint64_t kGiB = 1ULL << 30U;

// `part` is at least a quarter of `whole` and at least 1 GiB.
bool large_share(std::uint64_t part, std::uint64_t whole) {
  return part >= kGiB && part >= whole / 4 + (whole % 4 != 0 ? 1 : 0);
}

std::vector<FixStep> fragmentation_steps() {
  return {
      {"Set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True",
       "Segments then grow in place instead of leaving free memory in pieces too small for the request. The "
       "allocator reads it once, when the process first uses CUDA: set it in the environment of the launch "
       "(`PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True python train.py`), or in os.environ before anything "
       "touches CUDA. Newer PyTorch (about 2.9 on) reads it as PYTORCH_ALLOC_CONF too."},
      {"Only if that is not available or does not help: max_split_size_mb",
       "PYTORCH_CUDA_ALLOC_CONF=max_split_size_mb:512 stops the allocator from splitting large blocks into pieces "
       "that cannot be given back; it is the older knob, largely replaced by expandable_segments."},
      {"Allocate tensors of the same sizes",
       "Pad variable-length batches to a few fixed lengths (buckets), so that freed blocks fit the next requests."},
      {"Do not call torch.cuda.empty_cache() every step",
       "It gives the cached blocks back and makes the allocator request them again; call it at phase boundaries "
       "(after evaluation), not in the step loop (oomlint rule OOM301)."},
  };
}

std::vector<FixStep> genuinely_full_steps() {
  return {
      {"Lower the batch size", "The activations of a step grow with the batch; halve it and compare the peak."},
      {"Run evaluation under torch.inference_mode()",
       "Without it every forward pass keeps its activations for a backward that never comes (OOM201, OOM202)."},
      {"Stop keeping autograd graphs across steps",
       "`running_loss += loss` or `losses.append(loss)` keeps each step's graph alive; accumulate `loss.item()` or "
       "`loss.detach()` (OOM101, OOM102, OOM103)."},
      {"Use mixed precision", "torch.autocast(device_type=\"cuda\", dtype=torch.bfloat16) roughly halves activations."},
      {"Accumulate gradients over smaller micro-batches",
       "The same effective batch, with the memory of a micro-batch: call backward per micro-batch and step the "
       "optimizer every N."},
      {"Checkpoint activations",
       "torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False) recomputes a block's activations in "
       "backward instead of keeping them."},
      {"Shrink optimizer state and parameters",
       "8-bit optimizers, CPU offload, or sharding (FSDP, DeepSpeed ZeRO) when parameters, gradients and optimizer "
       "state alone fill the device."},
  };
}

std::vector<FixStep> held_elsewhere_steps(const OomMessage* m) {
  std::string who;
  if (m != nullptr) {
    for (const OtherProcess& p : m->other_processes) {
      who += fmt::format("{}process {} holds {}", who.empty() ? "" : "; ", p.pid, format_bytes(p.bytes));
    }
    if (m->process_in_use) {
      who += fmt::format("{}this process holds {} in all (PyTorch's reservation plus its CUDA context and "
                         "libraries)",
                         who.empty() ? "" : "; ", format_bytes(*m->process_in_use));
    }
  }
  return {
      {"Find what else holds memory on this GPU",
       who.empty() ? "The message names no processes: run nvidia-smi while the job runs to see which processes hold "
                     "memory on this GPU."
                   : fmt::format("The message names them: {}.", who)},
      {"Stop or move the other processes",
       "Another training run, a notebook kernel or an evaluation server on the same GPU: stop it, or give each job "
       "its own GPU with CUDA_VISIBLE_DEVICES."},
      {"Check that each rank uses only its own GPU",
       "Under DDP call torch.cuda.set_device(local_rank) before any CUDA work: a rank that touches cuda:0 first "
       "leaves a CUDA context (hundreds of MiB) on GPU 0 for the rest of the run."},
      {"Then treat what is left as a full GPU", "If the memory outside PyTorch is this process's own (CUDA context, "
                                                "cuDNN/cuBLAS workspaces, NCCL buffers), lower what PyTorch needs."},
  };
}

} // namespace

std::string_view diagnosis_name(Diagnosis d) {
  switch (d) {
  case Diagnosis::NoOom:
    return "no-oom";
  case Diagnosis::Unparseable:
    return "unparseable";
  case Diagnosis::RequestExceedsCapacity:
    return "request-exceeds-capacity";
  case Diagnosis::HeldElsewhere:
    return "held-elsewhere";
  case Diagnosis::Fragmentation:
    return "fragmentation";
  case Diagnosis::GenuinelyFull:
    return "genuinely-full";
  }
  return "unparseable";
}

Diagnosis diagnose_message(const OomMessage& m) {
  if (!m.complete()) {
    return Diagnosis::Unparseable;
  }
  const std::uint64_t t = *m.total;
  const std::uint64_t r = *m.reserved;
  const std::uint64_t u = *m.reserved_unallocated;
  if (*m.requested > t) {
    return Diagnosis::RequestExceedsCapacity;
  }
  const std::uint64_t free = *m.free;
  const std::uint64_t held = (t > free && t - free > r) ? t - free - r : 0;
  if (large_share(held, t)) {
    return Diagnosis::HeldElsewhere;
  }
  if (large_share(u, r)) {
    return Diagnosis::Fragmentation;
  }
  return Diagnosis::GenuinelyFull;
}

Diagnosis diagnose_summary(const MemorySummary& s) {
  if (!s.complete()) {
    return Diagnosis::Unparseable;
  }
  const std::uint64_t u = *s.reserved > *s.allocated ? *s.reserved - *s.allocated : 0;
  return large_share(u, *s.reserved) ? Diagnosis::Fragmentation : Diagnosis::GenuinelyFull;
}

std::vector<FixStep> fix_path(Diagnosis d, const OomMessage* message) {
  switch (d) {
  case Diagnosis::NoOom:
    return {};
  case Diagnosis::Unparseable:
    return {{"Give oomlint the whole message",
             "The figures of the error could not all be read. Pass the complete log (or the full "
             "`torch.OutOfMemoryError: CUDA out of memory. Tried to allocate ...` message); with "
             "`torch.cuda.memory_summary()` printed at the failure, the table is read too."}};
  case Diagnosis::RequestExceedsCapacity:
    return {{"Find the one allocation larger than the GPU",
             "No allocator setting or batch size near this one helps: a single tensor is larger than the whole "
             "device. Look at the failing frame for a shape that is wrong (a dimension multiplied in by mistake, "
             "a full attention matrix over a long sequence, a broadcast that materialises a huge tensor)."},
            {"Split the operation", "Compute it in chunks (over the batch or sequence), or with a memory-efficient "
                                    "kernel (scaled_dot_product_attention instead of an explicit attention matrix)."}};
  case Diagnosis::HeldElsewhere:
    return held_elsewhere_steps(message);
  case Diagnosis::Fragmentation:
    return fragmentation_steps();
  case Diagnosis::GenuinelyFull:
    return genuinely_full_steps();
  }
  return {};
}

std::string format_bytes(std::uint64_t n) {
  if (n <= 1024) {
    return fmt::format("{} bytes", n);
  }
  if (n <= (1ULL << 20U)) {
    return fmt::format("{:.2f} KiB", static_cast<double>(n) / 1024.0);
  }
  if (n <= (1ULL << 30U)) {
    return fmt::format("{:.2f} MiB", static_cast<double>(n) / 1048576.0);
  }
  return fmt::format("{:.2f} GiB", static_cast<double>(n) / 1073741824.0);
}

} // namespace oomlint::explain
