#pragma once
// The abstract value the model gives each expression.
#include <cstdint>
#include <string>
#include <vector>

namespace oomlint::model {

// Whether a value may hold an autograd graph. Unknown is treated as "no" by rules, so that
// oomlint only speaks when it knows.
enum class Grad : std::uint8_t { No, Unknown, Yes };

enum class Kind : std::uint8_t {
  Unknown,
  Number,      // Python scalars, strings, None, `.item()` results
  Tensor,      // a tensor
  Loss,        // a scalar loss tensor (`.item()` is the right fix)
  ModelOutput, // what a model's forward returned (`.loss`, `.logits`, `[0]` ...)
  Module,      // an nn.Module instance: calling it runs a forward pass
  LossModule,  // an nn.*Loss instance or a loss callable
  Function,    // a function defined in this file
  Class,       // a class defined in this file
  PyModule,    // an imported module or object with a known import path
  Container,   // list/tuple/dict literal
};

enum class Source : std::uint8_t { None, Forward, LossFunction, Backprop, Helper, Output };

struct Value {
  Grad grad = Grad::Unknown;
  Kind kind = Kind::Unknown;
  Source source = Source::None;
  std::int32_t scope = -1;     // Function/Class: the scope it defines
  std::string qualified;       // PyModule: the import path
  std::vector<Value> elements; // Container from a tuple/list literal: per element

  [[nodiscard]] bool carries_graph() const { return grad == Grad::Yes; }
  [[nodiscard]] bool is_scalar_loss() const { return kind == Kind::Loss; }

  static Value number() { return Value{Grad::No, Kind::Number, Source::None, -1, {}, {}}; }
  static Value unknown() { return Value{}; }
};

Value join(const Value& a, const Value& b);

} // namespace oomlint::model
