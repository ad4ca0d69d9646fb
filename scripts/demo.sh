#!/usr/bin/env bash
# The main job: the streaming demo. With no arguments, on a fresh machine:
#   1. generate the built-in sample video (synthetic, deterministic, H.264 MP4 via GStreamer);
#   2. run the best shipped model (weights/; an untrained registry model until one is shipped)
#      through the GStreamer pipeline: decode -> bounded queue -> inference worker -> overlay
#      -> H.264 MP4, plus one JSON line per frame;
#   3. per-frame vs video mode (instance models) and FP32 vs INT8 (when an INT8 model is shipped);
#   4. a short report comparing them.
# Usage: scripts/demo.sh [OUT_ROOT]   (default runs/demo; outputs in OUT_ROOT/out/)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base="${1:-runs/demo}"
out="$base/out"
ev="$root/.venv/bin/edgevision"
py="$root/.venv/bin/python"
frames_video=${DEMO_VIDEO_FRAMES:-20}   # frames for the PyTorch per-frame / video-mode rows
mkdir -p "$out"
rm -f "$out"/run_*.json
t0=$(date +%s)

echo "== 1/4 sample video (synthetic scene, seed 1, 640x480, 150 frames, H.264)"
"$ev" run --sample "$out/sample.mp4"

echo "== 2/4 model"
eval "$("$py" -m edgevision.stream.demo pick "$root/weights")"
echo "   $WHY"

echo "== 3/4 stream: $out/sample.mp4 -> $MODEL -> $out/demo.mp4 + demo.jsonl"
"$ev" run "$out/sample.mp4" --model "$MODEL" --threads 2 --out "$out/demo.mp4" \
  --meta "$out/demo.jsonl" --summary "$out/run_perframe_fp32.json" --no-progress

if [ -n "$INT8" ]; then
  echo "   ... the same with the INT8 model $INT8"
  "$ev" run "$out/sample.mp4" --model "$INT8" --threads 2 --out null \
    --summary "$out/run_perframe_int8.json" --no-progress
fi

if [ "$TASK" = instance ] && [ -n "$CKPT" ] && "$py" -c 'import torch' 2>/dev/null; then
  echo "== 3b/4 per-frame vs video mode (YolactEdge keyframes), first $frames_video frames, PyTorch"
  "$ev" run "$out/sample.mp4" --model "$CKPT" --engine torch --threads 2 --out null \
    --max-frames "$frames_video" --summary "$out/run_perframe_torch.json" --no-progress -q
  if ! "$ev" run "$out/sample.mp4" --model "$CKPT" --video --threads 2 --out null \
    --max-frames "$frames_video" --summary "$out/run_video_torch.json" --no-progress -q; then
    echo "   (video mode unavailable for $CKPT: see the error above; report has no video row)"
  fi
fi

echo "== 4/4 report"
"$py" -m edgevision.stream.demo report "$out" "$WHY"

echo
echo "Outputs in $out/ ($(( $(date +%s) - t0 )) s):"
echo "  sample.mp4     the input: a deterministic synthetic scene (edgevision run --sample)"
echo "  demo.mp4       the model's overlay, encoded by GStreamer"
echo "  demo.jsonl     one line per frame: stream, frame index, timestamp, latency, results"
echo "  run_*.json     run summaries (FPS, per-stage latency percentiles, drops, decoder choice)"
echo "  report.md      per-frame vs video mode, FP32 vs INT8 (where available)"
echo "Model: $WHY"
