"""Attention flow on one CPU thread: time per output row and for the full matrix.

Abnar & Zuidema's attention flow (:func:`attnlab.interpret.attention_flow`) solves one maximum
flow per (output, input) pair, so a full ``L x L`` matrix is ``L^2`` problems over a graph of
``N - 2`` dense ``L x L`` edge blocks. This script times it on synthetic attention::

    python benchmarks/bench_flow.py [--length 128] [--layers 6] [--heads 8] [--rows 4]
                                    [--kind random|local] [--full] [--seed 0]

``--kind random`` is softmax attention of random scores times 2 (every flow then sits at the
smaller of the output's and the input's end cuts); ``--kind local`` decays with distance and
shares position 0, like trained encoders, which gives interior minimum cuts and more push-relabel
rounds. Times are wall clock and process CPU seconds; the CPU time is the steadier figure on a
shared machine.
"""

from __future__ import annotations

import argparse
import time

import torch

from attnlab.interpret import attention_flow


def synthetic_attention(kind: str, layers: int, heads: int, length: int, seed: int) -> torch.Tensor:
    """``(1, N, H, L, L)`` float64 attention maps of the given ``kind``."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(1, layers, heads, length, length, generator=g, dtype=torch.float64)
    if kind == "random":
        scores = 2.0 * scores
    elif kind == "local":
        pos = torch.arange(length, dtype=torch.float64)
        scores = scores - 0.5 * (pos[:, None] - pos[None, :]).abs()
        scores[..., 0] += 3.0  # every position also looks at position 0
    else:
        raise ValueError(f"kind must be 'random' or 'local', got {kind!r}")
    return torch.softmax(scores, -1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--rows", type=int, default=4, help="output rows timed one by one")
    parser.add_argument("--kind", choices=("random", "local"), default="random")
    parser.add_argument("--full", action="store_true", help="also time the full L x L matrix")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    weights = synthetic_attention(args.kind, args.layers, args.heads, args.length, args.seed)
    print(f"attention flow, B=1 L={args.length} N={args.layers} H={args.heads} "
          f"kind={args.kind}, {torch.get_num_threads()} thread")
    step = max(1, args.length // max(1, args.rows))
    for row in range(0, step * args.rows, step)[: args.rows]:
        wall, cpu = time.perf_counter(), time.process_time()
        attention_flow(weights, positions=[row % args.length])
        print(f"row {row:4d}: {time.perf_counter() - wall:7.2f} s wall "
              f"{time.process_time() - cpu:7.2f} s cpu")
    if args.full:
        wall, cpu = time.perf_counter(), time.process_time()
        flow = attention_flow(weights)
        print(f"full {tuple(flow.shape)}: {time.perf_counter() - wall:7.1f} s wall "
              f"{time.process_time() - cpu:7.1f} s cpu")


if __name__ == "__main__":
    main()
