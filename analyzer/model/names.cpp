// The naming vocabularies behind the model's heuristics. Each list is what real training
// code calls these things; the `extra-*` options extend them per project.
#include <algorithm>
#include <array>
#include <string_view>

#include "analyzer/model/model_impl.hpp"
#include "analyzer/support/strings.hpp"

namespace oomlint::model::names {

namespace {

template <size_t N> bool any_word_in(const Words& words, const std::array<std::string_view, N>& vocab) {
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (std::find(vocab.begin(), vocab.end(), words[i]) != vocab.end()) {
      return true;
    }
  }
  return false;
}

bool listed(std::string_view name, const std::vector<std::string>& extra) {
  return std::find(extra.begin(), extra.end(), name) != extra.end();
}

std::string_view last_component(std::string_view dotted) {
  const size_t dot = dotted.rfind('.');
  return dot == std::string_view::npos ? dotted : dotted.substr(dot + 1);
}

} // namespace

bool is_model_name(std::string_view name, const ModelOptions& options) {
  const std::string_view last = last_component(name);
  if (listed(last, options.extra_model_names) || listed(name, options.extra_model_names)) {
    return true;
  }
  static constexpr std::array<std::string_view, 32> kWords = {
      "model",         "models",     "net",         "network", "encoder", "decoder",     "backbone", "generator",
      "discriminator", "classifier", "transformer", "unet",    "vae",     "autoencoder", "policy",   "critic",
      "actor",         "teacher",    "student",     "resnet",  "bert",    "gpt",         "llm",      "netg",
      "netd",          "convnet",    "mlp",         "cnn",     "rnn",     "lstm",        "gru",      "lm"};
  const auto words = identifier_words(last);
  if (words.empty()) {
    return false;
  }
  // `model_path`, `model_name`, `net_cls`: the thing named is not the module instance.
  // `student_tokenizer`, `model_outputs`, `teacher_logits`: a value around a model, not the module.
  // `model_dump`, `model_validate`, `model_json_schema`: pydantic's methods, not a module.
  // `model_times`, `profile_model_time`: a measurement of the model.
  // `lm_eval`, `model_training`: a job run on a model (a harness, a launcher), not the module.
  // `model_to_device`, `model_device`: where a module goes, not the module.
  static constexpr std::array<std::string_view, 82> kNotModule = {
      "path",        "name",      "dir",        "file",       "config",      "cfg",        "args",     "type",
      "kwargs",      "id",        "size",       "params",     "state",       "url",        "cls",      "class",
      "factory",     "builder",   "fn",         "ctor",       "constructor", "kind",       "names",    "dict",
      "tokenizer",   "processor", "pipeline",   "pipe",       "scheduler",   "optimizer",  "loader",   "dataset",
      "output",      "outputs",   "out",        "pred",       "preds",       "logits",     "loss",     "feature",
      "features",    "embedding", "embeddings", "hidden",     "text",        "texts",      "token",    "tokens",
      "ids",         "mask",      "image",      "images",     "batch",       "inputs",     "input",    "labels",
      "accelerator", "trainer",   "weights",    "ckpt",       "checkpoint",  "sd",         "num",      "grads",
      "lr",          "version",   "tok",        "tokenizers", "dump",        "json",       "schema",   "fields",
      "validate",    "time",      "times",      "profile",    "eval",        "evaluation", "training", "benchmark",
      "device",      "devices"};
  // `tf_model`, `flax_model`, `keras_net`: another framework's model beside a torch one.
  static constexpr std::array<std::string_view, 5> kOtherFrameworks = {"tf", "flax", "jax", "keras", "onnx"};
  if (any_word_in(words, kNotModule) ||
      std::find(kOtherFrameworks.begin(), kOtherFrameworks.end(), words.front()) != kOtherFrameworks.end()) {
    return false;
  }
  // `get_model`, `fuse_model`, `make_transformer`: a verb first names a function, not a module.
  static constexpr std::array<std::string_view, 58> kVerbs = {
      "get",    "load",     "save",      "build",    "fuse",   "create",   "make",    "init",      "initialize",
      "set",    "prepare",  "convert",   "export",   "freeze", "unfreeze", "wrap",    "compile",   "copy",
      "update", "print",    "log",       "register", "apply",  "reset",    "setup",   "configure", "evaluate",
      "train",  "validate", "run",       "fit",      "is",     "unwrap",   "extract", "merge",     "has",
      "use",    "enable",   "disable",   "check",    "store",  "write",    "add",     "record",    "push",
      "send",   "compute",  "calculate", "delete",   "remove", "clear",    "drop",    "download",  "upload",
      "show",   "plot",     "count",     "restore"};
  if (words.size() > 1 && std::find(kVerbs.begin(), kVerbs.end(), words.front()) != kVerbs.end()) {
    return false;
  }
  if (!any_word_in(words, kWords) && last != "G" && last != "D") {
    return false;
  }
  // The last word names the thing (`model_info`, `model_message`, `net_stats`): a name whose model
  // word comes first is a module only where what follows names a module too, a part of one
  // (`lm_head`), or which one of several it is (`model_ema`, `netG`, `encoder_q`, `text_encoder_2`).
  static constexpr std::array<std::string_view, 40> kQualifiers = {
      "ema",      "swa",   "avg",    "engine", "wrapper", "wrapped", "old",     "new",    "ref",      "orig",
      "original", "base",  "target", "online", "shadow",  "ddp",     "dp",      "fsdp",   "compiled", "head",
      "heads",    "layer", "layers", "block",  "blocks",  "proj",    "embed",   "cell",   "body",     "stem",
      "neck",     "trunk", "tower",  "inner",  "outer",   "main",    "teacher", "student"};
  const std::string_view tail = words.back();
  const bool tail_is_model_word = std::find(kWords.begin(), kWords.end(), tail) != kWords.end();
  const bool tail_qualifies = tail.size() <= 2 ||
                              std::any_of(tail.begin(), tail.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
                              std::find(kQualifiers.begin(), kQualifiers.end(), tail) != kQualifiers.end();
  return words.size() == 1 || tail_is_model_word || tail_qualifies;
}

bool is_loss_name(std::string_view name, const ModelOptions& options) {
  const std::string_view last = last_component(name);
  if (listed(last, options.extra_loss_functions) || listed(name, options.extra_loss_functions)) {
    return true;
  }
  const auto words = identifier_words(last);
  if (words.empty()) {
    return false;
  }
  // Loggers and plotters of losses are not losses.
  // Nor are reductions of them for logging (`reduce_loss_dict`, `gather_losses`).
  static constexpr std::array<std::string_view, 20> kVerbs = {
      "log",    "print",  "plot", "save",  "record", "report", "write",  "show",   "display",   "track",
      "update", "format", "get",  "reset", "load",   "set",    "reduce", "gather", "aggregate", "summarize"};
  if (std::find(kVerbs.begin(), kVerbs.end(), words.front()) != kVerbs.end()) {
    return false;
  }
  // The last word names the thing: `loss_scaler` is a GradScaler, `loss_weight` a number.
  static constexpr std::array<std::string_view, 14> kOtherThings = {"scaler",  "scale", "meter", "meters",   "weight",
                                                                    "weights", "coef",  "coeff", "tracker",  "logger",
                                                                    "history", "name",  "names", "scheduler"};
  if (std::find(kOtherThings.begin(), kOtherThings.end(), words.back()) != kOtherThings.end()) {
    return false;
  }
  static constexpr std::array<std::string_view, 6> kWords = {"loss", "losses", "criterion",
                                                             "crit", "lossfn", "objective"};
  return any_word_in(words, kWords);
}

// `self.model_backward_and_update(loss)`, `trainer.backward_and_step(loss)`: a helper of the run
// that back-propagates the loss it is given (Dassl's trainers). The name must say nothing else:
// `save_for_backward`, `register_backward_hook`, `send_backward` and kernels' `*_backward` do not
// back-propagate their argument.
bool names_a_backward_helper(std::string_view method) {
  const auto words = identifier_words(method);
  if (words.size() < 2 || !words.contains("backward")) {
    return false;
  }
  static constexpr std::array<std::string_view, 16> kWords = {
      "backward", "model", "and", "update", "step",  "optimize", "optim", "optimizer",
      "loss",     "run",   "do",  "full",   "apply", "scaled",   "amp",   "then"};
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (std::find(kWords.begin(), kWords.end(), words[i]) == kWords.end()) {
      return false;
    }
  }
  return true;
}

