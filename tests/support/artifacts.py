"""Where tests leave what a person may want to look at after a run (captures, ground truth,
screenshots): ``test-artifacts/`` at the top of the checkout (git ignores it)."""

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
