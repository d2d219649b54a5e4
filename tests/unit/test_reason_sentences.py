"""``sentences`` (many events at once) writes exactly what ``sentence`` writes row by row."""

from __future__ import annotations

import random

import pytest

from pipeline.reasons import sentence, sentences

FEATURES = ["gross_revenue", "recency_days", "invoice_quantity", "avg_ticket", "items_quantity",
            "products_quantity", "not_a_figure"]
VALUES = [None, -0.0, -0.001, -3.25, 0, 1, 1.0, 1.5, 2.5, 5, 12, 370, 1234567.891]


def _condition(rnd: random.Random, model_update: bool) -> dict:
    condition = {"feature": rnd.choice(FEATURES), "after": rnd.choice(VALUES),
                 "threshold": rnd.choice(VALUES[1:] if model_update else VALUES)}
    if rnd.random() < 0.7:
        condition["before"] = rnd.choice(VALUES)
    if rnd.random() < 0.3:
        condition["old_threshold"] = rnd.choice(VALUES)
    return condition


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sentences_equal_sentence_row_by_row(seed):
    rnd = random.Random(seed)
    kinds, causes, details = [], [], []
    for _ in range(2000):
        cause = rnd.choice(["feature", "new_customer", "model_update", "inactivity"])
        update = cause == "model_update"
        if rnd.random() < 0.4:
            detail = _condition(rnd, update)
        else:
            detail = {"conditions": [_condition(rnd, update) for _ in range(rnd.randint(0, 4))],
                      "model_version": 3}
        kinds.append(rnd.choice(["entered", "exited"]))
        causes.append(cause)
        details.append(detail)
    expected = [sentence(k, c, d, "€") for k, c, d in zip(kinds, causes, details, strict=True)]
    assert sentences(kinds, causes, details, "€") == expected
    assert any("; and " in text for text in expected)  # several crossings of one event
    assert any("-€0.00" in text for text in expected)  # a negative amount that rounds to 0


def test_sentences_of_no_events():
    assert sentences([], [], []) == []
