#!/usr/bin/env bash
# The main job: the streaming demo. With no arguments, on a fresh machine:
#   1. generate the built-in sample video (synthetic, deterministic, H.264 MP4 via GStreamer);
#   2. pick the best shipped model (weights/; an untrained registry model until one is shipped);
#   3. stream the sample through the GStreamer pipeline: decode -> bounded queue -> inference
#      worker -> overlay -> H.264 MP4, plus one JSON line per frame. An instance model runs as
#      ONNX Runtime component graphs on the default video path of `run --video` (keyframes
#      every 2 frames on INT8 components with FPN and head FP32, masks moved by DIS flow between);
#   4. per-frame FP32, the default video path and per-frame INT8 in two alternating rounds with
#      the same outputs, and a short report comparing them (medians over the rounds).
# Usage: scripts/demo.sh [OUT_ROOT]   (default runs/demo; outputs in OUT_ROOT/out/)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base="${1:-runs/demo}"
out="$base/out"
ev="$root/.venv/bin/edgevision"
py="$root/.venv/bin/python"
mkdir -p "$out"
rm -f "$out"/run_*.json
t0=$(date +%s)
common=(--threads 2 --no-progress -q)

echo "== 1/4 sample video (synthetic scene, seed 1, 640x480, 150 frames, H.264)"
"$ev" run --sample "$out/sample.mp4"

echo "== 2/4 model"
eval "$("$py" -m edgevision.stream.demo pick "$root/weights")"
echo "   $WHY"

if [ "$TASK" = instance ] && [ -n "$CKPT" ]; then
  echo "== 3/4 components of $CKPT (ONNX Runtime graphs; FP32 and INT8 with FPN + head FP32)"
  rm -rf "$out/components" "$out/components_int8" "$out/calib"
  "$ev" export "$CKPT" -o "$out/components" --components > /dev/null
  "$py" -m edgevision.stream.demo calib "$out/calib" 16
  "$ev" quantize "$out/components" -o "$out/components_int8" --calib-data "$out/calib" \
    --calib-size 16 --precision fpn=fp32,fpn_partial=fp32,fpn_extra=fp32,head=fp32 --quiet
  # the default video path (run --video: DIS medium propagation, keyframes every 2 frames on
  # the INT8 components with FPN + head FP32) writes the demo outputs in a run of its own
  video=(--video --precision-engines "$out/components_int8")
  echo "   stream: $out/sample.mp4 -> default video path + ByteTrack -> $out/demo.mp4 + demo.jsonl"
  "$ev" run "$out/sample.mp4" --model "$out/components" "${video[@]}" "${common[@]}" \
    --track bytetrack --out "$out/demo.mp4" --meta "$out/demo.jsonl" \
    --summary "$out/run_output.json"
  # the compared runs: alternating rounds, the same outputs (none but the summary)
  for r in 1 2; do
    echo "   round $r/2: per frame (FP32), default video path, per frame (INT8)"
    "$ev" run "$out/sample.mp4" --model "$out/components" "${common[@]}" --out null \
      --summary "$out/run_perframe_fp32_r$r.json"
    "$ev" run "$out/sample.mp4" --model "$out/components" "${video[@]}" "${common[@]}" \
      --out null --summary "$out/run_default_r$r.json"
    "$ev" run "$out/sample.mp4" --model "$out/components_int8" "${common[@]}" --out null \
      --summary "$out/run_perframe_int8_r$r.json"
  done
else
  echo "== 3/4 stream: $out/sample.mp4 -> $MODEL -> $out/demo.mp4 + demo.jsonl"
  track=()
  if [ "$TASK" != semantic ]; then track=(--track bytetrack); fi
  "$ev" run "$out/sample.mp4" --model "$MODEL" "${common[@]}" "${track[@]}" --out "$out/demo.mp4" \
    --meta "$out/demo.jsonl" --summary "$out/run_perframe_fp32.json"
  if [ -n "$INT8" ]; then
    echo "   ... the same with the INT8 model $INT8"
    "$ev" run "$out/sample.mp4" --model "$INT8" "${common[@]}" --out null \
      --summary "$out/run_perframe_int8.json"
  fi
fi

echo "== 4/4 report"
"$py" -m edgevision.stream.demo report "$out" "$WHY"

echo
echo "Outputs in $out/ ($(( $(date +%s) - t0 )) s):"
echo "  sample.mp4     the input: a deterministic synthetic scene (edgevision run --sample)"
echo "  demo.mp4       the model's overlay (#N: track ids of detection/instance models), encoded by GStreamer"
echo "  demo.jsonl     one line per frame: stream, frame index, timestamp, latency, results, track_ids"
echo "  run_*.json     run summaries (FPS, per-stage latency percentiles, drops, decoder choice)"
echo "  report.md      per-frame vs the default video path, FP32 vs INT8 (where available), the tracks"
echo "Model: $WHY"
