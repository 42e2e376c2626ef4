"""Chunked vs materialising additive (Bahdanau) attention scores: time and peak memory.

    python benchmarks/bench_additive.py                 # B=32, Lq=Lk=256, H=256, then L=1024
    python benchmarks/bench_additive.py --no-long --repeats 3

Variants, all computing ``e_bij = v^T tanh(W q_bi + U k_bj)`` with the same parameters:

* ``naive``: the literal broadcasting formula ``tanh(Wq[:, :, None] + Uk[:, None]) @ v``, which
  materialises ``(B, Lq, Lk, H)`` tensors (and autograd keeps one for the backward pass);
* ``chunked``: :class:`attnlab.core.scores.AdditiveScore` (tiles of ``chunk_bytes``, recomputing
  backward, ``tanh`` evaluated as ``2 sigmoid(2x) - 1``);
* ``chunked-tanh`` (forward only): the same tiling with ``torch.tanh`` itself, to show how much of
  the gain is the tiling and how much the sigmoid form.

Modes: ``forward`` (under ``torch.no_grad``) and ``train`` (forward + backward of a fixed random
upstream gradient into the inputs and all parameters).

Time: median over ``--repeats`` runs after one warm-up, variants interleaved, all in this process.

Peak memory: each (variant, mode) runs once in a fresh subprocess. Just before the measured call
(inputs, parameters and upstream gradient already allocated, kernels warmed up on a tiny
problem) the child resets its peak-RSS mark (``echo 5 > /proc/self/clear_refs``) and reads its
resident set size; just after, it reads the peak (``VmHWM`` in ``/proc/self/status``). The
difference counts every page the call touched, whichever allocator served it: an upper bound on
the extra memory the call needed, and the most honest number available on a CPU without
instrumenting the allocator. (``getrusage().ru_maxrss`` is not used: on Linux a child inherits
the parent's high-water mark across fork/exec.) Linux only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from torch import Tensor

from attnlab.core.scores import AdditiveScore, default_chunk_bytes

VARIANTS = ("naive", "chunked", "chunked-tanh")
MODES = ("forward", "train")


def build(
    batch: int, length: int, hidden: int, seed: int = 0
) -> tuple[AdditiveScore, Tensor, Tensor, Tensor]:
    """The score module (query_dim = key_dim = hidden_dim = ``hidden``), inputs, upstream grad."""
    torch.manual_seed(seed)
    score = AdditiveScore(hidden, hidden, hidden_dim=hidden)
    query = torch.randn(batch, length, hidden)
    key = torch.randn(batch, length, hidden)
    upstream = torch.randn(batch, length, length)
    return score, query, key, upstream


def naive_scores(score: AdditiveScore, query: Tensor, key: Tensor) -> Tensor:
    """The literal formula: builds ``(B, Lq, Lk, H)`` tensors."""
    q = score.query_proj(query).unsqueeze(2)  # (b, i, 1, h)
    k = score.key_proj(key).unsqueeze(1)  # (b, 1, j, h)
    return torch.tanh(q + k) @ score.v  # (b, i, j)


def chunked_tanh_scores(score: AdditiveScore, query: Tensor, key: Tensor) -> Tensor:
    """Forward-only tiling with ``torch.tanh`` (same tile budget as ``chunked``)."""
    q, k, v = score.query_proj(query), score.key_proj(key), score.v
    batch, q_len, hidden = q.shape
    k_len = k.shape[1]
    rows = max(1, default_chunk_bytes(q.device) // (k_len * hidden * q.element_size()))
    rows = min(rows, q_len)
    out = q.new_empty(batch, q_len, k_len)
    buffer = q.new_empty(rows, k_len, hidden)
    for b in range(batch):
        for i0 in range(0, q_len, rows):
            n = min(rows, q_len - i0)
            t = buffer[:n]
            torch.add(q[b, i0 : i0 + n, None], k[b, None], out=t)
            out[b, i0 : i0 + n] = t.tanh_() @ v
    return out


def runner(
    variant: str, mode: str, score: AdditiveScore, query: Tensor, key: Tensor, upstream: Tensor
) -> Callable[[], None]:
    fn = {
        "naive": naive_scores,
        "chunked": lambda s, q, k: s(q, k),
        "chunked-tanh": chunked_tanh_scores,
    }[variant]
    if mode == "forward":

        def run() -> None:
            with torch.no_grad():
                fn(score, query, key)

        return run
    if variant == "chunked-tanh":
        raise ValueError("chunked-tanh is forward only")
    query.requires_grad_(True)
    key.requires_grad_(True)

    def run_train() -> None:
        score.zero_grad(set_to_none=True)
        query.grad = key.grad = None
        fn(score, query, key).backward(upstream)

    return run_train


def measure_memory(variant: str, mode: str, batch: int, length: int, hidden: int) -> None:
    """Child process: print the peak-RSS growth of one call, in MiB, as JSON."""
    score, query, key, upstream = build(batch, length, hidden)
    tiny = build(2, 8, hidden)
    runner(variant, mode, *tiny)()  # load kernels, start the thread pool
    run = runner(variant, mode, score, query, key, upstream)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak-RSS mark (VmHWM) to the current RSS
    resident_before = _status_kib("VmRSS")
    run()
    peak_after = _status_kib("VmHWM")
    print(json.dumps({"peak_mib": (peak_after - resident_before) / 1024}))


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])  # "VmHWM:   123456 kB"
    raise RuntimeError(f"{field} not found in /proc/self/status")


def peak_memory_mib(variant: str, mode: str, batch: int, length: int, hidden: int) -> float:
    sizes = ["--batch", str(batch), "--length", str(length), "--hidden", str(hidden)]
    sizes += ["--threads", str(torch.get_num_threads())]
    cmd = [sys.executable, __file__, "--measure", variant, mode, *sizes]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["peak_mib"])


def time_variants(
    variants: list[str], mode: str, batch: int, length: int, hidden: int, repeats: int
) -> dict[str, float]:
    """Median seconds per call, variants interleaved."""
    score, query, key, upstream = build(batch, length, hidden)
    runs = {v: runner(v, mode, score, query, key, upstream) for v in variants}
    for run in runs.values():
        run()  # warm-up
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(repeats):
        for v, run in runs.items():
            start = time.perf_counter()
            run()
            times[v].append(time.perf_counter() - start)
    return {v: statistics.median(ts) for v, ts in times.items()}


def max_differences(batch: int, length: int, hidden: int) -> dict[str, tuple[float, float]]:
    """Largest absolute difference chunked vs naive, for the scores and every gradient."""
    score, query, key, upstream = build(batch, length, hidden)
    query.requires_grad_(True)
    key.requires_grad_(True)
    tensors = [query, key, *score.parameters()]
    results = {}
    for name, fn in (("naive", naive_scores), ("chunked", lambda s, q, k: s(q, k))):
        scores = fn(score, query, key)
        grads = torch.autograd.grad(scores, tensors, upstream)
        results[name] = (scores.detach(), grads)
        del scores
    (s_n, g_n), (s_c, g_c) = results["naive"], results["chunked"]
    out = {"scores": (float((s_n - s_c).abs().max()), float(s_n.abs().max()))}
    for name, a, b in zip(("query", "key", "W", "U", "v"), g_n, g_c, strict=True):
        out[f"grad {name}"] = (float((a - b).abs().max()), float(a.abs().max()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=256, help="Lq = Lk")
    parser.add_argument("--hidden", type=int, default=256, help="H (= query_dim = key_dim)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--long-length", type=int, default=1024, help="chunked-only length")
    parser.add_argument("--no-long", action="store_true", help="skip the chunked-only run")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--measure", nargs=2, metavar=("VARIANT", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.measure:
        variant, mode = args.measure
        measure_memory(variant, mode, args.batch, args.length, args.hidden)
        return

    B, L, H = args.batch, args.length, args.hidden
    cpu = platform.processor() or platform.machine()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu}, "
        f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.2f}"
    )
    budget = default_chunk_bytes(torch.device("cpu")) >> 20
    print(
        f"B={B}, Lq=Lk={L}, H={H}, float32; one (B, Lq, Lk, H) tensor = "
        f"{4 * B * L * L * H / 2**20:.0f} MiB; chunk budget {budget} MiB"
    )

    print("\nmax |chunked - naive| (float32), and max |naive| for scale:")
    for name, (diff, scale) in max_differences(B, L, H).items():
        print(f"  {name:12s} {diff:9.3g}  (scale {scale:.3g})")

    results: dict[tuple[str, str], tuple[float, float]] = {}
    for mode in MODES:
        variants = [v for v in VARIANTS if not (mode == "train" and v == "chunked-tanh")]
        times = time_variants(variants, mode, B, L, H, args.repeats)
        for v in variants:
            results[(v, mode)] = (times[v], peak_memory_mib(v, mode, B, L, H))

    print(f"\n{'variant':14s} {'mode':8s} {'median s':>9s} {'peak MiB':>9s}")
    for (v, mode), (t, m) in results.items():
        print(f"{v:14s} {mode:8s} {t:9.3f} {m:9.1f}")
    print("\nratios, naive / chunked:")
    for mode in MODES:
        (tn, mn), (tc, mc) = results[("naive", mode)], results[("chunked", mode)]
        fraction = mn / max(mc, 1e-9)
        print(
            f"  {mode:8s} speed-up {tn / tc:5.1f}x   chunked peak memory 1/{fraction:.1f} of naive"
        )
    tn, tt = results[("naive", "forward")][0], results[("chunked-tanh", "forward")][0]
    print(f"  forward  speed-up of the tiling alone (torch.tanh tiles): {tn / tt:.1f}x")

    if not args.no_long:
        L2 = args.long_length
        naive_gib = 4 * B * L2 * L2 * H / 2**30
        print(
            f"\nchunked only at Lq=Lk={L2} (one naive (B, Lq, Lk, H) tensor: {naive_gib:.0f} GiB):"
        )
        for mode in MODES:
            repeats = max(1, math.ceil(args.repeats / 2))
            t = time_variants(["chunked"], mode, B, L2, H, repeats)["chunked"]
            m = peak_memory_mib("chunked", mode, B, L2, H)
            print(f"  {mode:8s} median {t:7.3f} s   peak {m:7.1f} MiB")
    print(
        f"\nload average at end {os.getloadavg()[0]:.2f} (shared machine: timings are indicative)"
    )


if __name__ == "__main__":
    main()