// `Model(...)`, `GeneratorResNet(...)`, `MLP(...)`: a class-style name called builds an object;
// `G(z)`, `G_AB(x)`, `netG(z)`, `model(x)` call one (class names have no underscores).
bool is_class_style(std::string_view name) {
  return name.size() >= 2 && name.front() >= 'A' && name.front() <= 'Z' && name.find('_') == std::string_view::npos;
}

bool is_optimizer_name(std::string_view name) {
  static constexpr std::array<std::string_view, 6> kWords = {"optimizer", "optimiser",  "optim",
                                                             "opt",       "optimizers", "scaler"};
  return any_word_in(identifier_words(name), kWords);
}

bool is_meter_name(std::string_view name) {
  static constexpr std::array<std::string_view, 5> kWords = {"meter", "meters", "averagemeter", "avg", "tracker"};
  return any_word_in(identifier_words(last_component(name)), kWords);
}

// `generation_time`, `elapsed`, `num_tokens`: a measurement or a count, never a graph.
bool is_measurement_name(std::string_view name) {
  const auto words = identifier_words(last_component(name));
  if (words.empty()) {
    return false;
  }
  static constexpr std::array<std::string_view, 10> kLast = {"time", "times", "elapsed", "duration", "seconds",
                                                             "secs", "sec",   "ms",      "count",    "fps"};
  return std::find(kLast.begin(), kLast.end(), words.back()) != kLast.end() || words.front() == "num";
}

