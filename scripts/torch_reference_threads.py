"""Stage times of the torch eager DDRNet reference (edgevision.bench.seg_reference) at N threads.

Usage: OMP_NUM_THREADS=N python scripts/torch_reference_threads.py N
Prints the p50 of pre-process / network / label map (logits upsampled, then argmax) over 15
calls on a random 360x480 image with the shipped DDRNet-23-slim, and a plain model() time.
"""

import sys
import time

import numpy as np
import torch

from edgevision.bench.seg_reference import TorchLogitsReference
from edgevision.runtime.torch import TorchEngine

th = int(sys.argv[1])
torch.set_num_threads(th)
e = TorchEngine("weights/ddrnet23_slim_camvid/ddrnet23_slim_camvid.safetensors", threads=th)
r = TorchLogitsReference(e)
img = np.random.default_rng(0).integers(0, 256, (360, 480, 3), dtype=np.uint8)
for _ in range(3):
    r.timed(img)
st = [r.timed(img)[1] for _ in range(15)]
x = torch.randn(1, 3, 360, 480)
with torch.inference_mode():
    for _ in range(3):
        e.model(x)
    t = time.perf_counter()
    for _ in range(10):
        e.model(x)
    plain = (time.perf_counter() - t) / 10 * 1e3
p50 = {k: round(float(np.median([s[k] for s in st])), 1) for k in st[0]}
print(f"{th} thread(s): {p50}  plain model() {plain:.1f} ms")
