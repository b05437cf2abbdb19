"""Config loading safety (issue 9 items 11-13): bounded error messages, YAML bombs,
duplicate keys, encodings, memory estimates, and imports named by a config."""

from __future__ import annotations

from miaudit.errors import short_repr


def test_short_repr_caps_long_values():
    # Before issue 9 item 12 errors printed the whole value (a 2.1 GB line for a YAML bomb).
    assert len(short_repr("x" * 10_000)) <= 80
    assert len(short_repr(list(range(100_000)), limit=50)) <= 50
    assert short_repr("false") == "'false'"


def test_short_repr_of_shared_nested_value_is_fast_and_short():
    # A "billion laughs" value: 9**30 leaves if walked naively.
    value: list = [1]
    for _ in range(30):
        value = [value] * 9
    assert len(short_repr(value)) <= 80
