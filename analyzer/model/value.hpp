#pragma once
// The abstract value the model gives each expression.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace oomlint::model {

// Whether a value may hold an autograd graph. Unknown is treated as "no" by rules, so that
// oomlint only speaks when it knows.
enum class Grad : std::uint8_t { No, Unknown, Yes };

enum class Kind : std::uint8_t {
  Unknown,
  Number,       // Python scalars, strings, None, `.item()` results
  Tensor,       // a tensor
  Loss,         // a scalar loss tensor (`.item()` is the right fix)
  ModelOutput,  // what a model's forward returned (`.loss`, `.logits`, `[0]` ...)
  Module,       // an nn.Module instance: calling it runs a forward pass
  LossModule,   // an nn.*Loss instance or a loss callable
  Function,     // a function defined in this file
  Class,        // a class defined in this file
  PyModule,     // an imported module or object with a known import path
  Container,    // list/tuple/dict literal
  Pipeline,     // a diffusers/transformers pipeline: calling it runs under no_grad
  String,       // text (a tokenizer's decode, a formatted string)
  Instance,     // an object of a project class with `__call__` (`scope` here, `qualified` in another module)
  Distribution, // a torch.distributions object: `log_prob`/`entropy` carry its parameters' graph
};

// Where a tensor lives, as far as the code shows.
enum class Device : std::uint8_t { Unknown, Cpu, Accelerator };

enum class Source : std::uint8_t { None, Forward, LossFunction, Backprop, Helper, Output };

// One step of a value's provenance, a place in the file and what it contributed.
enum class Step : std::uint8_t {
  Forward,      // a module's forward pass with autograd on
  Loss,         // a loss function or criterion
  Backprop,     // the name is back-propagated, so it holds a graph
  BackpropTerm, // the name is summed into a loss that is back-propagated
  Helper,       // a function that returns a graph-carrying value
  Output,       // `.loss` / an element of a model's output
  Binding,      // assigned here
  Library,      // a library fact (the note says which)
};

struct Evidence {
  std::uint32_t start = 0;
  std::uint32_t end = 0;
  Step step = Step::Binding;
  const char* note = nullptr; // Library: the library's own reason
};

struct Value {
  Grad grad = Grad::Unknown;
  Kind kind = Kind::Unknown;
  Source source = Source::None;
  std::int32_t scope = -1;     // Function/Class: the scope it defines
  std::string qualified;       // PyModule: the import path
  std::vector<Value> elements; // Container from a tuple/list literal: per element
  Device device = Device::Unknown;
  // A 0-dim result whose storage is the whole elementwise buffer (F.mse_loss on torch 2.11):
  // keeping it keeps output-sized memory, graph or not.
  bool pins_elementwise = false;
  // Provenance, origin first, at most kMaxEvidence steps (the origin and the latest steps).
  static constexpr std::size_t kMaxEvidence = 4;
  std::array<Evidence, kMaxEvidence> evidence{};
  std::uint8_t evidence_count = 0;

  [[nodiscard]] bool carries_graph() const { return grad == Grad::Yes; }
  void add_evidence(Evidence e) {
    if (evidence_count == kMaxEvidence) {
      for (std::size_t i = 1; i + 1 < kMaxEvidence; ++i) {
        evidence[i] = evidence[i + 1];
      }
      evidence[kMaxEvidence - 1] = e;
      return;
    }
    evidence[evidence_count++] = e;
  }
  void clear_evidence() { evidence_count = 0; }
  [[nodiscard]] bool is_scalar_loss() const { return kind == Kind::Loss; }

  static Value number() { return Value{Grad::No, Kind::Number, Source::None, -1, {}, {}, Device::Cpu}; }
  static Value unknown() { return Value{}; }
};

Value join(const Value& a, const Value& b);

} // namespace oomlint::model