// `win_length`, `sampling_rate`, `n_mel_channels`, `is_half`: a setting passed to a module's
// `__init__`, a number or a flag rather than a layer.
bool is_numeric_setting_name(std::string_view name) {
  const auto words = identifier_words(last_component(name));
  if (words.empty()) {
    return false;
  }
  static constexpr std::array<std::string_view, 27> kLast = {
      "length", "size",        "rate",   "channels", "fft",   "sr",     "dim",       "eps",   "clamp",
      "fmin",   "fmax",        "stride", "ratio",    "scale", "factor", "threshold", "thred", "steps",
      "half",   "temperature", "width",  "height",   "bins",  "mels",   "insize",    "shape", "epsilon"};
  return std::find(kLast.begin(), kLast.end(), words.back()) != kLast.end() || words.front() == "num" ||
         words.front() == "n" || words.front() == "is" || words.front() == "use";
}

bool is_accuracy_name(std::string_view name) {
  static constexpr std::array<std::string_view, 5> kWords = {"accuracy", "acc", "correct", "top1", "top5"};
  return any_word_in(identifier_words(last_component(name)), kWords);
}

bool is_logging_record_name(std::string_view name) {
  static constexpr std::array<std::string_view, 9> kRecords = {"log",   "logs",    "logging", "info",   "infos",
                                                               "stats", "metrics", "record",  "summary"};
  const auto words = identifier_words(last_component(name));
  return !words.empty() && std::find(kRecords.begin(), kRecords.end(), words.back()) != kRecords.end();
}

bool is_loader_name(std::string_view expr_text) {
  static constexpr std::array<std::string_view, 19> kWords = {
      "loader",   "loaders", "dataloader", "dataloaders", "dl",         "batches", "batch",
      "iterator", "dataset", "data",       "sampler",     "prefetcher", "train",   "val",
      "valid",    "test",    "shards",     "minibatches", "pbar"};
  return any_word_in(identifier_words(expr_text), kWords);
}

bool names_evaluation_data(std::string_view expr_text) {
  static constexpr std::array<std::string_view, 8> kHeldOut = {"val",        "valid", "validation", "test",
                                                               "evaluation", "eval",  "dev",        "testing"};
  static constexpr std::array<std::string_view, 6> kData = {"loader", "dataloader", "dl", "dataset", "data", "batches"};
  const auto words = identifier_words(expr_text);
  return any_word_in(words, kHeldOut) && any_word_in(words, kData) && !words.contains("train");
}

