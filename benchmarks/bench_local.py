"""Banded local attention vs masked global attention: time and peak memory.

    python benchmarks/bench_local.py                       # L = 4096 and 16384, window 129
    python benchmarks/bench_local.py --lengths 4096 --repeats 3

Every variant computes single-head scaled dot-product attention (``B = 1``, ``dim = 64``, float32)
in which query ``i`` sees the keys ``|i - j| <= 64`` (window 129), and returns the context:

* ``local``: :func:`attnlab.mechanisms.local.sliding_window_attention`, blocks of queries against
  the keys their windows reach; returns the windowed weights ``(B, L, 129)`` too;
* ``global``: :func:`attnlab.core.attend.dot_product_attention` with the dense band mask
  ``(1, L, L)`` (built once, outside the measured call; 1 byte per entry), returning the dense
  weights ``(B, L, L)``: the same information as ``local``'s output;
* ``global-sdpa``: the same masked global attention through ``F.scaled_dot_product_attention``
  (``need_weights=False``, no weights returned): the fastest dense alternative.

Modes: ``forward`` (under ``torch.no_grad``) and ``train`` (forward, then backward of a fixed
random upstream gradient on the context into ``q``, ``k`` and ``v``).

Time: median (and minimum) over ``--repeats`` calls after one warm-up, variants interleaved, all
in this process. Peak memory: each (variant, mode, L) runs once in a fresh subprocess, which
reports the growth of its peak resident set size during the call (``VmHWM`` of
``/proc/self/status`` after the call, its high-water mark reset through ``/proc/self/clear_refs``
just before, minus ``VmRSS`` before; inputs, mask and upstream gradient already allocated, kernels
warmed up on a small problem). That counts every page the call touched, whichever allocator served
it.

``--threads`` sets ``torch.set_num_threads``. On a small machine shared with other jobs, use 1:
with 2 threads every parallel op waits for the second core, which under load costs ~10 ms per op
and swamps the many small ops of the banded kernel.

A dense variant whose estimated working set exceeds ``--max-dense-gib`` is not run; its estimate is
printed instead (an ``L x L`` float32 matrix is ``4 L^2`` bytes: 1 GiB at L = 16384).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from torch import Tensor

from attnlab.core.attend import dot_product_attention
from attnlab.core.masks import band_mask
from attnlab.mechanisms.local import sliding_window_attention

VARIANTS = ("local", "global", "global-sdpa")
MODES = ("forward", "train")


def build(length: int, dim: int, window: int, variant: str, seed: int = 0) -> dict[str, Tensor]:
    """Inputs ``q, k, v (1, L, dim)``, upstream gradient, and the dense mask for global variants."""
    g = torch.Generator().manual_seed(seed)
    tensors = {
        "q": torch.randn(1, length, dim, generator=g),
        "k": torch.randn(1, length, dim, generator=g),
        "v": torch.randn(1, length, dim, generator=g),
        "upstream": torch.randn(1, length, dim, generator=g),
    }
    if variant != "local":
        tensors["mask"] = band_mask(length, window_size=window).unsqueeze(0)  # (1, i, j)
    return tensors


def forward_fn(variant: str, window: int) -> Callable[[dict[str, Tensor]], Tensor]:
    def local(t: dict[str, Tensor]) -> Tensor:
        return sliding_window_attention(t["q"], t["k"], t["v"], window_size=window).context

    def dense(t: dict[str, Tensor], need_weights: bool) -> Tensor:
        scale = t["q"].shape[-1] ** -0.5
        context, _ = dot_product_attention(
            t["q"], t["k"], t["v"], scale=scale, mask=t["mask"], need_weights=need_weights
        )
        return context

    if variant == "local":
        return local
    if variant == "global":
        return lambda t: dense(t, True)
    return lambda t: dense(t, False)


def runner(variant: str, mode: str, window: int, t: dict[str, Tensor]) -> Callable[[], None]:
    fn = forward_fn(variant, window)
    if mode == "forward":

        def run() -> None:
            with torch.no_grad():
                fn(t)

        return run
    for name in ("q", "k", "v"):
        t[name].requires_grad_(True)

    def run_train() -> None:
        for name in ("q", "k", "v"):
            t[name].grad = None
        fn(t).backward(t["upstream"])

    return run_train


def dense_estimate_gib(mode: str, length: int) -> float:
    """Rough working set of the dense variants: a bool mask plus a few ``L x L`` float32 buffers
    (forward: additive mask and weights; train: scores, additive mask, softmax and its gradient,
    plus the matmul gradients)."""
    buffers = 2 if mode == "forward" else 5
    return (length * length * (1 + 4 * buffers)) / 2**30


def _status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not found in /proc/self/status")


def measure_memory(variant: str, mode: str, length: int, dim: int, window: int) -> None:
    """Child process: print the peak-RSS growth of one call, in MiB, as JSON.

    The peak is the high-water mark of this process's own address space (``VmHWM``), reset just
    before the call by writing ``5`` to ``/proc/self/clear_refs``. (``ru_maxrss`` is not used: on
    Linux it carries over the parent's resident size at ``fork``, through ``exec``.)
    """
    runner(variant, mode, window, build(256, dim, window, variant))()  # warm kernels and threads
    t = build(length, dim, window, variant)
    run = runner(variant, mode, window, t)
    resident_before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident size
    run()
    peak_after = _status_kib("VmHWM")
    print(json.dumps({"peak_mib": (peak_after - resident_before) / 1024}))


def peak_memory_mib(
    variant: str, mode: str, length: int, dim: int, window: int, threads: int | None
) -> float:
    cmd = [
        sys.executable, __file__, "--measure", variant, mode,
        "--lengths", str(length), "--dim", str(dim), "--window", str(window),
    ]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["peak_mib"])


def time_variants(
    variants: list[str], mode: str, length: int, dim: int, window: int, repeats: int
) -> dict[str, tuple[float, float]]:
    """``(median, min)`` seconds per call, variants interleaved round-robin."""
    runs = {v: runner(v, mode, window, build(length, dim, window, v)) for v in variants}
    for run in runs.values():
        run()  # warm-up
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(repeats):
        for v, run in runs.items():
            start = time.perf_counter()
            run()
            times[v].append(time.perf_counter() - start)
    return {v: (statistics.median(ts), min(ts)) for v, ts in times.items()}


def max_difference(length: int, dim: int, window: int) -> dict[str, float]:
    """Largest ``|local - global|`` of the context and of the dense weights (float32)."""
    t = build(length, dim, window, "global")
    local = sliding_window_attention(t["q"], t["k"], t["v"], window_size=window)
    with torch.no_grad():
        context, weights = dot_product_attention(
            t["q"], t["k"], t["v"], scale=dim**-0.5, mask=t["mask"], need_weights=True
        )
    assert weights is not None
    return {
        "context": float((local.context - context).abs().max()),
        "weights": float((local.dense_weights(length) - weights).abs().max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--window", type=int, default=129)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-dense-gib", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--measure", nargs=2, metavar=("VARIANT", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.measure:
        measure_memory(*args.measure, args.lengths[0], args.dim, args.window)
        return

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average at start {os.getloadavg()[0]:.2f}"
    )
    print(f"B=1, dim={args.dim}, window={args.window}, float32, single head")
    print(f"max |local - global| at L=1024: {max_difference(1024, args.dim, args.window)}")
    print(
        f"\n{'L':>6s} {'variant':12s} {'mode':8s} {'median s':>9s} {'min s':>9s} {'peak MiB':>9s}"
    )
    for length in args.lengths:
        for mode in MODES:
            runnable, skipped = [], []
            for v in VARIANTS:
                estimate = dense_estimate_gib(mode, length)
                if v != "local" and estimate > args.max_dense_gib:
                    skipped.append((v, estimate))
                else:
                    runnable.append(v)
            times = time_variants(runnable, mode, length, args.dim, args.window, args.repeats)
            for v in runnable:
                peak = peak_memory_mib(v, mode, length, args.dim, args.window, args.threads)
                median, fastest = times[v]
                print(f"{length:6d} {v:12s} {mode:8s} {median:9.3f} {fastest:9.3f} {peak:9.1f}")
            for v, estimate in skipped:
                print(
                    f"{length:6d} {v:12s} {mode:8s} {'skipped':>9s} {'':>9s} "
                    f"{'~' + format(estimate * 1024, '.0f'):>9s}  (estimate > --max-dense-gib)"
                )
    print(
        f"\nload average at end {os.getloadavg()[0]:.2f} (machine shared with other jobs: "
        "timings are indicative)"
    )


if __name__ == "__main__":
    main()
