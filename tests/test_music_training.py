"""The trainer on a tiny real subset: a few steps, resumable, writes a checkpoint, split record and model card."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("miditok")
pytest.importorskip("music21")
torch = pytest.importorskip("torch")

from muselink.plugins.music import card, data, dataset  # noqa: E402
from muselink.plugins.music.model import ModelConfig, load_checkpoint  # noqa: E402
from muselink.plugins.music.train import TrainConfig, train  # noqa: E402


@pytest.fixture(scope="module")
def tiny_tokens(tmp_path_factory):
    pieces = [p for f in data.corpus_files(("bach",))[:3] for p in data.parse_file(*f)]
    return dataset.build(pieces, tmp_path_factory.mktemp("music") / "tokens.npz", progress=False)


def test_split_is_fixed_by_piece_id():
    """The same piece id always lands in the same split, and the split fractions are about 90/5/5."""
    ids = [f"folk/{i}.abc" for i in range(4000)]
    first = [data.split_of(i) for i in ids]
    assert first == [data.split_of(i) for i in ids]
    share = {s: first.count(s) / len(ids) for s in ("train", "validation", "test")}
    assert 0.86 < share["train"] < 0.94 and 0.03 < share["test"] < 0.07


def test_training_runs_a_few_steps_then_resumes_where_it_stopped(tiny_tokens, tmp_path):
    """3 steps write a loadable checkpoint; asking for 5 resumes from step 3 instead of starting over."""
    model_cfg = ModelConfig(vocab_size=dataset.TokenData(tiny_tokens).vocab_size, context=64, d_model=32,
                            n_layers=1, n_heads=2, d_ff=64)
    cfg = TrainConfig(steps=3, batch=2, eval_every=3, save_every=3, warmup=1, threads=1)
    messages = []
    record = train(tiny_tokens, tmp_path / "work", tmp_path / "m.pt", cfg, model_cfg, progress=False,
                   log=messages.append)
    assert record["steps"] == 3 and record["history"][-1]["step"] == 3
    assert math_finite(record["history"][-1]["train_loss"])
    model, blob = load_checkpoint(tmp_path / "m.pt")
    assert model.cfg.d_model == 32 and blob["training"]["steps"] == 3
    cfg.steps = 5
    record = train(tiny_tokens, tmp_path / "work", tmp_path / "m.pt", cfg, model_cfg, progress=False,
                   log=messages.append)
    assert any("resumed" in m and "step 3" in m for m in messages)
    assert record["steps"] == 5


def math_finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


def test_train_command_builds_data_trains_and_writes_a_card_whose_hash_matches(isolated_config, tmp_path):
    """`muselink train music` on the first 2 corpus files, 2 steps: checkpoint, split.json and MODEL_CARD.md with its sha256."""
    from muselink.core.cli import main

    out = tmp_path / "model" / "music.pt"
    out.parent.mkdir()
    code = main(["train", "music", "--limit-files", "2", "--steps", "2", "--batch", "2", "--threads", "1",
                 "--out", str(out)])
    assert code == 0
    assert (data.music_cache_dir() / "pieces-first2.jsonl.gz").exists()  # parsed corpus cached
    text = card.card_path(out).read_text()
    assert card.hash_in_card(text) == card.sha256(out)
    assert "non-commercial" in text and "bach" in text
    split = json.loads((out.parent / "split.json").read_text())
    assert sum(split["counts"].values()) == 2
