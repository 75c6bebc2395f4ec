"""Shot detection accuracy side by side: Prism's cpu, transnetv2 and hybrid detectors and
PySceneDetect (ContentDetector and AdaptiveDetector, default settings), on the real-photo
titles of ``prism.media.shot_suite`` (720p and 1080p H.264, exact ground truth).

Prints one markdown table (the one recorded in docs/shots.md) and the detection time of each
detector (Prism's detectors read the decode pass's signals; PySceneDetect decodes the file
itself). TransNetV2 runs once per title; the transnetv2 and hybrid rows share its output.

    .venv/bin/python benchmarks/shot_accuracy.py [--workdir DIR] [--device cpu|cuda|auto]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from functools import reduce
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from prism.media.shot_suite import FPS, SUITE, SuiteScore, score, write_suite_title  # noqa: E402
from prism.media.synth import Truth  # noqa: E402
from prism.visual.decode import run_pass  # noqa: E402
from prism.visual.shots import (  # noqa: E402
    SHORT_LAGS,
    ContentShotDetector,
    batches_from_parquet,
    frame_features,
    gradual_lags,
)
from prism.visual.transnet import (  # noqa: E402
    FrameScalars,
    HybridShotDetector,
    TransNetStream,
    boundaries_from_probabilities,
    contract,
    cut_frames,
)


def _pyscenedetect(media: Path, kind: str) -> list[tuple[int, None, None, None]]:
    from scenedetect import AdaptiveDetector, ContentDetector, detect

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scenes = detect(str(media), ContentDetector() if kind == "content" else AdaptiveDetector())
    return [(s[0].frame_num, None, None, None) for s in scenes[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "prism-bench-shots")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    from resources.visual import load_transnet

    model = load_transnet(args.device)
    names = ("cpu", "transnetv2", "hybrid", "pyscenedetect content", "pyscenedetect adaptive")
    scores: dict[str, list[SuiteScore]] = {k: [] for k in names}
    seconds: dict[str, float] = dict.fromkeys(names, 0.0)
    frames = 0
    for title in SUITE:
        media = args.workdir / f"{title.name}.mp4"
        truth_file = media.with_name(media.name + ".truth.json")
        if not (media.exists() and truth_file.exists()):
            print(f"generating {media} ...", flush=True)
            write_suite_title(title, args.workdir)
        truth = Truth(**json.loads(truth_file.read_text()))
        signals = args.workdir / f"{title.name}.signals.parquet"
        run_pass(str(media), signals, args.workdir / f"{title.name}-sprites")
        frames += truth.frame_count

        cpu = ContentShotDetector()
        started = time.perf_counter()
        found = {"cpu": cpu.detect(batches_from_parquet(signals), FPS)}
        seconds["cpu"] += time.perf_counter() - started

        started = time.perf_counter()
        stream, scalars = TransNetStream(model), FrameScalars()
        for _ in stream.tap(scalars.tap(batches_from_parquet(signals))):
            pass
        single, many = stream.finish()
        net = boundaries_from_probabilities(single, many=many, cut_frames=cut_frames(FPS))
        found["transnetv2"] = contract(net, scalars, FPS)
        seconds["transnetv2"] += time.perf_counter() - started

        started = time.perf_counter()  # the hybrid's own work beyond the model: the CPU features
        lags = tuple(range(1, SHORT_LAGS + 1)) + gradual_lags(FPS)
        features = frame_features(batches_from_parquet(signals), lags, cpu.cut_steps(FPS))
        found["hybrid"] = HybridShotDetector(model).combine(features, single, many, FPS)
        seconds["hybrid"] += time.perf_counter() - started

        for kind in ("content", "adaptive"):
            started = time.perf_counter()
            found[f"pyscenedetect {kind}"] = _pyscenedetect(media, kind)
            seconds[f"pyscenedetect {kind}"] += time.perf_counter() - started

        for name, boundaries in found.items():
            if isinstance(boundaries[0] if boundaries else None, tuple):
                rows = boundaries
            else:
                rows = [(b.frame, b.kind, b.span_start, b.span_end) for b in boundaries]
            scores[name].append(score(rows, truth))
        print(f"{title.name}: {truth.frame_count} frames, {len(truth.cuts)} cuts "
              f"({truth.cut_kinds.count('same_scene')} same-scene), {len(truth.gradual)} gradual, "
              f"{len(truth.flashes)} flash, {len(truth.motion)} moving-camera shots", flush=True)

    print()
    print(SuiteScore.HEADER)
    for name in names:
        print(reduce(lambda a, b: a + b, scores[name]).row(name))
    print()
    print(f"detection seconds for {frames} frames (Prism: from the pass's signals; TransNetV2 on "
          f"{next(model.parameters()).device}; the hybrid adds its CPU features to the TransNetV2 time):")
    for name in names:
        print(f"  {name:<24} {seconds[name]:8.2f} s")


if __name__ == "__main__":
    main()
