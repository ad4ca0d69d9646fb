#!/usr/bin/env bash
# The GPU half, checked on one CUDA machine in under 8 minutes, then docs/results/gpu.md:
#
#   bash scripts/gpu_check.sh [RESULTS_DIR]        # default runs/gpu_check
#
# 1. installs the GPU extras (pip only: edgevision[onnx,gpu] from pyproject.toml, and
#    onnxruntime-gpu in place of onnxruntime when ONNX Runtime has no CUDA provider);
# 2. runs the GPU/TensorRT tests (pytest -m "gpu or trt");
# 3. benches DDRNet-23-slim, YOLACT MobileNetV2 550 (registry, random weights: speed only)
#    and yolo_ret_m075 (DDRNet and YOLO: shipped CamVid weights) in FP32/FP16/INT8 on TensorRT and on ONNX
#    Runtime's CUDA provider with `edgevision bench --json` (INT8 = symmetric s8/s8 QDQ from
#    `edgevision quantize`, calibrated on synthetic frames or $GPU_CHECK_CALIB);
# 4. runs one `edgevision run` stream (hardware decoder and encoder when present: NVDEC,
#    NVENC, Jetson; the summary says which);
# 5. writes docs/results/gpu.md with `edgevision report gpu RESULTS_DIR`.
#
# A row whose command fails (a backend or option missing here) is skipped with its error
# line, which the page shows; the script never stops for one row. Every step has a time limit
# and install + tests + exports + benches stop when $GPU_CHECK_BUDGET_S (default 330 s) is
# spent; the stream gets at most 130 s more, so the whole check ends within 8 minutes.
# Without an NVIDIA GPU it exits at once (one line, exit 2).
#
# Environment: PYTHON (default .venv/bin/python, else python3), GPU_CHECK_NO_INSTALL=1 (skip
# step 1), GPU_CHECK_CALIB=DIR (calibration images), GPU_CHECK_RUNS (timed runs, default
# 200), GPU_CHECK_BUDGET_S, GPU_CHECK_PAGE (default docs/results/gpu.md).
set -uo pipefail

# first, with no external command: is there a GPU at all?
if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu_check: no NVIDIA GPU here (nvidia-smi not found); run it on a CUDA machine" >&2
  exit 2
fi
if ! gpu="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 1)" \
  || [ -z "$gpu" ] || [[ "$gpu" == *"failed"* ]] || [[ "$gpu" == *"No devices"* ]]; then
  echo "gpu_check: nvidia-smi found no usable GPU: ${gpu:-no output}" >&2
  exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 2
OUT="${1:-runs/gpu_check}"
PAGE="${GPU_CHECK_PAGE:-docs/results/gpu.md}"
RUNS="${GPU_CHECK_RUNS:-200}"
BUDGET="${GPU_CHECK_BUDGET_S:-330}"
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3; fi
EV=("$PY" -m edgevision)
log() { printf '[gpu_check %3ds] %s\n' "$SECONDS" "$*" >&2; }
# limit N: N seconds, or less when the budget ends sooner (at least 1: timeout 0 is none);
# spent: the budget is used up
limit() { local left=$((BUDGET - SECONDS)); [ "$left" -gt 1 ] || left=1; echo $(($1 < left ? $1 : left)); }
spent() { [ "$SECONDS" -ge "$BUDGET" ]; }
# why FILE: the last line of a failed command's log that says "error", else its last line
why() { { grep -i 'error' "$1" || grep -v '^[[:space:]]*$' "$1"; } | tail -n 1; }
# step NAME SECONDS CMD...: run CMD within the budget (log in logs/NAME.log); say why it failed
step() {
  local name="$1" t rc
  t="$(limit "$2")"
  shift 2
  timeout "$t" "$@" > "$OUT/logs/$name.log" 2>&1
  rc=$?
  [ "$rc" -eq 0 ] && return 0
  if [ "$rc" -eq 124 ]; then log "  $name: timed out after $t s"
  else log "  $name failed: $(why "$OUT/logs/$name.log")"; fi
  return "$rc"
}
mkdir -p "$OUT/bench" "$OUT/work" "$OUT/logs"
: > "$OUT/rows.jsonl"
echo "$gpu" > "$OUT/gpu.txt"
log "GPU: $gpu"

