"""parse_call: the keyword arguments of `name(k=v, ...)` or a bare `k=v, ...`, read with the spec grammar."""

import pytest

from lrlab.schedules import parse_call


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("factor=0.5,patience=10,min_lr=1e-5", {"factor": 0.5, "patience": 10, "min_lr": 1e-5}),
        ("plateau(factor=0.5, patience=10)", {"factor": 0.5, "patience": 10}),
        ('plateau(mode="max", threshold_mode=\'abs\')', {"mode": "max", "threshold_mode": "abs"}),
        ("plateau()", {}),
        ("", {}),
        ("flag=True, none=None, items=[1, 2]", {"flag": True, "none": None, "items": [1, 2]}),
    ],
)
def test_reads_keywords(text, expected):
    assert parse_call(text, "plateau") == expected


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("plateau(factor=0.5", 19),
        ("factor=0.5 patience=2", 12),
        ("factor=1, factor=2", 11),
        ("x", 1),
        ("plateau(0.5)", 9),
        ("factor=0.5)", 11),
    ],
)
def test_errors_name_the_column(text, column):
    with pytest.raises(ValueError, match=f"column {column}:"):
        parse_call(text, "plateau")


def test_not_a_string():
    with pytest.raises(ValueError, match="plateau options"):
        parse_call(3, "plateau")