bool is_step_count_name(std::string_view expr_text) {
  static constexpr std::array<std::string_view, 13> kWords = {"step",       "steps",   "iter",  "iters",   "iteration",
                                                              "iterations", "updates", "batch", "batches", "loader",
                                                              "dataloader", "update",  "it"};
  return any_word_in(identifier_words(expr_text), kWords);
}

bool is_phase_name(std::string_view name) {
  static constexpr std::array<std::string_view, 6> kWords = {"epoch", "epochs", "phase", "phases", "stage", "round"};
  return any_word_in(identifier_words(name), kWords);
}

bool is_test_case_name(std::string_view name) {
  return name.starts_with("test_") || (name.starts_with("test") && name.size() > 4 && name[4] >= 'A' && name[4] <= 'Z');
}

bool is_eval_function_name(std::string_view name, bool& needs_loop) {
  const auto words = identifier_words(name);
  static constexpr std::array<std::string_view, 12> kStrong = {"eval",       "evaluate",    "evaluation", "validate",
                                                               "validation", "val",         "valid",      "predict",
                                                               "prediction", "predictions", "inference",  "infer"};
  static constexpr std::array<std::string_view, 20> kWeak = {
      "test",      "testing",  "sample",     "sampling",  "generate",    "generation", "decode",
      "translate", "accuracy", "acc",        "metric",    "metrics",     "score",      "benchmark",
      "extract",   "embed",    "embeddings", "calibrate", "calibration", "forecast"};
  needs_loop = false;
  if (is_test_case_name(name)) {
    return false; // a test checks code; what it runs is the code's business, not an evaluation
  }
  // `predict_noise`, `predict_start_from_noise`, `predict_eps`: a diffusion model's
  // parameterisation, the same forward in training and in sampling.
  static constexpr std::array<std::string_view, 6> kDiffusionTargets = {"noise", "eps",    "epsilon",
                                                                        "x0",    "xstart", "velocity"};
  if ((words.contains("predict") || words.contains("pred")) && any_word_in(words, kDiffusionTargets)) {
    return false;
  }
  if (any_word_in(words, kStrong)) {
    return true;
  }
  if (any_word_in(words, kWeak)) {
    needs_loop = true; // `generate_anchors()`, `sample_indices()`: only with an evaluation loop
    return true;
  }
  return false;
}

// `evaluate_actions`, `eval_values`: a method that scores given inputs (the log-probabilities of
// the actions taken), which policy-gradient updates back-propagate. A bare `evaluate`, `sample` or
// `predict` names no such thing (`dist.sample()` feeds losses everywhere).
bool names_an_evaluation_of_inputs(std::string_view name) {
  const auto words = identifier_words(last_component(name));
  return words.size() >= 2 && (words.front() == "evaluate" || words.front() == "eval");
}

bool is_train_function_name(std::string_view name) {
  static constexpr std::array<std::string_view, 4> kWords = {"train", "training", "fit", "finetune"};
  return any_word_in(identifier_words(name), kWords);
}

bool is_torch_version_test(std::string_view condition) {
  return condition.find("torch_version") != std::string_view::npos ||
         condition.find("torch.__version__") != std::string_view::npos ||
         condition.find("TORCH_VERSION") != std::string_view::npos;
}

bool names_the_cpu(std::string_view to_arguments) {
  return to_arguments.find("cpu") != std::string_view::npos;
}

bool is_forward_method(std::string_view name) {
  return name == "forward" || name.ends_with("_forward");
}

bool is_setting_of_a_run(std::string_view dotted) {
  const std::size_t dot = dotted.find('.');
  if (dot == std::string_view::npos) {
    return false;
  }
  std::string_view root = dotted.substr(0, dot);
  if (root == "self") {
    const std::size_t next = dotted.find('.', dot + 1);
    if (next == std::string_view::npos) {
      return false;
    }
    root = dotted.substr(dot + 1, next - dot - 1);
  }
  static constexpr std::array<std::string_view, 10> kSettings = {"args", "cfg",     "config", "opt",   "opts",
                                                                 "conf", "hparams", "flags",  "FLAGS", "hp"};
  return std::find(kSettings.begin(), kSettings.end(), root) != kSettings.end();
}

