// OOM201 eval-without-no-grad: a forward pass in evaluation or generation code that runs
// with autograd on.
#include <algorithm>

#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM201",
    .name = "eval-without-no-grad",
    .severity = Severity::Warning,
    .default_enabled = true,
    .fix = FixAvailability::Sometimes,
    .summary = "A forward pass in evaluation code runs without torch.inference_mode() or torch.no_grad()",
    .what = "Finds forward passes (`model(x)`, `self.encoder(x)`, `model(**batch)`, a head of a model class of "
            "the file that runs its own layers (`model.pi(s)`), or a helper of the same "
            "class or file that runs the model and returns its outputs) in evaluation, validation, "
            "prediction or generation code -- a function named so (`evaluate`, `validate`, `predict`, "
            "`run_inference`, ...), the code after `model.eval()`, a loop over held-out data that runs no backward "
            "(`for inputs in validation_dataloader:`, also through `pbar = tqdm(test_loader)`), or a script "
            "that restores trained weights "
            "and trains nothing (its `__main__` block, the functions that block calls and those they call in "
            "turn, a model restored in one reaching the next as an argument, unless the call sits behind a "
            "switch the user turns on, or its module-level code, "
            "calling a model it loaded: `net.load_state_dict(...)`, `model = torch.load(...)`, "
            "`model = torch.hub.load(...)`, `model = GPT2LMHeadModel.from_pretrained(...)`) -- that are not under "
            "`torch.inference_mode()`/`torch.no_grad()`.",
    .why = "`model.eval()` only switches dropout and batch norm to inference behaviour; it does not turn off "
           "autograd. Every forward then records a graph and keeps each layer's activations for a backward "
           "that never comes, so an evaluation step needs the memory of a training step, and any output kept "
           "past the step keeps all of it alive.",
    .example = "def evaluate(model, loader):\n"
               "    model.eval()\n"
               "    for x, y in loader:\n"
               "        preds = model(x)\n",
    .use_instead = "@torch.inference_mode()\n"
                   "def evaluate(model, loader):\n"
                   "    model.eval()\n"
                   "    for x, y in loader:\n"
                   "        preds = model(x)\n",
    .fine_when =
        "The evaluation needs gradients (adversarial examples, Grad-CAM, `torch.autograd.grad`, "
        "`requires_grad_()`); the module is frozen (`requires_grad_(False)`) or unpickled as it was saved "
        "(`pickle.load(f)[\"ema\"]`), so its forward on data builds no graph; its class freezes itself in "
        "`__init__` (`self.requires_grad_(False)`, or a `freeze()` it calls) and nothing in it unfreezes, also "
        "where a factory of another module builds it (`libs.autoencoder.get_model(path)` returning "
        "`FrozenAutoencoderKL(...)`); a legacy tensor type kept to allocate with (`self.dtype(1).zero_()` with "
        "`dtype=torch.FloatTensor`) runs no "
        "module; a layer without parameters "
        "(`nn.CosineSimilarity()`, `nn.Upsample(...)`, `nn.ConstantPad1d(...)`, a module whose `__init__` only "
        "registers buffers and keeps "
        "settings such as `hop_length`, one with no `__init__` that stores nothing on `self`, or a subclass of such a "
        "module of the same file that adds none) keeps no graph of its own; a model argument that every caller in "
        "the file freezes before passing it (`model.requires_grad_(False); evaluate_coco(..., model)`); the `with` "
        "calls a helper above it whose every "
        "return is `torch.no_grad()` or `torch.inference_mode()`; a method named for evaluation whose results "
        "another module back-propagates (`values, log_probs, entropy = self.policy.evaluate_actions(...)` in a "
        "PPO update); an override that a base class in another module calls through `self` under `no_grad` and "
        "leaves to its subclasses (`raise NotImplementedError`); the model is another "
        "framework's (`tf_model`, a Flax script that imports transformers, a MegEngine or OneFlow demo); a call that "
        "moves a module rather than runs it (`self.model_to_device(net)`), or a weak reference called to get its "
        "object back (`self.sd_ref()`); an nn.Module's own `forward` that switches what it wraps to eval mode "
        "(a lagged target network), whose callers choose the grad mode; a helper nested in a function "
        "that is not evaluation code is named for what it does there (`def render_rays(...): def "
        "inference(...)`), its grad mode the outer function's callers' choice; `model.eval()` is used to freeze "
        "batch norm while training goes on, or a function puts a teacher in eval mode and its caller "
        "back-propagates what it returns (`loss, metrics = train_step(batch)`); "
        "Lightning's `validation_step`/`test_step`/`predict_step`, MMEngine's `val_step` and a Composer "
        "callback's `eval_batch_end` (already grad-disabled), and the same "
        "hooks (and `valid_step`) overridden in a class with a framework base, such as a fairseq or LAVIS "
        "task, whose trainer runs them with autograd off; Hugging Face "
        "`generate()` (already grad-disabled); a module whose class runs the called method without autograd itself "
        "(`@torch.inference_mode()` on `forward`, `@torch.no_grad()` on `encode`, in this file or in another "
        "module of the run that is the only one of its name), or that returns only what it computes under "
        "`no_grad` (`def forward(self, mel): <lazy load>; with torch.no_grad(): return self.net(mel)`) or only tensors "
        "known to carry no graph (`return self.inner.generate(ids)[..., -horizon:]`; an attribute typed by an "
        "annotation in the class body, `model: Forecaster`, counts as that class), also "
        "where the module was picked in one of several branches before `model = model.to(device)`; a method that "
        "nothing in its module calls and that other modules call by name, on objects of no known class, only "
        "under `no_grad` (`policy.predict_action(obs)` in every env runner); a call passing a tokenizer's own "
        "arguments (`model.encode(texts, return_tensors=\"pt\")`, `truncation=True`), which encodes text "
        "whatever its receiver is called; a method of a model class that trains nothing and "
        "that only other modules call (`def predict(self, x): self.net_avg.eval(); return self.net_avg(x)`), whose "
        "callers choose the grad mode; a helper only ever called from grad-disabled code, also through a table or a "
        "conditional that picks it (`fn = [infer_plain, infer_flipped][level]` called under `no_grad`), or through "
        "`self` from a base or subclass method; a "
        "function "
        "named for evaluation that training code also calls (a backward follows it, or a loss for one is "
        "computed from it: `def training_loss(self, batch): output = self.predict(batch)`), or a loss method that "
        "reads a critic in eval mode and returns the loss (`def actor_loss(self, obs): self.critic.eval(); ...`); "
        "a diffusion model's parameterisation named `predict_noise`/`predict_eps`, which training calls as well; a "
        "test that stubs parts of the module it calls (`monkeypatch.setattr(attn.indexer, ...)`, "
        "`mock.patch.object(attn, ...)`); a plain class of the project (`encoder = Encoder(args)`, no nn.Module "
        "base; or bases in other modules of the run that are plain all the way down, `model: HFDecoderModel` "
        "over `class BaseModel:`, whatever its name says) and a module class whose `__init__` keeps only settings and "
        "parameter-free layers "
        "(`torchaudio.transforms.MelSpectrogram`), also when imported through a package's `__init__.py`; what "
        "these say holds for modules of folders without `__init__.py` too, imported by their path from a folder "
        "above (`from decision_transformer.evaluation.evaluate_episodes import ...` run from `gym/`); a call "
        "whose name starts with a model word but names something else (`api.model_info(name)`, "
        "`request.model_copy(...)`, `mlp_fast_forward_inference(...)`).",
    .fix_safety = "Unsafe: tensors created under `torch.inference_mode()` can never re-enter autograd; if the "
                  "evaluation's outputs are later used in a differentiable computation, use `torch.no_grad()`. "
                  "The decorator is offered only on a whole evaluation function that trains nothing, and not on "
                  "a method, whose callers elsewhere may train with what it returns.",
    .options = {},
    .measured = "On an H200 (torch 2.11, a 138.5M-parameter residual MLP): an evaluation step after "
                "`model.eval()` without a grad-disabling context peaks at 3.33 GiB allocated against 1.02 GiB "
                "under `torch.inference_mode()`, and holds 1.25 GiB more at the end of each iteration."
                " `oomlint verify` on an H200 (examples/gpu/eval_no_grad.py): peak allocated per step 885 MiB as "
                "written, 309 MiB under `torch.inference_mode()`.",
    .references = "https://pytorch.org/docs/stable/generated/torch.inference_mode.html",
    .verify = {.measure = VerifyMeasure::Peak, .transform = VerifyTransform::NoGradStatement},
};

