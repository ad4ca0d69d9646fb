#!/usr/bin/env bash
# The main job that exists today (the streaming demo replaces it when it lands):
# synthetic data -> export two model sizes to ONNX (checked against PyTorch) -> evaluate ->
# benchmark both alternately in fresh processes -> comparison table and plot.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-runs/demo}"
ev="$root/.venv/bin/edgevision"
py="$root/.venv/bin/python"
mkdir -p "$out/models"

echo "== 1/5 synthetic data (deterministic, seed 1)"
"$ev" data synth --out "$out/synth" --seed 1 --overwrite --no-progress

classes=$("$py" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["classes"])' "$out/synth/dataset.yaml")
echo "== 2/5 export DeepLabV3+ MobileNetV2 at width 1.0 and 0.5 (untrained weights) to ONNX"
for w in 1.0 0.5; do
  "$ev" export deeplabv3plus_mobilenetv2 -o "$out/models/deeplabv3plus_mnv2_w${w}.onnx" \
    --input 256x256 -m width_mult=$w -m "class_names=$classes"
done

echo "== 3/5 evaluate on the synthetic val split (untrained: chance-level accuracy expected)"
"$ev" eval "$out/models/deeplabv3plus_mnv2_w1.0.onnx" --data "$out/synth" --split val \
  --json "$out/eval_w1.0.json"

echo "== 4/5 benchmark both models, alternating blocks, each block a fresh process, 2 threads"
"$ev" bench "$out/models/deeplabv3plus_mnv2_w1.0.onnx" "$out/models/deeplabv3plus_mnv2_w0.5.onnx" \
  --threads 2 --runs 60 --warmup 10 --blocks 3 --data "$out/synth" --split val \
  --json "$out/bench.json"

echo "== 5/5 comparison table and plot"
"$ev" bench --compare "$out/bench.json" --md "$out/bench.md" --plot "$out/bench.png"

echo
echo "Outputs in $out/:"
echo "  synth/            synthetic images, videos, COCO/YouTube-VIS JSON, masks, optical flow"
echo "  models/*.onnx     exported models with their spec in metadata_props"
echo "  eval_w1.0.json    per-class IoU of the untrained model (pipeline check, not a result)"
echo "  bench.json        latency percentiles, FPS, per-stage times, RSS, size, params, GFLOPs"
echo "  bench.md, bench.png  comparison table and accuracy-vs-latency plot"
