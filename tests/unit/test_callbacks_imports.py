"""The callback modules' imports run one way: the dialer uses reconciliation, never back."""

from __future__ import annotations

import ast
import inspect
from types import ModuleType

from ivr_agent.callbacks import reconcile


def _imported(module: ModuleType) -> set[str]:
    """Every module an ``import`` anywhere in ``module``'s source names (in functions and
    ``if TYPE_CHECKING:`` blocks too)."""
    names = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_reconciliation_never_imports_the_dialer() -> None:
    imported = _imported(reconcile)
    assert "ivr_agent.callbacks.attempts" in imported  # the walk sees the imports
    assert "ivr_agent.callbacks.dialer" not in imported
