"""``attnlab explain RUN_DIR --input TEXT``: the page holds the attention that the run's saved
model computes on the input (recomputed here with ``attnlab.interpret.record`` and with the
model's own weight fields), and each way a run cannot be explained is a clear error."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from attnlab.architectures.transformer import Transformer
from attnlab.cli import build_parser, main
from attnlab.core.init_args import recording_init_args
from attnlab.core.serialization import save_pretrained
from attnlab.data.translation import BOS_ID, EOS_ID, SPECIAL_TOKENS, Vocab, tokenize
from attnlab.experiments.explain import EXPLAINERS
from attnlab.experiments.vaswani2017_translation.attention_view import (
    MODEL_DIR,
    VOCAB_FILE,
    load_vocab,
    save_vocab,
)
from attnlab.interpret import record
from attnlab.report.attention_view import VIEW_FILE, read_view_data

WORDS = ["i", "am", "cold", ".", "you", "are", "tired", "he", "is", "here"]


def _page_data(page: Path) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" class="attn-data">(.*?)</script>',
                      page.read_text(), re.S)
    assert match, "no view data on the page"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def _fake_run(folder: Path, *, status: str = "finished",
              experiment: str = "vaswani2017_translation") -> Path:
    """A finished translation run: a small saved Transformer, its vocabulary, run.json."""
    folder.mkdir(parents=True)
    torch.manual_seed(3)
    vocab = Vocab(WORDS)
    with recording_init_args():
        model = Transformer(len(vocab), len(vocab), dim=16, num_heads=2, num_encoder_layers=2,
                            num_decoder_layers=2, hidden_dim=32, dropout=0.0,
                            share_embeddings=True, tie_output=True, pad_index=0)
    with torch.no_grad():  # special tokens unlikely (tied output), so the output has words
        model.src_embedding.weight[: len(SPECIAL_TOKENS)] *= 0.0
    save_pretrained(model, folder / MODEL_DIR)
    save_vocab(folder / VOCAB_FILE, vocab)
    (folder / "run.json").write_text(json.dumps({"experiment": experiment, "status": status}))
    (folder / "config.json").write_text(json.dumps({"max_decode_length": 5}))
    return folder


def _reference(folder: Path, text: str) -> dict[str, np.ndarray]:
    """The three maps computed here: the model's greedy output teacher-forced under record."""
    import attnlab

    model = attnlab.from_pretrained(folder / MODEL_DIR).eval()
    vocab = load_vocab(folder / VOCAB_FILE)
    src = torch.tensor([[*vocab.encode(tokenize(text)), EOS_ID]])
    with torch.no_grad():
        out_ids = model.greedy_decode(src, bos_index=BOS_ID, eos_index=EOS_ID,
                                      max_length=5).tokens[0].tolist()
        output = vocab.decode(out_ids)
        tgt_in = torch.tensor([[BOS_ID, *vocab.encode(output)]])
        with record(model) as rec:
            out = model(src, tgt_in)
    got = {
        "encoder": torch.stack([w[0] for w in rec.weights("encoder.layers.*.self_attn")]),
        "decoder": torch.stack([w[0] for w in rec.weights("decoder.layers.*.self_attn")]),
        "cross": torch.stack([w[0] for w in rec.weights("decoder.layers.*.multihead_attn")]),
    }
    # the model's own weight fields agree with what record captured
    assert out.encoder_weights is not None and out.weights is not None
    assert out.cross_weights is not None
    torch.testing.assert_close(got["encoder"], out.encoder_weights[0])
    torch.testing.assert_close(got["decoder"], out.weights[0])
    torch.testing.assert_close(got["cross"], out.cross_weights[0])
    return {name: w.numpy() for name, w in got.items()} | {"output": np.array(output)}


