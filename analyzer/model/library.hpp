#pragma once
// What libraries guarantee about the values their calls return, kept as data with each
// library's own reason: the model consults this table instead of guessing from names.
#include <string_view>

namespace oomlint::model::library {

enum class Returns : unsigned char {
  Module,       // an nn.Module: calling it later is a forward
  NoGradOutput, // computed under torch.no_grad(): no graph
  Detached,     // a tensor with no graph
  Number,       // a Python number
  Text,         // a Python string
  Pipeline,     // a pipeline object: calling it runs under no_grad
  Object,       // a library object that is not an nn.Module (a tokenizer's encoder)
};

struct Fact {
  std::string_view name; // a method name, or a qualified import path
  Returns returns;
  const char* reason; // shown as evidence
  bool any_receiver;  // also on a known module (generate, unwrap_model); else only on other receivers
};

// A method called on a receiver that is not a tensor with a graph (`accelerator.unwrap_model`).
const Fact* method_fact(std::string_view method);

// A function or class by its import path (`torch.nn.utils.clip_grad_norm_`, diffusers pipelines).
const Fact* qualified_fact(std::string_view qualified);

// A keyword argument only tokenizers and processors take (`return_tensors="pt"`, `truncation`):
// a call passing one encodes text, whatever its receiver is named; it runs no forward.
const Fact* tokenizer_keyword_fact(std::string_view keyword);

// A tensor maker or conversion (`torch.from_numpy`, `torch.linspace`), an array library's function
// (`librosa.filters.mel`) or a builtin: what it returns is data, never a parameter.
bool makes_data_tensors(std::string_view qualified);

// A tensor method that converts or reshapes (`.float()`, `.unsqueeze(0)`): data stays data.
bool is_tensor_conversion(std::string_view method);

// A library class that is an nn.Module (`detectron2.modeling.GeneralizedRCNN`).
bool is_module_base(std::string_view qualified);

// A converter that writes a checkpoint of CPU tensors to the path it is given as `output_position`
// (DeepSpeed's and Lightning's `convert_zero_checkpoint_to_fp32_state_dict` load every shard with
// `map_location="cpu"` and save the merged state from there). -1 if `callee` is none.
int cpu_checkpoint_output(std::string_view callee);

// A name that, by itself, says it holds a pipeline (`pipeline`, `pipe`, `sd_pipeline`).
bool is_pipeline_name(std::string_view name);

} // namespace oomlint::model::library
