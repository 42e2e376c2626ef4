"""SE-ResNet-50 vs ResNet-50: CPU inference time, and the parameter / FLOP table of the SE paper.

Hu et al., "Squeeze-and-Excitation Networks", https://arxiv.org/abs/1709.01507, section 4
("Model and Computational Complexity"): for a 224 x 224 input, ResNet-50 takes 164 ms and
SE-ResNet-50 167 ms on the authors' CPU (ratio 1.018).

* Timing: the ``se_resnet`` suite of :mod:`attnlab.bench` (``attnlab bench --suite se_resnet``):
  both models in ``eval()`` under ``torch.inference_mode()``, float32, random weights, measured
  round-robin in one process; the rows give the median and the inter-quartile range, and the
  machine (CPU, threads, load average) is printed before and after. Options other than
  ``--no-table`` are passed to ``attnlab bench`` (``--quick``, ``--json OUT``, ``--threads N``).
* Table: exact parameter counts next to the paper's (printed in millions, rounded up to one
  decimal), and multiply-adds at 224 x 224 from ``torch.utils.flop_counter.FlopCounterMode``
  (its FLOPs / 2) plus the SE blocks' element-wise squeeze and scaling, the convention of
  :mod:`attnlab.vision.complexity`; counts run on the ``meta`` device.

Run: ``python benchmarks/bench_se_resnet.py [--no-table] [--quick] [--threads N]``.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable

import torch
from torch import nn

from attnlab.cli import main as cli_main
from attnlab.vision.complexity import count_flops, count_multiply_adds, count_parameters
from attnlab.vision.complexity import millions_rounded_up as paper_millions
from attnlab.vision.inception import bn_inception, se_bn_inception
from attnlab.vision.resnet import (
    resnet50,
    resnet101,
    resnet152,
    resnext50_32x4d,
    se_resnet50,
    se_resnet101,
    se_resnet152,
    se_resnext50_32x4d,
)

# (label, factory, paper params in millions, paper GFLOPs, source in the SE paper)
TABLE: list[tuple[str, Callable[[], nn.Module], float | None, float | None, str]] = [
    ("ResNet-50", lambda: resnet50(device="meta"), 25.6, 3.86, "Tab. 2, 10"),
    ("SE-ResNet-50 (r=16)", lambda: se_resnet50(device="meta"), 28.1, 3.87, "Tab. 2, 10"),
    ("SE-ResNet-50 r=2", lambda: se_resnet50(2, device="meta"), 45.7, None, "Tab. 10"),
    ("SE-ResNet-50 r=4", lambda: se_resnet50(4, device="meta"), 35.7, None, "Tab. 10"),
    ("SE-ResNet-50 r=8", lambda: se_resnet50(8, device="meta"), 30.7, None, "Tab. 10"),
    ("SE-ResNet-50 r=32", lambda: se_resnet50(32, device="meta"), 26.9, None, "Tab. 10"),
    ("SE_Stage_2", lambda: se_resnet50(stages=(2,), device="meta"), 25.6, None, "Tab. 13"),
    ("SE_Stage_3", lambda: se_resnet50(stages=(3,), device="meta"), 25.7, None, "Tab. 13"),
    ("SE_Stage_4", lambda: se_resnet50(stages=(4,), device="meta"), 26.4, None, "Tab. 13"),
    ("SE-PRE", lambda: se_resnet50(position="pre", device="meta"), None, None, "Tab. 14"),
    ("SE-POST", lambda: se_resnet50(position="post", device="meta"), None, None, "Tab. 14"),
    ("SE-Identity", lambda: se_resnet50(position="identity", device="meta"), None, None,
     "Tab. 14"),
    ("SE_3x3", lambda: se_resnet50(position="3x3", device="meta"), None, None, "Tab. 15"),
    ("ResNet-101", lambda: resnet101(device="meta"), None, 7.58, "Tab. 2"),
    ("SE-ResNet-101", lambda: se_resnet101(device="meta"), None, 7.60, "Tab. 2"),
    ("ResNet-152", lambda: resnet152(device="meta"), None, 11.30, "Tab. 2"),
    ("SE-ResNet-152", lambda: se_resnet152(device="meta"), None, 11.32, "Tab. 2"),
    ("ResNeXt-50 (32x4d)", lambda: resnext50_32x4d(device="meta"), None, 4.24, "Tab. 2"),
    ("SE-ResNeXt-50 (32x4d)", lambda: se_resnext50_32x4d(device="meta"), None, 4.25, "Tab. 2"),
    ("BN-Inception", lambda: bn_inception(device="meta"), None, 2.03, "Tab. 2"),
    ("SE-BN-Inception", lambda: se_bn_inception(device="meta"), None, 2.04, "Tab. 2"),
]


def _mark(ours: float, paper: float | None) -> str:
    if paper is None:
        return " "
    return "=" if abs(ours - paper) < 1e-9 else "x"


def complexity_table() -> list[str]:
    """One line per model: params (exact, paper style, paper) and GFLOPs (ours, paper)."""
    x = torch.empty(1, 3, 224, 224, device="meta")
    lines = [
        f"{'model':<23} {'params':>11} {'ours M':>7} {'paper M':>8}   "
        f"{'FlopCounter/2':>13} {'+SE elem.':>10} {'paper':>6}   source",
    ]
    for label, build, paper_params, paper_gflops, source in TABLE:
        model = build()
        n = count_parameters(model)
        ours_m = paper_millions(n)
        counter = count_flops(model, x) / 2e9
        gflops = round(count_multiply_adds(model, x) / 1e9, 2)
        pp = f"{paper_params:8.1f}" if paper_params is not None else f"{'-':>8}"
        pg = f"{paper_gflops:6.2f}" if paper_gflops is not None else f"{'-':>6}"
        lines.append(
            f"{label:<23} {n:>11,} {ours_m:7.1f} {pp} {_mark(ours_m, paper_params)} "
            f"{counter:13.4f} {gflops:10.2f} {pg} {_mark(gflops, paper_gflops)} {source}"
        )
    lines.append("(= matches the paper's printed value, x differs; blank: the paper prints none)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog="Other options go to `attnlab bench` (--quick, --json OUT, --threads N, ...).",
    )
    parser.add_argument("--no-table", action="store_true", help="skip the complexity table")
    args, bench_args = parser.parse_known_args(argv)
    print(f"torch {torch.__version__}, python {platform.python_version()}")
    if not args.no_table:
        print()
        print("\n".join(complexity_table()))
        print()
    return cli_main(["bench", "--suite", "se_resnet", *bench_args])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
