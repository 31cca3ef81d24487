// OOM401 load-without-map-location: torch.load(...) that restores tensors onto the device
// they were saved from.
#include <fmt/format.h>

#include "analyzer/rule_api.hpp"
#include "rules/fixes.hpp"

namespace oomlint::rules {

namespace {

const RuleMeta kMeta{
    .code = "OOM401",
    .name = "load-without-map-location",
    .severity = Severity::Warning,
    .default_enabled = true,
    .fix = FixAvailability::Sometimes,
    .summary = "torch.load() without map_location restores tensors onto the device they were saved from",
    .what = "Finds calls to `torch.load` (through any import alias) that pass no `map_location` and load a "
            "model's or optimizer's state: the result (or a part of it: `obj[\"weights\"]`) goes to "
            "`load_state_dict`, the result or the path is named as a checkpoint (`ckpt`, `checkpoint`, "
            "`state_dict`, `weights`, `model`, ...), or the code reads the result's model or optimizer state "
            "by key (`x[\"state_dict\"]`, `x[\"optimizer\"]`).",
    .why = "A checkpoint saved from GPU tensors is loaded straight back onto that GPU: the whole checkpoint "
           "is allocated there at the call, next to the model it is about to be copied into. Under "
           "DistributedDataParallel every rank saved from `cuda:0` loads its copy onto GPU 0.",
    .example = "state = torch.load(\"checkpoint.pt\")\nmodel.load_state_dict(state[\"model\"])\n",
    .use_instead = "state = torch.load(\"checkpoint.pt\", map_location=\"cpu\")\n"
                   "model.load_state_dict(state[\"model\"])\n",
    .fine_when =
        "`map_location` is given (by keyword or as the second argument), or the arguments come from "
        "`**kwargs` that may carry it. `torch.jit.load` and a project's own `load` are not `torch.load`. "
        "Files that hold data rather than a model's state (features, labels, datasets, metadata, a "
        "GradScaler's state, a load passed straight to a scheduler's `load_state_dict` or read from "
        "`scheduler.pt`, a torch2trt `TRTModule`'s serialized engine) are left alone: they are usually saved from the "
        "CPU or hold no tensors. So are loads in a module "
        "that shows it writes its checkpoints from the CPU (FSDP state gathered with `offload_to_cpu=True`, "
        "or a model moved with `.cpu()`, `.to(\"cpu\")` or `set_device(torch.device(\"cpu\"))` before it or its "
        "`state_dict()` is saved, or in the save itself: `torch.save(net.cpu().state_dict(), path)`), a load of a "
        "path the same "
        "module saves to when nothing in that module puts tensors on an accelerator, and a load of the file "
        "`convert_zero_checkpoint_to_fp32_state_dict(src, out)` wrote earlier in the function (DeepSpeed and "
        "Lightning merge ZeRO shards on the CPU). So is a published file the "
        "code downloads (`path = hf_hub_download(...)`, or `if not os.path.exists(path):` followed by a "
        "download, `path` a name or the same literal): weights published for everyone are saved from the CPU; "
        "weights converted from Caffe (`vgg16_caffe.pth`, `opt.caffe_pretrain_path`), built on the CPU by the "
        "conversion; weights read from `[\"params\"]` or `[\"params_ema\"]` (BasicSR's checkpoint layout, "
        "whose `save_network` moves every parameter to the CPU first: ESRGAN, GFPGAN, SwinIR, Restormer); "
        "and a run's settings read back (`train_args = torch.load(...)`, "
        "`os.path.join(ckpt, \"model_args.pth\")`), an argparse namespace with no tensors. Test code (every function "
        "of a "
        "test file that holds a test case: the tests, test classes, their helpers and tester classes) is "
        "left alone too: a test holds a small checkpoint for a moment and exits. A script only named like "
        "a test (`test_policy.py` with a `main()` and no test case) is linted as a program.",
    .fix_safety = "Unsafe: code that relies on the loaded tensors being on the GPU (without `.to(device)` or "
                  "`load_state_dict`) would now get CPU tensors. No edit is offered where the load is bound to a "
                  "name for a whole module or tensors used as they come back (`model = torch.load(f)`, "
                  "`embeddings = torch.load(p)`): there `map_location` must go with a move the code does not show.",
    .options = {},
    .measured = "On an H200 (torch 2.11): loading a 1.55 GiB checkpoint saved from the GPU raised allocated "
                "memory at the call from 0.64 to 2.19 GiB; with `map_location=\"cpu\"` it stayed at 0.64 GiB "
                "(load time 1.03 vs 1.06 s)."
                " `oomlint verify` on an H200 (examples/gpu/load_checkpoint.py): allocated memory rose by 132 MiB "
                "across the load call (the whole checkpoint), 0 with `map_location=\"cpu\"`.",
    .references = "https://pytorch.org/docs/stable/generated/torch.load.html",
    .verify = {.measure = VerifyMeasure::Load},
};

void check(RuleContext& ctx) {
  const model::Model& m = ctx.model;
  for (const model::Call& call : m.calls()) {
    // A test loads a small checkpoint for a moment and exits: not where a run runs out of memory.
    if (call.qualified != "torch.load" || !call.has_argument_list() || m.in_test_code(call.scope)) {
      continue;
    }
    if (call.keyword("map_location", m.source().text()) || call.positional(1) || call.has_star_args()) {
      continue;
    }
    // Only a model's or optimizer's state costs GPU memory here: the code says so by passing it
    // to `load_state_dict` or naming it a checkpoint. Datasets, features and metadata saved from
    // the CPU are not.
    const model::Model::Receiver to = m.receiver_of(call.node);
    // Or the path says so (`torch.load(checkpoint_path)`, `"model_best.pth"`), unless the result's
    // own name says it is data.
    const auto path = call.argument("f", 0, m.source().text());
    const bool checkpoint_path = path && model::Model::is_checkpoint_name(m.text(path->value)) &&
                                 !model::Model::names_data_not_state(to.bound_name);
    const bool state =
        to.consumer == "load_state_dict" || to.consumer == "load_state_dict_into_model" || checkpoint_path ||
        (!to.bound_name.empty() && (model::Model::is_checkpoint_name(to.bound_name) ||
                                    m.reaches_load_state_dict(to.bound_name, call.scope, ts_node_end_byte(call.node)) ||
                                    m.reads_state_entries(to.bound_name, call.scope, ts_node_end_byte(call.node))));
    // The project's own checkpoints written from the CPU come back on the CPU.
    if (!state || m.loads_straight_into_small_state(call) ||
        m.restores_only_small_state(to.bound_name, call.scope, ts_node_end_byte(call.node)) ||
        m.saves_checkpoints_from_cpu() || m.reads_back_a_cpu_only_save(call) || m.reads_back_a_cpu_conversion(call) ||
        m.loads_a_published_download(call) || m.loads_an_engine_module(call) ||
        m.loads_saved_settings(call, to.bound_name) || m.loads_converted_caffe_weights(call) ||
        m.loads_a_basicsr_checkpoint(call, to.bound_name)) {
      continue;
    }
    // A whole module or tensors used as loaded would stay on the CPU: moving them is the user's call.
    std::optional<Fix> fix;
    if (to.consumer == "load_state_dict" || to.consumer == "load_state_dict_into_model" ||
        !model::Model::names_an_object_used_as_loaded(to.bound_name)) {
      fix = add_keyword_argument(m, call, "map_location=\"cpu\"", Applicability::Unsafe, "Add `map_location=\"cpu\"`");
    }
    ctx.reporter.report(kMeta, call.node,
                        "`torch.load` without `map_location` puts every tensor back on the device it was saved "
                        "from: a checkpoint saved from a GPU is allocated on that GPU here (under DDP, on every "
                        "rank's GPU 0); pass `map_location=\"cpu\"`",
                        std::move(fix));
  }
}

} // namespace

Rule make_OOM401_load_without_map_location() {
  return Rule{&kMeta, &check};
}

} // namespace oomlint::rules