# ---- 1. GPU extras ------------------------------------------------------------------------
if [ -z "${GPU_CHECK_NO_INSTALL:-}" ]; then
  log "installing edgevision[onnx,gpu] (pip)"
  step pip 150 "$PY" -m pip install -q --disable-pip-version-check -e ".[onnx,gpu]"
  if ! "$PY" -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())" 2>/dev/null; then
    # the wheel first: onnxruntime is removed only once its replacement is on disk
    log "replacing onnxruntime by onnxruntime-gpu"
    if step ort-download 120 "$PY" -m pip download -q --no-deps -d "$OUT/work/wheels" \
      onnxruntime-gpu; then
      step ort-uninstall 30 "$PY" -m pip uninstall -q -y onnxruntime
      step ort-install 60 "$PY" -m pip install -q --no-index --find-links "$OUT/work/wheels" \
        onnxruntime-gpu || log "WARNING: onnxruntime-gpu not installed: ONNX Runtime is missing now"
    fi
  fi
fi

# ---- 2. GPU / TensorRT tests ----------------------------------------------------------------
log "pytest -m 'gpu or trt'"
timeout "$(limit 120)" "$PY" -m pytest tests -m "gpu or trt" -q -p no:cacheprovider > "$OUT/logs/pytest.log" 2>&1
rc=$?
tail -n 1 "$OUT/logs/pytest.log" | sed "s/\$/ (exit $rc)/" > "$OUT/tests.txt"
log "tests: $(cat "$OUT/tests.txt")"

# ---- 3. benches ---------------------------------------------------------------------------
# row MODEL ENGINE PRECISION NAME -- COMMAND...: run COMMAND (its JSON goes to bench/NAME.json)
# and add a line to rows.jsonl: the JSON, or the command's last error line
row() {
  local model="$1" engine="$2" precision="$3" name="$4"
  shift 5
  local cmd=("$@" --json "$OUT/bench/$name.json")
  local err="" t rc
  t="$(limit 150)"
  if spent; then
    err="time budget of ${BUDGET} s spent before this row"
  else
    log "bench $model $engine $precision"
    timeout "$t" "${cmd[@]}" > "$OUT/logs/$name.log" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ]; then
      err="$(why "$OUT/logs/$name.log")"
      [ "$rc" -ne 124 ] || err="timed out after $t s"
      err="${err:-exit status $rc}"
    fi
  fi
  "$PY" - "$OUT/rows.jsonl" "$model" "$engine" "$precision" "$name" "$err" "${cmd[*]}" <<'PYEOF'
import json, sys
path, model, engine, precision, name, err, cmd = sys.argv[1:]
row = {"model": model, "engine": engine, "precision": precision, "command": cmd}
if err:
    row["error"] = err
else:
    row["json"] = f"bench/{name}.json"
with open(path, "a") as f:
    f.write(json.dumps(row) + "\n")
PYEOF
  [ -z "$err" ] || log "  skipped $model $engine $precision: $err"
}

calib="${GPU_CHECK_CALIB:-}"
if [ -z "$calib" ]; then
  calib="$OUT/work/calib"
  mkdir -p "$calib"
  "$PY" - "$calib" <<'PYEOF' || log "WARNING: no calibration images"
