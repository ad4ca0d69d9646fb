"""What ``edgevision.load(...).predict`` adds to a bare ``Predictor`` call (issue 30: <= 2 %).

Usage: python scripts/bench_api_overhead.py [MODEL] [IMAGE] [--runs N] [--threads T]

Loads MODEL (default: shipped ``yolov5n_camvid``, through the cached ONNX export in ONNX
Runtime) once, then times ``predictor(image)`` and ``model.predict(image)`` on the same
engine, alternately in blocks of 10 calls (so a drift of the machine hits both alike), with
the image given as an RGB array (the path: the same call plus a decode, not timed here).
Prints the median per call of each, and the overhead as a percentage of the bare call.

On a shared machine the two medians drift by more than the API costs, so the API's own cost
is also timed with the engine replaced by a replay of its output (no inference; both paths
then differ only by what ``Model.predict`` adds): that difference, over the real call's
median, is the overhead the issue bounds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import edgevision
from edgevision.io import read_image

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default="yolov5n_camvid")
    ap.add_argument("image", nargs="?", default=str(REPO.parent / "shared/data/camvid/images/val/0016E5_07959.jpg"))  # fmt: skip
    ap.add_argument("--runs", type=int, default=300, help="calls of each (default 300)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    model = edgevision.load(args.model, threads=args.threads)
    image = read_image(args.image)
    bare = model.predictor()  # the Predictor (and engine) model.predict uses
    engine = bare.engine
    print(f"model {args.model} ({engine.backend}, {args.threads} threads), image {args.image}")
    med = _alternate(bare, model, image, args.runs)
    real = med["Predictor(image)"]
    _print(med, real)
    outputs = engine.run(_input(bare, image))
    bare.engine = _Replay(engine, outputs)  # the same Predictor object model.predict uses
    print("with the engine replaced by a replay of its output (the API's own cost):")
    _print(_alternate(bare, model, image, args.runs), real)


class _Replay:
    """An engine that returns a fixed output: times everything but the inference."""

    def __init__(self, engine, outputs):
        self.spec, self.backend, self._outputs = engine.spec, engine.backend, outputs

    def run(self, x):
        return self._outputs


def _input(predictor, image):
    from edgevision.preprocess import preprocess

    return preprocess([image], predictor.spec, predictor.input_size)[0]


def _alternate(bare, model, image, runs: int) -> dict[str, float]:
    calls = {"Predictor(image)": lambda: bare(image), "Model.predict(image)": lambda: model.predict(image)}  # fmt: skip
    for call in calls.values():  # warm up both paths
        for _ in range(10):
            call()
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(runs // 10):
        for name, call in calls.items():
            for _ in range(10):
                t0 = time.perf_counter()
                call()
                times[name].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def _print(med: dict[str, float], real: float) -> None:
    for k, v in med.items():
        print(f"  {k:22s} median {v:8.3f} ms")
    over = med["Model.predict(image)"] - med["Predictor(image)"]
    print(
        f"  difference {over * 1e3:+.1f} us per call = {100 * over / real:+.3f} % of the real call"
    )


if __name__ == "__main__":
    main()
