"""The monthly assessment's overall score (pure): a weighted mean of an operator's figures.

Only figures that lie in 0–1 with higher better take part (``ASSESSMENT_SCORE_FIGURES``;
the QA average, 1–5, is divided by 5). A figure that is ``null`` for the operator (nothing
to divide, no call scored) is left out together with its weight, so an operator is not
marked down for what did not happen. Score = 100 × Σ weight·figure / Σ weight, on 0–100.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Score:
    """An overall score (``None``: no weighed figure had a value) and how it was computed."""

    value: float | None
    formula: str


def overall_score(values: Mapping[str, float | None], weights: Mapping[str, float]) -> Score:
    """The weighted score of ``values`` (figure → value) with ``weights`` (figure → weight)."""
    terms = []
    total = 0.0
    weight_sum = 0.0
    for name, weight in weights.items():
        value = values.get(name)
        if value is None or weight == 0:
            continue
        scaled = value / 5 if name == "qa_satisfaction_index" else value
        shown = f"{name}/5" if name == "qa_satisfaction_index" else name
        terms.append(f"{weight:g}×{shown}({scaled:.3f})")
        total += weight * scaled
        weight_sum += weight
    if not terms:
        return Score(None, "no weighed figure has a value")
    value = round(100 * total / weight_sum, 1)
    return Score(value, f"100 × ({' + '.join(terms)}) / {weight_sum:g} = {value:g}")
