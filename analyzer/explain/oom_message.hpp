#pragma once
// The CUDA caching allocator's out-of-memory message, read figure by figure. Every form PyTorch
// has printed since 1.0 (../shared/OOM-MESSAGES.md names them A to E) is one of two templates:
// `Tried to allocate Q (GPU n; T total capacity; A already allocated; F free; [X allowed; ]
// {U cached | R reserved in total by PyTorch})` or `Tried to allocate Q. GPU n has a total
// capacity of T of which F is free. [process lines][X allowed; ]Of the allocated memory A is
// allocated by PyTorch, [with P allocated in private pools (e.g., CUDA Graphs), ]and U is reserved
// by PyTorch but unallocated.` The matcher reads them with all whitespace removed, so that a
// message wrapped over several lines (at a space or inside a word) reads the same.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace oomlint::explain {

// A printed size (`2.00 GiB`, `512 bytes`) in bytes: the printed value times its binary unit,
// rounded half-up (the allocator rounds to two decimals, so that product is all a reader knows).
// Sizes with a sign, an exponent, a thousands separator or an unknown unit are not sizes.
std::optional<std::uint64_t> parse_size(std::string_view printed);

struct OtherProcess {
  std::uint64_t pid = 0;
  std::uint64_t bytes = 0;
};

struct OomMessage {
  // "A" ... "E" as in OOM-MESSAGES.md, "driver" for the figure-less `CUDA error: out of memory`,
  // "unknown" when too little was printed to tell.
  std::string format = "unknown";
  std::string exception;  // `torch.OutOfMemoryError`, `RuntimeError`, ... when printed
  std::string rank;       // `rank3` when the log line said which rank printed it
  std::uint64_t line = 0; // 1-based line of the log where the message starts
  std::optional<std::uint64_t> gpu;
  std::optional<std::uint64_t> requested;
  std::optional<std::uint64_t> total;
  std::optional<std::uint64_t> free;
  std::optional<std::uint64_t> allocated;
  std::optional<std::uint64_t> reserved;
  std::optional<std::uint64_t> reserved_unallocated;
  std::optional<std::uint64_t> private_pools;
  std::optional<std::uint64_t> process_in_use; // "this process has X memory in use"
  std::optional<std::uint64_t> allowed;        // set_per_process_memory_fraction's cap, when printed
  std::vector<OtherProcess> other_processes;
  // Every figure the diagnosis needs (requested, total, free, allocated, reserved) was read.
  [[nodiscard]] bool complete() const {
    return requested && total && free && allocated && reserved && reserved_unallocated;
  }
};

// How far the text after `CUDA out of memory.` (whitespace removed) matched the templates.
enum class Match : std::uint8_t {
  Done,       // the figures are complete; `consumed` is where the message's tail begins
  Incomplete, // the text ended where the message goes on: the next line may continue it
  Mismatch,   // the text says something the templates do not
};

struct MatchResult {
  Match match = Match::Mismatch;
  std::size_t consumed = 0;
};

// Reads the figures of `compact` (the text after the anchor, whitespace removed) into `out`,
// as far as they go. `out`'s figures are reset first.
MatchResult match_allocator_message(std::string_view compact, OomMessage& out);

// `text` with every space, tab and line break removed.
std::string compact(std::string_view text);

} // namespace oomlint::explain
