"""Peak memory of one ONNX model in ONNX Runtime under session options (DDRNet RSS study).

Usage: python scripts/ort_memory_options.py MODEL.onnx [noarena] [nopattern] [noprepack] [basic]
Prints the RSS above the process's baseline after importing ONNX Runtime: after loading the
session and after 8 runs at 1x3x360x480 (rss = current, hwm = peak), in MiB.
"""

import sys

import numpy as np
import onnxruntime as ort


def st(k):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(k):
                return int(line.split()[1]) / 1024
    return 0.0


path = sys.argv[1]
opts = sys.argv[2:]
base = st("VmRSS")
so = ort.SessionOptions()
so.intra_op_num_threads = 2
so.inter_op_num_threads = 1
for o in opts:
    if o == "noarena":
        so.enable_cpu_mem_arena = False
    if o == "nopattern":
        so.enable_mem_pattern = False
    if o == "noprepack":
        so.add_session_config_entry("session.disable_prepacking", "1")
    if o == "basic":
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
l_rss, l_hwm = st("VmRSS"), st("VmHWM")
x = np.random.rand(1, 3, 360, 480).astype(np.float32)
for _ in range(8):
    s.run(None, {s.get_inputs()[0].name: x})
print(
    f"{path.split('/')[-2][:8]} {path.split('/')[-1]:12s} {' '.join(opts):24s} base {base:.0f}  after-load rss {l_rss - base:.0f} hwm {l_hwm - base:.0f}  after-run rss {st('VmRSS') - base:.0f} hwm {st('VmHWM') - base:.0f}"
)
