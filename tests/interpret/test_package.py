"""The public surface of attnlab.interpret, and a light import."""

from __future__ import annotations

import subprocess
import sys

import attnlab.interpret

PUBLIC = {
    "FAITHFULNESS_MODES", "HEAD_FUSIONS", "KINDS", "AttentionRecord", "FaithfulnessCurve",
    "Recording", "Relevance", "TokenAttribution", "TorchAttentionAdapter", "attention_flow",
    "attention_kind", "convert_torch_attention", "faithfulness", "gradient_x_input",
    "mix_attention", "random_attribution", "record", "relevance", "rollout",
}


def test_the_public_names_are_the_snapshot() -> None:
    assert set(attnlab.interpret.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(attnlab.interpret, name) is not None


def test_importing_interpret_loads_neither_matplotlib_nor_the_models() -> None:
    code = "import attnlab.interpret, sys; print(' '.join(sys.modules))"
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True, timeout=120).stdout.split())
    assert "matplotlib" not in loaded
    assert not any(m.startswith(("attnlab.architectures", "attnlab.data", "attnlab.train"))
                   for m in loaded)
