"""How many threads each library may use, derived in one place from the cores and the branches.

A title's run executes independent steps at once (the visual decode pass beside the audio
decode, VAD and ASR). Every inference library sizes its own pool for the whole machine by
default (torch and ONNX Runtime: all cores; CTranslate2: 4), so two branches on two cores would
run 4–8 busy threads, and these pools *spin* while they wait for work: oversubscribed, they burn
the cores the other branch needs. The budget gives each concurrently running step
``cores // concurrent_steps`` threads for those pools.

FFmpeg's decoder threads are left to FFmpeg (0: one per core): frame threads block on condition
variables instead of spinning, so they cost nothing while the other branch computes, and a
limit would only slow the decode down once the other branch is done.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

# Spinning thread pools that read these at load (OpenMP in torch and CTranslate2, OpenBLAS,
# MKL, Tesseract's OpenMP); ONNX Runtime sessions are given their count explicitly.
_POOL_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_THREAD_LIMIT")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no sched_getaffinity on this platform
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadBudget:
    cores: int
    concurrent_steps: int  # steps of one title's run executed at once
    per_step: int  # threads of each inference pool (torch, ONNX Runtime, CTranslate2, BLAS)
    decoder: int = 0  # FFmpeg decoder threads (0: FFmpeg's choice, one per core)


def thread_budget(concurrent_steps: int = 0, threads_per_step: int = 0,
                  cores: int | None = None) -> ThreadBudget:
    """``concurrent_steps`` 0: 2 (the visual and the audio branch) on 2–11 cores, 4 from 12 (the OCR
    and embedding leaves beside them), 1 on a single core.
    ``threads_per_step`` 0: the cores shared evenly by the concurrent steps."""
    cores = cores or usable_cores()
    if concurrent_steps <= 0:
        concurrent_steps = 1 if cores == 1 else 2 if cores < 12 else 4
    per_step = threads_per_step if threads_per_step > 0 else max(1, cores // concurrent_steps)
    return ThreadBudget(cores=cores, concurrent_steps=concurrent_steps, per_step=per_step)


def limit_pools(threads: int) -> None:
    """Size the process-wide pools for ``threads``: the environment the OpenMP/BLAS libraries read
    when they load, torch's pool if torch is already loaded, and BLAS/OpenMP pools already
    loaded (threadpoolctl). A thread count the operator set in the environment is kept."""
    for name in _POOL_ENV:
        if name not in os.environ:
            os.environ[name] = str(threads)
    try:
        threads = max(1, int(os.environ["OMP_NUM_THREADS"]))
    except ValueError:  # an OpenMP list such as "4,2": leave the loaded pools to it
        return
    if "torch" in sys.modules:
        limit_torch(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: only pools loaded before this call need it
        return
    threadpool_limits(threads)


def limit_torch(threads: int) -> None:
    """torch's intra-op pool is process-wide: size it before a torch model runs."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    try:  # allowed once, before any inter-op work; later calls keep the first value
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        pass


def limit_loaded_torch(threads: int) -> None:
    """After a model load: size torch's pool if the model brought torch in (a model without torch,
    such as the built-in colour-layout embedder, does not pay torch's import for it)."""
    if threads > 0 and "torch" in sys.modules:
        limit_torch(threads)
