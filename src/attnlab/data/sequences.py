"""Generated sequence-to-sequence tasks: copy, reverse, sort, and human dates -> ISO dates.

No external data: every generator is a pure function of its arguments and ``seed``.

* :func:`make_sequence_task` (``task`` in :data:`SEQUENCE_TASKS`): ``(source, target)`` pairs of
  integer token lists; the source has a length drawn uniformly in ``[min_length, max_length]``
  and symbols drawn uniformly from ``vocab_size`` symbols; the target is the source copied,
  reversed or sorted (ascending). Symbols are numbered from ``offset`` (default
  :data:`~attnlab.data.translation.NUM_SPECIAL_TOKENS`), so the ids are directly usable with the
  special ids (pad 0, bos 1, eos 2, unk 3) of :mod:`attnlab.data.translation` and its
  :class:`~attnlab.data.translation.PairDataset`. The reverse task is the classic toy test of
  attention (a long-range alignment that a fixed-size encoding struggles with).
* :func:`make_dates`: ``(human, iso)`` string pairs, e.g. ``("tuesday, march 3, 1998",
  "1998-03-03")``: a date drawn uniformly between ``start_year`` and ``end_year`` written in one
  of the :data:`DATE_FORMATS` (English month and weekday names from fixed lists, not the
  locale), target ``YYYY-MM-DD``. Formats never mix day-month and month-day order with the same
  separator, so every input has one answer. Use :func:`date_vocab` and :func:`encode_dates` for
  character-level ids.

Example:
    >>> make_sequence_task("reverse", 2, min_length=2, max_length=4, vocab_size=5, seed=0)
    [([7, 4, 6], [6, 4, 7]), ([7, 7, 6, 7], [7, 6, 7, 7])]
    >>> make_dates(1, seed=3)[0][1]
    '1992-09-12'
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable, Sequence

from attnlab.data.translation import NUM_SPECIAL_TOKENS, Vocab

__all__ = [
    "DATE_FORMATS",
    "MONTHS",
    "SEQUENCE_TASKS",
    "WEEKDAYS",
    "date_vocab",
    "encode_dates",
    "format_date",
    "make_dates",
    "make_sequence_task",
]

SEQUENCE_TASKS: tuple[str, ...] = ("copy", "reverse", "sort")

MONTHS: tuple[str, ...] = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
WEEKDAYS: tuple[str, ...] = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)  # fmt: skip


def _fmt(d: datetime.date, pattern: str) -> str:
    month, weekday = MONTHS[d.month - 1], WEEKDAYS[d.weekday()]
    return pattern.format(
        d=d.day,
        dd=f"{d.day:02d}",
        m=d.month,
        mm=f"{d.month:02d}",
        y=d.year,
        month=month,
        mon=month[:3],
        Month=month.capitalize(),
        MONTH=month.upper(),
        weekday=weekday,
        Weekday=weekday.capitalize(),
        wd=weekday[:3],
    )


DATE_FORMATS: tuple[str, ...] = (
    "{d} {month} {y}",
    "{dd} {month} {y}",
    "{d} {Month} {y}",
    "{d} {mon} {y}",
    "{d} {MONTH} {y}",
    "{month} {d}, {y}",
    "{Month} {d}, {y}",
    "{mon} {d} {y}",
    "{weekday}, {month} {d}, {y}",
    "{Weekday} {d} {Month} {y}",
    "{wd} {d} {mon} {y}",
    "{d}.{m}.{y}",
    "{dd}.{mm}.{y}",
    "{mm}/{dd}/{y}",
    "{m}/{d}/{y}",
    "{y}/{mm}/{dd}",
    "{dd}-{mon}-{y}",
    "the {d} of {month} {y}",
)
"""Human formats (``str.format`` patterns); ``.`` and ``-`` are day-first, ``/`` month-first
unless the year comes first."""


def format_date(date: datetime.date, pattern: str) -> str:
    """Write ``date`` with one of the :data:`DATE_FORMATS` patterns.

    Example:
        >>> format_date(datetime.date(2001, 2, 3), "{weekday}, {month} {d}, {y}")
        'saturday, february 3, 2001'
    """
    if not isinstance(date, datetime.date):
        raise TypeError(f"date must be a datetime.date, got {type(date).__name__}")
    return _fmt(date, pattern)


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _reversed(tokens: list[int]) -> list[int]:
    return tokens[::-1]


def make_sequence_task(
    task: str,
    num_examples: int,
    *,
    min_length: int,
    max_length: int,
    vocab_size: int = 10,
    seed: int = 0,
    offset: int = NUM_SPECIAL_TOKENS,
) -> list[tuple[list[int], list[int]]]:
    """``num_examples`` seeded ``(source, target)`` pairs of the copy/reverse/sort task.

    Args:
        task: ``"copy"``, ``"reverse"`` or ``"sort"``.
        num_examples: number of pairs.
        min_length: shortest source (>= 1).
        max_length: longest source (>= ``min_length``).
        vocab_size: number of distinct symbols.
        seed: the seed; the same arguments always give the same pairs.
        offset: id of the first symbol (default: after the special ids).

    Returns:
        ``[(source_ids, target_ids), ...]``.
    """
    if task not in SEQUENCE_TASKS:
        raise ValueError(f"task must be one of {SEQUENCE_TASKS}, got {task!r}")
    _check_int(num_examples, "num_examples", 0)
    _check_int(min_length, "min_length", 1)
    _check_int(max_length, "max_length", min_length)
    _check_int(vocab_size, "vocab_size", 1)
    _check_int(offset, "offset", 0)
    rng = random.Random(seed)
    transforms: dict[str, Callable[[list[int]], list[int]]] = {
        "copy": list,
        "reverse": _reversed,
        "sort": sorted,
    }
    transform = transforms[task]
    pairs = []
    for _ in range(num_examples):
        length = rng.randint(min_length, max_length)
        source = [offset + rng.randrange(vocab_size) for _ in range(length)]
        pairs.append((source, transform(source)))
    return pairs


def make_dates(
    num_examples: int,
    *,
    seed: int = 0,
    start_year: int = 1950,
    end_year: int = 2049,
    formats: Sequence[str] = DATE_FORMATS,
) -> list[tuple[str, str]]:
    """``num_examples`` seeded ``(human date, ISO date)`` pairs.

    Args:
        num_examples: number of pairs.
        seed: the seed.
        start_year: first year (inclusive, >= 1).
        end_year: last year (inclusive, <= 9999).
        formats: patterns to draw from (uniformly), see :data:`DATE_FORMATS`.

    Returns:
        ``[("3 march 1998", "1998-03-03"), ...]``.
    """
    _check_int(num_examples, "num_examples", 0)
    _check_int(start_year, "start_year", 1)
    _check_int(end_year, "end_year", start_year)
    if end_year > 9999:
        raise ValueError(f"end_year must be <= 9999, got {end_year}")
    if isinstance(formats, str) or len(formats) == 0:
        raise ValueError("formats must be a non-empty sequence of patterns")
    rng = random.Random(seed)
    first = datetime.date(start_year, 1, 1).toordinal()
    last = datetime.date(end_year, 12, 31).toordinal()
    pairs = []
    for _ in range(num_examples):
        date = datetime.date.fromordinal(rng.randint(first, last))
        pattern = formats[rng.randrange(len(formats))]
        pairs.append((_fmt(date, pattern), date.isoformat()))
    return pairs


def date_vocab() -> Vocab:
    """Character vocabulary covering every :data:`DATE_FORMATS` output and ISO dates.

    Example:
        >>> vocab = date_vocab()
        >>> vocab.decode(vocab.encode(list("1998-03-03")))[:4]
        ['1', '9', '9', '8']
    """
    chars = set("0123456789-/., ")
    for name in MONTHS + WEEKDAYS + ("the of",):
        chars.update(name)
        chars.update(name.upper())
        chars.update(name.capitalize())
    return Vocab(sorted(chars))


def encode_dates(
    pairs: Sequence[tuple[str, str]], vocab: Vocab | None = None
) -> list[tuple[list[int], list[int]]]:
    """Character ids of ``(human, iso)`` pairs with :func:`date_vocab` (or ``vocab``)."""
    vocab = date_vocab() if vocab is None else vocab
    return [(vocab.encode(list(h)), vocab.encode(list(iso))) for h, iso in pairs]
