"""How much of a title the probe reads: bounded (head + tail) vs a full demux, side by side.

    .venv/bin/python benchmarks/probe_io.py [VIDEO] [--minutes 20]

Without VIDEO it generates an H.264 720p title with FFmpeg's test source. Bytes are
counted through a file-object wrapper, the same path S3 media takes (s3fs file), so
the byte ratio is the ratio of S3 traffic.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import tempfile
import time
from pathlib import Path

from prism.media.probe import probe_media


class CountingReader(io.RawIOBase):
    def __init__(self, path: Path):
        self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._fh.readinto(buffer)
        self.bytes_read += n or 0
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        self._fh.close()
        super().close()


def generate(path: Path, minutes: float) -> None:
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
         "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000", "-t", str(minutes * 60),
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-c:a", "aac", "-shortest", str(path)],
        check=True)


def measure(path: Path, head_window_s: float) -> tuple[float, int, object]:
    reader = CountingReader(path)
    start = time.perf_counter()
    probe = probe_media(reader, size_bytes=path.stat().st_size, head_window_s=head_window_s)
    elapsed = time.perf_counter() - start
    reader.close()
    return elapsed, reader.bytes_read, probe


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("video", nargs="?", type=Path)
    parser.add_argument("--minutes", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if video is None:
            video = Path(tmp) / "long.mp4"
            print(f"generating a {args.minutes:g}-minute 720p title …")
            generate(video, args.minutes)
        size = video.stat().st_size
        full_t, full_b, full = measure(video, head_window_s=1e9)
        bounded_t, bounded_b, bounded = measure(video, head_window_s=120.0)
        print(f"title: {video.name}, {size / 2**20:.0f} MiB, {full.duration_s:.0f} s, "
              f"{full.video.frame_count} frames")
        print(f"full demux : {full_t:6.2f} s, read {full_b / 2**20:8.1f} MiB")
        print(f"bounded    : {bounded_t:6.2f} s, read {bounded_b / 2**20:8.1f} MiB "
              f"(frame_count {bounded.video.frame_count}, exact={bounded.video.frame_count_exact})")
        print(f"ratio      : bytes {bounded_b / full_b:.3f}x, time {bounded_t / full_t:.3f}x; "
              f"duration agrees: {abs(bounded.duration_s - full.duration_s) < 1e-3}")


if __name__ == "__main__":
    main()