import sys, cv2
from edgevision.stream.sample import sample_frames
for i, img in enumerate(sample_frames(frames=16, size=(480, 640))):
    cv2.imwrite(f"{sys.argv[1]}/{i:03d}.png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
PYEOF
fi

BENCH=(bench --runs "$RUNS" --warmup 20 --quiet)
# the models of the issue's targets first (DDRNet FP16/INT8 ratios, YOLACT INT8 end to end,
# so YOLACT keeps the Predictor stages), in case the budget ends the list early
for spec in \
  "ddrnet23_slim weights/ddrnet23_slim_camvid/ddrnet23_slim_camvid.safetensors --no-stages" \
  "yolact_mobilenetv2 yolact_mobilenetv2" \
  "yolo_ret_m075 weights/yolo_ret_m075_camvid/yolo_ret_m075_camvid.safetensors --no-stages"; do
  read -r model target stages <<< "$spec"
  w="$OUT/work/$model"
  if ! spent; then
    log "export $model (FP32, FP16, INT8 s8/s8 QDQ)"
    step "$model.export" 120 "${EV[@]}" export "$target" -o "$w.onnx"
    step "$model.fp16" 60 "${EV[@]}" export "$w.onnx" --fp16 -o "$w.fp16.onnx"
    step "$model.int8" 120 "${EV[@]}" quantize "$w.onnx" --mode static --activation-type s8 \
      --weight-type s8 --calib-data "$calib" --calib-size 16 -o "$w.int8.onnx" --quiet
  fi
  # shellcheck disable=SC2086  # $stages: one option or none
  {
    row "$model" TensorRT fp32 "$model.trt.fp32" -- "${EV[@]}" "${BENCH[@]}" $stages "$w.onnx" --backend tensorrt --trt-precision fp32
    row "$model" TensorRT fp16 "$model.trt.fp16" -- "${EV[@]}" "${BENCH[@]}" $stages "$w.onnx" --backend tensorrt --trt-precision fp16
    row "$model" TensorRT int8 "$model.trt.int8" -- "${EV[@]}" "${BENCH[@]}" $stages "$w.int8.onnx" --backend tensorrt --trt-precision int8
    row "$model" "CUDA EP" fp32 "$model.cuda.fp32" -- "${EV[@]}" "${BENCH[@]}" $stages "$w.onnx" --backend onnxruntime --providers cuda
    row "$model" "CUDA EP" fp16 "$model.cuda.fp16" -- "${EV[@]}" "${BENCH[@]}" $stages "$w.fp16.onnx" --backend onnxruntime --providers cuda
    row "$model" "CUDA EP" int8 "$model.cuda.int8" -- "${EV[@]}" "${BENCH[@]}" $stages "$w.int8.onnx" --backend onnxruntime --providers cuda
  }
done

# ---- 4. one stream ------------------------------------------------------------------------
log "stream: edgevision run (hardware decoder/encoder where present)"
# (its own time, not the bench budget: at most 30 s for the sample, 100 s for the runs)
timeout 30 "${EV[@]}" run --sample "$OUT/work/sample.mp4" > "$OUT/logs/sample.log" 2>&1 \
  || log "  sample video failed: $(why "$OUT/logs/sample.log")"
rm -f "$OUT/stream.json" "$OUT/stream.cmd"
stream_end=$((SECONDS + 100))
for backend in "--backend tensorrt --trt-precision fp16" "--providers cuda" ""; do
  # shellcheck disable=SC2206  # split the option set
  cmd=("${EV[@]}" run "$OUT/work/sample.mp4" --model "$OUT/work/ddrnet23_slim.onnx" $backend
       --out "$OUT/work/stream.mp4" --summary "$OUT/stream.json" --no-progress -q)
  t=$((stream_end - SECONDS))
  [ "$t" -gt 0 ] || { log "  stream: no time left"; break; }
  if timeout "$t" "${cmd[@]}" > "$OUT/logs/stream.log" 2>&1; then
    echo "edgevision ${cmd[*]:3}" > "$OUT/stream.cmd"
    break
  fi
  log "  run with '${backend:-the default engine}' failed: $(why "$OUT/logs/stream.log")"
  rm -f "$OUT/stream.json"
done

# ---- 5. the page --------------------------------------------------------------------------
"${EV[@]}" report gpu "$OUT" --out "$PAGE" || exit $?
log "done in ${SECONDS} s"