bool is_standard_library_module(std::string_view root) {
  static constexpr std::array<std::string_view, 40> kModules = {"codecs",       "json",
                                                                "re",           "io",
                                                                "os",           "sys",
                                                                "subprocess",   "threading",
                                                                "queue",        "collections",
                                                                "itertools",    "logging",
                                                                "csv",          "socket",
                                                                "asyncio",      "http",
                                                                "urllib",       "zipfile",
                                                                "tarfile",      "tempfile",
                                                                "pathlib",      "shutil",
                                                                "time",         "datetime",
                                                                "random",       "string",
                                                                "struct",       "hashlib",
                                                                "base64",       "textwrap",
                                                                "difflib",      "argparse",
                                                                "configparser", "multiprocessing",
                                                                "concurrent",   "sqlite3",
                                                                "uuid",         "xml",
                                                                "html",         "email"};
  return std::find(kModules.begin(), kModules.end(), root) != kModules.end();
}

bool is_per_step_method(std::string_view name) {
  if (name == "forward" || name == "compute_loss" || name == "training_step" || name == "__call__") {
    return name != "__call__";
  }
  if (name.ends_with("_step") || name == "step") {
    return name != "step";
  }
  return name.starts_with("on_") && name.ends_with("_batch_end");
}

// `val_step` is MMEngine's and MMCV's, `eval_batch_end`/`eval_after_forward` a Composer
// callback's: their evaluation loops call them under `torch.no_grad()`.
bool is_framework_eval_step(std::string_view name) {
  static constexpr std::array<std::string_view, 19> kNames = {"validation_step",
                                                              "val_step",
                                                              "eval_batch_end",
                                                              "eval_after_forward",
                                                              "test_step",
                                                              "predict_step",
                                                              "validation_step_end",
                                                              "test_step_end",
                                                              "validation_epoch_end",
                                                              "test_epoch_end",
                                                              "on_validation_batch_end",
                                                              "on_test_batch_end",
                                                              "on_predict_batch_end",
                                                              "on_validation_epoch_end",
                                                              "on_test_epoch_end",
                                                              "on_validation_batch_start",
                                                              "on_test_batch_start",
                                                              "on_predict_epoch_end",
                                                              "on_predict_batch_start"};
  return std::find(kNames.begin(), kNames.end(), name) != kNames.end();
}

bool is_grad_disabling_decorator_name(std::string_view name, const ModelOptions& options) {
  const std::string_view last = last_component(name);
  if (listed(last, options.extra_grad_disabled_decorators) || listed(name, options.extra_grad_disabled_decorators)) {
    return true;
  }
  const auto words = identifier_words(last);
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    if ((words[i] == "no" && words[i + 1] == "grad") || (words[i] == "inference" && words[i + 1] == "mode")) {
      return true;
    }
  }
  return last == "nograd" || last == "inference_mode";
}

bool is_torch_loss_function(std::string_view qualified) {
  if (!qualified.starts_with("torch.nn.functional.")) {
    return false;
  }
  const std::string_view fn = qualified.substr(std::string_view("torch.nn.functional.").size());
  static constexpr std::array<std::string_view, 9> kExact = {
      "cross_entropy",       "nll_loss", "kl_div",           "binary_cross_entropy", "binary_cross_entropy_with_logits",
      "triplet_margin_loss", "ctc_loss", "poisson_nll_loss", "gaussian_nll_loss"};
  return fn.ends_with("_loss") || std::find(kExact.begin(), kExact.end(), fn) != kExact.end();
}

bool is_torch_loss_class(std::string_view qualified) {
  return qualified.starts_with("torch.nn.") && qualified.ends_with("Loss");
}

bool is_decoding_cache_name(std::string_view name) {
  // Kept on the module between calls (`self.cache_k`); a local `past` carried through a training
  // loop is that loop's recurrent state.
  if (name.find('.') == std::string_view::npos) {
    return false;
  }
  const auto words = identifier_words(name.substr(name.rfind('.') + 1));
  if (!words.contains("cache") && !words.contains("past")) {
    return false;
  }
  static constexpr std::array<std::string_view, 7> kKeysValues = {"k", "v", "kv", "key", "keys", "value", "values"};
  return std::any_of(kKeysValues.begin(), kKeysValues.end(), [&](std::string_view w) { return words.contains(w); });
}

