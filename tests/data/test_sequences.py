"""Copy / reverse / sort generators and the dates task."""

from __future__ import annotations

import datetime

import pytest

from attnlab.data.sequences import (
    DATE_FORMATS,
    MONTHS,
    date_vocab,
    encode_dates,
    format_date,
    make_dates,
    make_sequence_task,
)
from attnlab.data.translation import NUM_SPECIAL_TOKENS, UNK_ID


@pytest.mark.parametrize("task", ["copy", "reverse", "sort"])
def test_sequence_tasks(task: str) -> None:
    pairs = make_sequence_task(task, 200, min_length=3, max_length=7, vocab_size=6, seed=1)
    assert pairs == make_sequence_task(task, 200, min_length=3, max_length=7, vocab_size=6, seed=1)
    assert pairs != make_sequence_task(task, 200, min_length=3, max_length=7, vocab_size=6, seed=2)
    lengths = {len(s) for s, _ in pairs}
    assert lengths == set(range(3, 8))  # every length of the range occurs
    for source, target in pairs:
        assert all(NUM_SPECIAL_TOKENS <= x < NUM_SPECIAL_TOKENS + 6 for x in source)
        expected = {"copy": source, "reverse": source[::-1], "sort": sorted(source)}[task]
        assert target == expected


def test_sequence_task_bad_inputs() -> None:
    with pytest.raises(ValueError, match="task"):
        make_sequence_task("shuffle", 1, min_length=1, max_length=2)
    with pytest.raises(ValueError, match="min_length"):
        make_sequence_task("copy", 1, min_length=0, max_length=2)
    with pytest.raises(ValueError, match="max_length"):
        make_sequence_task("copy", 1, min_length=3, max_length=2)
    with pytest.raises(ValueError, match="vocab_size"):
        make_sequence_task("copy", 1, min_length=1, max_length=2, vocab_size=0)


def test_dates_are_correct_iso_and_deterministic() -> None:
    pairs = make_dates(300, seed=5)
    assert pairs == make_dates(300, seed=5) and pairs != make_dates(300, seed=6)
    for human, iso in pairs:
        date = datetime.date.fromisoformat(iso)
        assert 1950 <= date.year <= 2049
        assert str(date.year) in human
    humans = " ".join(h for h, _ in pairs)
    assert any(m in humans.lower() for m in MONTHS) and "/" in humans and "." in humans


def test_every_format_is_unambiguous() -> None:
    """Parsing each format back gives the date: day/month order is fixed by the separator."""
    date = datetime.date(2013, 7, 4)  # a thursday; day != month
    written = {pattern: format_date(date, pattern) for pattern in DATE_FORMATS}
    assert written["{mm}/{dd}/{y}"] == "07/04/2013"
    assert written["{d}.{m}.{y}"] == "4.7.2013"
    assert written["{weekday}, {month} {d}, {y}"] == "thursday, july 4, 2013"
    assert written["{wd} {d} {mon} {y}"] == "thu 4 jul 2013"
    assert len(set(written.values())) == len(DATE_FORMATS)


def test_date_vocab_covers_everything() -> None:
    vocab = date_vocab()
    pairs = make_dates(500, seed=0)
    for (human, iso), (src, tgt) in zip(pairs, encode_dates(pairs, vocab), strict=True):
        assert UNK_ID not in src and UNK_ID not in tgt
        assert "".join(vocab.decode(src)) == human and "".join(vocab.decode(tgt)) == iso


def test_dates_bad_inputs() -> None:
    with pytest.raises(ValueError, match="end_year"):
        make_dates(1, start_year=2000, end_year=1999)
    with pytest.raises(ValueError, match="formats"):
        make_dates(1, formats=())
    with pytest.raises(TypeError, match="date"):
        format_date("2020-01-01", "{y}")  # type: ignore[arg-type]
