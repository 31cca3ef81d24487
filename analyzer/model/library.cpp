#include "analyzer/model/library.hpp"

#include <algorithm>
#include <array>

#include "analyzer/support/strings.hpp"

namespace oomlint::model::library {

namespace {

constexpr std::array<Fact, 9> kMethods = {{
    {"unwrap_model", Returns::Module, "accelerate's `unwrap_model` returns the nn.Module inside its wrappers", true},
    {"generate", Returns::NoGradOutput, "Hugging Face `generate()` is decorated with `@torch.no_grad()`", true},
    {"clip_grad_norm_", Returns::Detached, "`clip_grad_norm_` returns the total norm, computed without a graph", true},
    {"clip_grad_value_", Returns::Number, "`clip_grad_value_` returns None", true},
    {"get_lr", Returns::Number, "learning-rate schedulers return Python floats", false},
    {"get_last_lr", Returns::Number, "learning-rate schedulers return Python floats", false},
    {"decode", Returns::Text, "a tokenizer's `decode` returns text", false},
    {"batch_decode", Returns::Text, "a tokenizer's `batch_decode` returns a list of strings", false},
    {"convert_ids_to_tokens", Returns::Text, "a tokenizer's `convert_ids_to_tokens` returns strings", false},
}};

constexpr std::array<Fact, 7> kQualified = {{
    {"torch.nn.utils.clip_grad_norm_", Returns::Detached,
     "`clip_grad_norm_` returns the total norm, computed without a graph", true},
    {"torch.nn.utils.clip_grad_value_", Returns::Number, "`clip_grad_value_` returns None", true},
    {"transformers.pipeline", Returns::Pipeline, "transformers pipelines run their model under `torch.no_grad()`",
     true},
    {"sentence_transformers.SentenceTransformer", Returns::Pipeline,
     "sentence-transformers' `encode` is decorated with `@torch.inference_mode()`", true},
    {"sentence_transformers.SentenceTransformer.SentenceTransformer", Returns::Pipeline,
     "sentence-transformers' `encode` is decorated with `@torch.inference_mode()`", true},
    {"sentence_transformers.CrossEncoder", Returns::Pipeline,
     "sentence-transformers' `CrossEncoder.predict` is decorated with `@torch.inference_mode()`", true},
    {"sentence_transformers.cross_encoder.CrossEncoder", Returns::Pipeline,
     "sentence-transformers' `CrossEncoder.predict` is decorated with `@torch.inference_mode()`", true},
}};

constexpr std::array<Fact, 5> kTokenizerKeywords = {{
    {"return_tensors", Returns::Object,
     "`return_tensors=` is a tokenizer's or processor's argument: the call encodes text", true},
    {"truncation", Returns::Object, "`truncation=` is a tokenizer's argument: the call encodes text", true},
    {"add_special_tokens", Returns::Object, "`add_special_tokens=` is a tokenizer's argument: the call encodes text",
     true},
    {"return_attention_mask", Returns::Object,
     "`return_attention_mask=` is a tokenizer's argument: the call encodes text", true},
    {"skip_special_tokens", Returns::Text, "`skip_special_tokens=` is a tokenizer's argument: the call decodes ids",
     true},
}};

constexpr Fact kDiffusersPipeline{"diffusers pipeline", Returns::Pipeline,
                                  "diffusers pipelines' `__call__` is decorated with `@torch.no_grad()`", true};
constexpr Fact kProjectPipeline{"diffusers-style pipeline", Returns::Pipeline,
                                "a `*Pipeline` class loaded with `from_pretrained` is a diffusers pipeline, whose "
                                "`__call__` is decorated with `@torch.no_grad()`",
                                true};

constexpr Fact kTokenizerLibrary{"tokenizer library", Returns::Object,
                                 "tiktoken, sentencepiece and tokenizers objects encode text to ids; none is an "
                                 "nn.Module",
                                 true};

} // namespace

const Fact* method_fact(std::string_view method) {
  for (const Fact& f : kMethods) {
    if (f.name == method) {
      return &f;
    }
  }
  return nullptr;
}

const Fact* qualified_fact(std::string_view qualified) {
  for (const Fact& f : kQualified) {
    if (f.name == qualified) {
      return &f;
    }
  }
  // `tiktoken.Encoding(...)`, `sentencepiece.SentencePieceProcessor(...)`: whatever the attribute
  // holding one is called (`self.tt_model`), it is no module.
  if (qualified.starts_with("tiktoken.") || qualified.starts_with("sentencepiece.") ||
      qualified.starts_with("tokenizers.")) {
    return &kTokenizerLibrary;
  }
  // `diffusers.StableDiffusionPipeline`, `diffusers.pipelines.flux.FluxPipeline.from_pretrained`
  if (qualified.starts_with("diffusers.") && qualified.find("Pipeline") != std::string_view::npos) {
    return &kDiffusersPipeline;
  }
  // A project's own subclass of a diffusers pipeline, loaded the diffusers way
  // (`LightControlNetPipeline.from_pretrained`): diffusers names every pipeline class `*Pipeline`,
  // and transformers' pipeline classes are built by `pipeline(...)`, not `from_pretrained`.
  constexpr std::string_view kLoad = ".from_pretrained";
  if (qualified.ends_with(kLoad)) {
    const std::string_view cls = qualified.substr(0, qualified.size() - kLoad.size());
    if (cls.substr(cls.rfind('.') + 1).ends_with("Pipeline")) {
      return &kProjectPipeline;
    }
  }
  return nullptr;
}

const Fact* tokenizer_keyword_fact(std::string_view keyword) {
  for (const Fact& f : kTokenizerKeywords) {
    if (f.name == keyword) {
      return &f;
    }
  }
  return nullptr;
}

bool is_pipeline_name(std::string_view name) {
  const size_t dot = name.rfind('.');
  const auto words = identifier_words(dot == std::string_view::npos ? name : name.substr(dot + 1));
  return words.contains("pipeline") || words.contains("pipe") || words.contains("pipes") || words.contains("pipelines");
}

// Tensor makers and conversions: what they return is a tensor of data, never a parameter.
bool makes_data_tensors(std::string_view q) {
  static constexpr std::array<std::string_view, 23> kTorch = {"torch.from_numpy",
                                                              "torch.tensor",
                                                              "torch.as_tensor",
                                                              "torch.zeros",
                                                              "torch.ones",
                                                              "torch.full",
                                                              "torch.arange",
                                                              "torch.linspace",
                                                              "torch.logspace",
                                                              "torch.eye",
                                                              "torch.empty",
                                                              "torch.hann_window",
                                                              "torch.hamming_window",
                                                              "torch.blackman_window",
                                                              "torch.exp",
                                                              "torch.log",
                                                              "torch.sqrt",
                                                              "torch.cat",
                                                              "torch.stack",
                                                              "torch.FloatTensor",
                                                              "torch.LongTensor",
                                                              "torch.Tensor",
                                                              "torch.kaiser_window"};
  if (std::find(kTorch.begin(), kTorch.end(), q) != kTorch.end()) {
    return true;
  }
  // Array libraries build arrays; Python's builtins settings.
  for (const std::string_view lib : {"numpy.", "librosa.", "scipy.", "math."}) {
    if (q.starts_with(lib)) {
      return true;
    }
  }
  static constexpr std::array<std::string_view, 16> kBuiltins = {
      "len", "int", "float", "str",   "range", "list",       "dict",    "tuple",
      "min", "max", "abs",   "round", "super", "isinstance", "hasattr", "print"};
  return std::find(kBuiltins.begin(), kBuiltins.end(), q) != kBuiltins.end();
}

bool is_tensor_conversion(std::string_view method) {
  static constexpr std::array<std::string_view, 13> kMethods = {
      "float",   "double",    "half",  "t",      "reshape",    "view", "unsqueeze",
      "squeeze", "transpose", "clone", "detach", "contiguous", "numpy"};
  return std::find(kMethods.begin(), kMethods.end(), method) != kMethods.end();
}

// detectron2's meta-architectures (`GeneralizedRCNN`), timm's, torchvision's and MMDetection's
// models are nn.Modules: a class deriving from one is a module, whatever its name says.
bool is_module_base(std::string_view qualified) {
  for (const std::string_view library :
       {"detectron2.modeling.", "timm.models.", "torchvision.models.", "mmdet.models."}) {
    if (qualified.starts_with(library)) {
      return true;
    }
  }
  return false;
}

int cpu_checkpoint_output(std::string_view callee) {
  const size_t dot = callee.rfind('.');
  const std::string_view name = dot == std::string_view::npos ? callee : callee.substr(dot + 1);
  return name == "convert_zero_checkpoint_to_fp32_state_dict" ? 1 : -1;
}

} // namespace oomlint::model::library