bool is_parameter_free_layer(std::string_view qualified) {
  // torchaudio's transforms (`MelSpectrogram`, `Resample`, `AmplitudeToDB`) hold buffers only.
  if (qualified.starts_with("torchaudio.transforms.")) {
    return true;
  }
  if (!qualified.starts_with("torch.nn.")) {
    return false;
  }
  const std::string_view cls = qualified.substr(qualified.rfind('.') + 1);
  static constexpr std::array<std::string_view, 24> kExact = {"Upsample",
                                                              "UpsamplingBilinear2d",
                                                              "UpsamplingNearest2d",
                                                              "Identity",
                                                              "Flatten",
                                                              "Unflatten",
                                                              "ReLU",
                                                              "ReLU6",
                                                              "GELU",
                                                              "SiLU",
                                                              "Sigmoid",
                                                              "Tanh",
                                                              "LeakyReLU",
                                                              "ELU",
                                                              "Mish",
                                                              "Softmax",
                                                              "LogSoftmax",
                                                              "Hardswish",
                                                              "PixelShuffle",
                                                              "PixelUnshuffle",
                                                              "Unfold",
                                                              "Fold",
                                                              "CosineSimilarity",
                                                              "PairwiseDistance"};
  // Pools, dropouts and paddings of every dimension (`MaxPool2d`, `AdaptiveAvgPool1d`, `Dropout2d`,
  // `ConstantPad1d`, `ReflectionPad2d`).
  return std::find(kExact.begin(), kExact.end(), cls) != kExact.end() || cls.find("Pool") != std::string_view::npos ||
         cls.starts_with("Dropout") || cls.find("Pad") != std::string_view::npos;
}

// `xs.index(min(xs))`, `tokens.count(pad)`: a list's (or a string's) position and count are ints;
// a tensor has neither method.
bool is_grad_killing_method(std::string_view method) {
  static constexpr std::array<std::string_view, 12> kMethods = {
      "item", "detach", "detach_", "tolist", "numpy", "size", "dim", "numel", "index", "count", "__len__", "nelement"};
  return std::find(kMethods.begin(), kMethods.end(), method) != kMethods.end();
}

bool names_a_tensor_type(std::string_view name) {
  return name == "dtype" || name == "tensor_type" || name == "Tensor" || name.ends_with("_dtype");
}

bool is_module_returning_method(std::string_view method) {
  static constexpr std::array<std::string_view, 12> kMethods = {"to",     "cuda",           "cpu",      "train",
                                                                "eval",   "half",           "float",    "bfloat16",
                                                                "double", "requires_grad_", "to_empty", "share_memory"};
  return std::find(kMethods.begin(), kMethods.end(), method) != kMethods.end();
}

bool is_forward_like_method(std::string_view method) {
  // The last three are the RL agent's forwards (CleanRL's convention: the policy and value heads).
  static constexpr std::array<std::string_view, 13> kMethods = {"forward",
                                                                "encode",
                                                                "decode",
                                                                "forward_features",
                                                                "extract_features",
                                                                "embed",
                                                                "get_image_features",
                                                                "get_text_features",
                                                                "features",
                                                                "forward_train",
                                                                "get_action",
                                                                "get_value",
                                                                "get_action_and_value"};
  return std::find(kMethods.begin(), kMethods.end(), method) != kMethods.end();
}

bool is_part_forward_method(std::string_view method) {
  return method.starts_with("encode_") || method.starts_with("decode_") || method.starts_with("forward_");
}

bool is_metadata_attribute(std::string_view attr) {
  // `main_grad`: the gradient buffer Megatron and Transformer Engine keep beside a parameter.
  static constexpr std::array<std::string_view, 13> kAttrs = {
      "shape", "dtype",   "device",  "data",   "grad",  "requires_grad", "is_cuda",
      "ndim",  "grad_fn", "is_leaf", "layout", "names", "main_grad"};
  return std::find(kAttrs.begin(), kAttrs.end(), attr) != kAttrs.end();
}

} // namespace oomlint::model::names