// Decorating is only a fix for a whole evaluation function that never trains (a `trainer.fit`
// inside would then run without gradients).
std::optional<Fix> decorate_fix(const model::Model& m, const model::EvalRegion& region) {
  const auto torch = module_alias(m, "torch");
  if (!region.whole_function || !torch || m.calls_training_methods(region.scope)) {
    return std::nullopt;
  }
  const model::Scope& scope = m.scope(region.scope);
  if (scope.class_scope != model::kNone) {
    // A method is called through its object, also by training code in other files (a diffusion
    // model's `model_predictions` from its `p_losses`): the decorator would turn what they get
    // into inference tensors, which autograd refuses to save.
    return std::nullopt;
  }
  return add_decorator(m, scope.node, *torch + ".inference_mode()", Applicability::Unsafe,
                       fmt::format("Decorate `{}` with `@{}.inference_mode()`", scope.name, *torch));
}

void check(RuleContext& ctx) {
  const model::Model& m = ctx.model;
  std::vector<std::size_t> reported;
  for (const model::EvalRegion& region : m.eval_regions()) {
    const std::size_t first_forward = region.forward_calls.front();
    if (std::find(reported.begin(), reported.end(), first_forward) != reported.end()) {
      continue;
    }
    reported.push_back(first_forward);
    const model::Call& first = m.calls()[first_forward];
    ctx.reporter.report(
        kMeta, first.node,
        fmt::format("`{}(...)` runs with autograd on in evaluation code ({}): the forward keeps its activations "
                    "for a backward that never comes (`model.eval()` does not disable autograd); run it under "
                    "`torch.inference_mode()`",
                    short_text(m, first.function), region.reason),
        decorate_fix(m, region));
    ctx.reporter.attach({
        note_at(region.anchor, fmt::format("evaluation code: {}", region.reason)),
        note_at(first.node, "no `no_grad`/`inference_mode` around this call, in this function or in any caller seen"),
    });
  }
}

} // namespace

Rule make_OOM201_eval_without_no_grad() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
