"""MultiHeadAttention vs torch.nn.MultiheadAttention, in one process on the same inputs.

Default size (issue targets): B=4, L=1024, dim=512, 8 heads, float32, all CPU threads torch uses.

* Inference runs under ``torch.inference_mode()`` with both modules in ``eval()``; under it
  ``nn.MultiheadAttention`` takes its native fast path (``torch._native_multi_head_attention``).
* Training runs forward + ``backward()`` of ``context.sum()`` (plus ``weights.sum()`` when the
  weights are returned), modules in ``train()`` with dropout 0.

Rows are compared with ``ratio = torch median / ours median`` (> 1 means attnlab is faster).
Targets: >= 1.0x without weights, >= 1.2x with per-head weights (inference). The raw SDPA row is
``F.scaled_dot_product_attention`` alone on pre-projected ``(B, H, L, Dh)`` tensors (the attention
core without the four projections); the ``linear+SDPA+linear`` row is the smallest multi-head
module one can write with the fused kernel.

Timings are medians over ``--repeats`` runs after ``--warmup`` runs, the implementations measured
round-robin so that drifts in machine load hit all of them alike. On a machine shared with other
jobs the spread column says how far to trust a line.

Run: ``python benchmarks/bench_multihead.py [--repeats 15]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.mechanisms.multihead import MultiHeadAttention


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def measure(
    fns: dict[str, Callable[[], object]], *, repeats: int, warmup: int
) -> dict[str, list[float]]:
    """Seconds per call of every function, interleaved round-robin."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def _row(section: str, name: str, t: list[float], base: list[float] | None, target: str) -> str:
    med = statistics.median(t) * 1e3
    q = statistics.quantiles(t, n=4) if len(t) >= 4 else [min(t), med / 1e3, max(t)]
    spread = f"{q[0] * 1e3:7.1f}-{q[2] * 1e3:7.1f}"
    ratio = f"{statistics.median(base) / statistics.median(t):5.2f}x" if base else "    -"
    return f"{section:<22} {name:<34} {med:9.1f} {spread:>17} {ratio:>7}  {target}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-training", action="store_true", help="skip forward+backward rows")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    B, L, E, H = args.batch, args.length, args.dim, args.heads
    theirs = nn.MultiheadAttention(E, H, batch_first=True)
    ours = MultiHeadAttention.from_torch(theirs)
    x = torch.randn(B, L, E)
    q, k, v = (torch.randn(B, H, L, E // H) for _ in range(3))
    in_w, in_b = theirs.in_proj_weight, theirs.in_proj_bias
    out_w, out_b = theirs.out_proj.weight, theirs.out_proj.bias

    def minimal_sdpa() -> Tensor:
        qkv = F.linear(x, in_w, in_b).unflatten(-1, (3, H, E // H)).permute(2, 0, 3, 1, 4)
        ctx = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (b, h, i, d)
        return F.linear(ctx.transpose(1, 2).reshape(B, L, E), out_w, out_b)

    print(f"attnlab MultiHeadAttention benchmark: B={B} L={L} dim={E} heads={H} float32")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {_cpu_name()}, "
        f"{os.cpu_count()} CPUs visible, THP_MEM_ALLOC_ENABLE="
        f"{os.environ.get('THP_MEM_ALLOC_ENABLE', 'unset')}"
    )
    lines = []

    theirs.eval()
    ours.eval()
    with torch.inference_mode():
        # Same computation first: outputs agree to float32 rounding.
        ref, ref_w = theirs(x, x, x, need_weights=True, average_attn_weights=False)
        got, got_w = ours(x)
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
        assert got_w is not None and ref_w is not None
        torch.testing.assert_close(got_w, ref_w, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(ours(x, need_weights=False).context, ref, rtol=1e-4, atol=1e-5)
        del ref, ref_w, got, got_w

        t = measure(
            {
                "nn.MHA": lambda: theirs(x, x, x, need_weights=False),
                "ours": lambda: ours(x, need_weights=False),
                "sdpa": lambda: F.scaled_dot_product_attention(q, k, v),
                "minimal": minimal_sdpa,
            },
            repeats=args.repeats,
            warmup=args.warmup,
        )
        sec = "inference, no weights"
        lines += [
            _row(sec, "nn.MultiheadAttention", t["nn.MHA"], None, ""),
            _row(sec, "attnlab MultiHeadAttention", t["ours"], t["nn.MHA"], "target >= 1.00x"),
            _row(sec, "linear+SDPA+linear (minimal)", t["minimal"], t["nn.MHA"], ""),
            _row(sec, "raw SDPA, pre-projected", t["sdpa"], t["nn.MHA"], "(attention core only)"),
            f"{'':<22} attnlab throughput vs linear+SDPA+linear: "
            f"{statistics.median(t['minimal']) / statistics.median(t['ours']):.0%}",
        ]
        t = measure(
            {
                "nn.MHA": lambda: theirs(
                    x, x, x, need_weights=True, average_attn_weights=False
                ),
                "ours": lambda: ours(x),
            },
            repeats=args.repeats,
            warmup=args.warmup,
        )
        sec = "inference, head wts"
        lines += [
            _row(sec, "nn.MHA(average_attn_weights=False)", t["nn.MHA"], None, ""),
            _row(sec, "attnlab MultiHeadAttention", t["ours"], t["nn.MHA"], "target >= 1.20x"),
        ]
        kpm = torch.zeros(B, L, dtype=torch.bool)
        kpm[:, L - L // 4 :] = True  # the last quarter of every sequence is padding
        t = measure(
            {
                "nn.MHA": lambda: theirs(
                    x, x, x, key_padding_mask=kpm, need_weights=True, average_attn_weights=False
                ),
                "ours": lambda: ours(x, mask=~kpm),
            },
            repeats=args.repeats,
            warmup=args.warmup,
        )
        sec = "inference, wts+padding"
        lines += [
            _row(sec, "nn.MHA(key_padding_mask)", t["nn.MHA"], None, ""),
            _row(sec, "attnlab MultiHeadAttention(mask)", t["ours"], t["nn.MHA"], ""),
        ]

    if not args.no_training:
        theirs.train()
        ours.train()

        def train_step(module: nn.Module, need: bool) -> Callable[[], None]:
            def run() -> None:
                if isinstance(module, MultiHeadAttention):
                    context, weights = module(x, need_weights=need)
                else:
                    context, weights = module(
                        x, x, x, need_weights=need, average_attn_weights=False
                    )
                loss = context.sum() if weights is None else context.sum() + weights.sum()
                loss.backward()

            return run

        for need in (False, True):
            t = measure(
                {"nn.MHA": train_step(theirs, need), "ours": train_step(ours, need)},
                repeats=max(3, args.repeats // 2),
                warmup=1,
            )
            sec = "train fwd+bwd, " + ("head wts" if need else "no wts")
            lines += [
                _row(sec, "nn.MultiheadAttention", t["nn.MHA"], None, ""),
                _row(sec, "attnlab MultiHeadAttention", t["ours"], t["nn.MHA"], ""),
            ]

    print(f"{'case':<22} {'implementation':<34} {'median ms':>9} {'IQR ms':>17} {'ratio':>7}")
    print("\n".join(lines))
    print(
        "ratio = nn.MultiheadAttention median / this row's median (> 1: faster than torch).\n"
        "attnlab allocates score buffers of >= 32 MiB on transparent huge pages (Linux madvise);\n"
        "torch does so only when THP_MEM_ALLOC_ENABLE=1 is set before it starts."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
