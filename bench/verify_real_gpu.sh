#!/usr/bin/env bash
# The verifier on real public programs, on a machine with an NVIDIA GPU. The programs are
# pytorch/examples pinned in bench/realcode/manifest-verify.tsv and materialised outside the
# repository's history (nothing of theirs is committed):
#   MANIFEST=bench/realcode/manifest-verify.tsv bench/realcode/materialise.sh bench/out/real
#  1. dcgan/main.py on `--dataset fake`, trained for a dry run to write its own checkpoints from
#     CUDA, then resumed from them (`netG.load_state_dict(torch.load(opt.netG))`) under
#     `oomlint verify`; and its twin, the same file with `map_location="cpu"` in both loads.
#  2. imagenet/main.py on `--dummy` data, resumed from a checkpoint saved from CUDA in the shape
#     its own save_checkpoint() writes (`checkpoint = torch.load(args.resume)`, kept for the run).
# Each run's JSON and probe samples (--keep-runs) go to $OUT (default bench/out/verify-real).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${OUT:-bench/out/verify-real}
real=${REAL:-bench/out/real}/pytorch-examples
python=${PYTHON:-python3}
mkdir -p "$out"
if [ -x build-device/oomlint ]; then
  oomlint=$root/build-device/oomlint
  export LD_LIBRARY_PATH="$root/build-device/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  oomlint=$root/build/analyzer/cli/oomlint
fi
export OOMLINT_PROBE_DIR="$root/verifier/probe"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  "$python" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
} > "$out/machine.txt" 2>&1
work=$(mktemp -d)

verify() { # name, folder, then the program's arguments
  local name=$1 dir=$2; shift 2
  (cd "$dir" && "$oomlint" verify --device cuda --steps "${STEPS:-20}" --timeout 300 --output-format json \
     --keep-runs "$out/runs/$name" -- "$python" "$@") > "$out/$name.json" 2> "$out/$name.err"
  echo "$name: exit $?" >> "$out/status.txt"
}

# 1. DCGAN: its own checkpoints from CUDA, then the resume as written and with the twin's loads.
cp -r "$real/dcgan" "$work/dcgan"
(cd "$work/dcgan" && "$python" main.py --dataset fake --accel --dry-run --niter 1 --workers 0 --outf "$work/ck") \
  > "$out/dcgan-train.log" 2>&1
ls -l "$work/ck" >> "$out/dcgan-train.log" 2>&1
resume=(--dataset fake --accel --niter 3 --workers 0 --netG "$work/ck/netG_epoch_0.pth" --netD "$work/ck/netD_epoch_0.pth")
verify dcgan "$work/dcgan" main.py "${resume[@]}" --outf "$work/out-dcgan"
cp -r "$real/dcgan" "$work/dcgan-twin"
sed -i 's/torch.load(opt.netG)/torch.load(opt.netG, map_location="cpu")/; s/torch.load(opt.netD)/torch.load(opt.netD, map_location="cpu")/' \
  "$work/dcgan-twin/main.py"
grep -n "torch.load" "$work/dcgan-twin/main.py" >> "$out/dcgan-twin.diff"
verify dcgan-twin "$work/dcgan-twin" main.py "${resume[@]}" --outf "$work/out-twin"

# 2. ImageNet on dummy data, resumed from a CUDA checkpoint in its save_checkpoint() shape.
cp -r "$real/imagenet" "$work/imagenet"
"$python" - "$work/imagenet/resume.pth.tar" > "$out/imagenet-checkpoint.log" 2>&1 <<'PY'
import sys, torch, torchvision
model = torch.nn.DataParallel(torchvision.models.resnet18()).cuda()
opt = torch.optim.SGD(model.parameters(), 0.1, momentum=0.9)
model(torch.randn(2, 3, 224, 224, device="cuda")).sum().backward()
opt.step()
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=30)
torch.save({"epoch": 1, "arch": "resnet18", "state_dict": model.state_dict(), "best_acc1": torch.tensor(0.0),
            "optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, sys.argv[1])
print("saved", sys.argv[1], torch.cuda.memory_allocated())
PY
verify imagenet "$work/imagenet" main.py -a resnet18 --dummy --epochs 2 -b 32 --workers 0 --resume resume.pth.tar

"$python" - "$out" > "$out/summary.txt" <<'PY'
import json, os, sys
out = sys.argv[1]
for name in ("dcgan", "dcgan-twin", "imagenet"):
    try:
        items = json.load(open(os.path.join(out, name + ".json")))
    except Exception:
        print(f"{name}: no JSON; stderr: {open(os.path.join(out, name + '.err')).read()[-600:]}")
        continue
    if not items:
        print(f"{name}: no finding to verify")
    for it in items:
        b = it["figures"]["baseline"]
        print(f"{name}: {it['code']} line {it['location']['row']} {it['verdict']} | load peak "
              f"{b['load_peak_delta_bytes'] / 2**20:.1f} MiB, left {b['load_allocated_delta_bytes'] / 2**20:.1f} MiB | "
              f"{it['reason']}")
PY
cat "$out/machine.txt" "$out/status.txt" "$out/summary.txt"
rm -rf "$work"