def test_explain_writes_the_models_attention_on_the_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _fake_run(tmp_path / "run")
    text = "I am COLD, <you> & tired!"  # "," "<" ">" "&" drop out; "!" is unknown to the vocab
    out = tmp_path / "page.html"
    assert main(["explain", str(run), "--input", text, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)

    data = _page_data(out)
    (example,) = data["examples"]
    maps = {m["name"]: m for m in example["maps"]}
    assert list(maps) == ["encoder", "decoder", "cross"]
    expected = _reference(run, text)
    output = list(expected.pop("output"))
    assert len(output) >= 1, "the translation is empty: the decoder maps would be trivial"
    source = ["i", "am", "cold", "you", "tired", "! (unknown)", "<eos>"]
    target = ["<bos>", *output]
    assert maps["encoder"]["queries"] == maps["encoder"]["keys"] == source
    assert maps["decoder"]["queries"] == maps["decoder"]["keys"] == target
    assert maps["cross"]["queries"] == target and maps["cross"]["keys"] == source
    for name, weights in expected.items():
        shown = np.array(maps[name]["weights"])
        assert shown.shape == weights.shape == (2, 2, *shown.shape[2:])
        assert np.abs(shown - weights).max() <= 5e-4 + 1e-7, name
    # the page has the view's script and nothing else runs or loads
    page = out.read_text()
    assert page.count("<script>") == 1 and "src=" not in page


def test_default_output_is_in_the_run_folder(tmp_path: Path) -> None:
    run = _fake_run(tmp_path / "run")
    assert main(["explain", str(run), "--input", "he is here"]) == 0
    assert _page_data(run / "explain.html")["examples"][0]["title"].startswith("he is here →")


@pytest.mark.parametrize(("setup", "message"), [
    ("missing", "is not a run folder (no such folder)"),
    ("not_a_run", "is not a run folder"),
    ("running", "is running, not finished"),
    ("failed", "is failed, not finished"),
    ("unsupported", "'demo_retrieval' does not support explain; experiments that do: "
                    "vaswani2017_translation"),
    ("no_model", "holds no saved Transformer"),
    ("no_vocab", "no vocabulary"),
    ("corrupt_model", "cannot load the model in"),
    ("empty_input", "--input must be non-empty text"),
    ("no_token", "the input has no token after normalisation"),
])
def test_runs_that_cannot_be_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str
) -> None:
    folder = tmp_path / "run"
    text = "i am cold"
    if setup == "missing":
        pass
    elif setup == "not_a_run":
        folder.mkdir()
    elif setup in ("running", "failed"):
        _fake_run(folder, status=setup)
    elif setup == "unsupported":
        _fake_run(folder, experiment="demo_retrieval")
    else:
        _fake_run(folder)
    if setup == "no_model":
        for path in (folder / MODEL_DIR).iterdir():
            path.unlink()
    elif setup == "no_vocab":
        (folder / VOCAB_FILE).unlink()
    elif setup == "corrupt_model":
        (folder / MODEL_DIR / "model.safetensors").write_bytes(b"not safetensors")
    elif setup == "empty_input":
        text = "   "
    elif setup == "no_token":
        text = ",,, ; -"
    assert main(["explain", str(folder), "--input", text]) == 2
    err = capsys.readouterr().err
    assert err.startswith("attnlab explain: error: ") and message in err, err
    assert not (folder / "explain.html").exists()


def test_help_names_every_experiment_with_a_hook() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    description = sub.choices["explain"].description  # type: ignore[attr-defined]
    assert EXPLAINERS and all(name in description for name in EXPLAINERS)


def test_a_smoke_run_saves_what_explain_needs_and_its_report_shows_the_view(
    tmp_path: Path,
) -> None:
    """The real experiment at smoke scale (needs the eng-fra data under ATTNLAB_DATA)."""
    data_dir = os.environ.get("ATTNLAB_DATA")
    if not data_dir or not (Path(data_dir) / "eng-fra").is_dir():
        pytest.skip("the eng-fra data is not under ATTNLAB_DATA")
    pytest.importorskip("matplotlib")
    from attnlab.experiments.runner import run_experiment

    result = run_experiment("vaswani2017_translation", scale="smoke", out=tmp_path / "run",
                            progress=False, quiet=True)
    run = tmp_path / "run"
    assert result.report is not None
    view = read_view_data(run / VIEW_FILE)
    assert len(view["examples"]) == 3
    assert [m["name"] for m in view["examples"][0]["maps"]] == ["encoder", "decoder", "cross"]
    assert _page_data(result.report) == view  # the report embeds the run's view

    # explain on a test sentence reproduces what the run recorded with its final model
    first = view["examples"][0]["maps"][0]
    words = [k.removesuffix(" (unknown)") for k in first["keys"][:-1]]
    out = tmp_path / "explain.html"
    assert main(["explain", str(run), "--input", " ".join(words), "--out", str(out)]) == 0
    (again,) = _page_data(out)["examples"]
    assert again["maps"] == view["examples"][0]["maps"], (
        "the model and vocabulary saved in the run folder do not reproduce the run's attention"
    )
