"""The S5 satisfaction indices and the satisfaction index, defined once.

The callback survey asks the customer for the five scores, QA reviewers give the same five
to a recorded call, and the database stores them under the same names: all of them take the
names from :data:`INDICES` and the index from :func:`satisfaction_index`. (The database
also states the formula in a CHECK constraint of ``qa_scores``, so a row can never disagree.)
"""

from __future__ import annotations

from collections.abc import Mapping

from .texts import N_

#: The five S5 indices, in the order the callback survey asks them (prompt ``survey_<name>``).
INDICES: tuple[str, ...] = ("skill", "attitude", "timeliness", "parts", "overall")
#: How pages name each index (in English; the pages show the catalogue's translation).
INDEX_LABELS: Mapping[str, str] = {
    "skill": N_("Service skill"),
    "attitude": N_("Service attitude"),
    "timeliness": N_("Timeliness"),
    "parts": N_("Parts supply"),
    "overall": N_("Overall"),
}
#: A score is an integer from 1 to 5.
SCORE_MIN = 1
SCORE_MAX = 5


def check_scores(scores: Mapping[str, int]) -> None:
    """``ValueError`` naming the index if a score is unknown or not an integer 1–5 (some may
    be missing: a survey the customer left halfway)."""
    for name, score in scores.items():
        if name not in INDICES:
            raise ValueError(f"unknown survey index {name!r}; known: {', '.join(INDICES)}")
        if (
            isinstance(score, bool)
            or not isinstance(score, int)
            or not SCORE_MIN <= score <= SCORE_MAX
        ):
            raise ValueError(f"survey score {name} must be an integer 1-5 (got {score!r})")


def satisfaction_index(scores: Mapping[str, int]) -> float:
    """The arithmetic mean of the five scores (S5), unrounded; ``ValueError`` if any is
    missing, unknown or not an integer 1–5."""
    check_scores(scores)
    missing = [name for name in INDICES if name not in scores]
    if missing:
        raise ValueError(f"satisfaction index needs all five scores; missing {', '.join(missing)}")
    return sum(scores[name] for name in INDICES) / len(INDICES)
