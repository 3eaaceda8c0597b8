"""Writing a small state file so that a crash leaves either the old or the new one whole."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json_durably(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON; durable when this returns.

    The JSON goes to ``<path>.partial``, is fsync'd and renamed over ``path``, and the
    directory is fsync'd so the rename itself survives a power loss. The directory is
    created (mode 0750) if needed.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as out:
        json.dump(data, out, ensure_ascii=False)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
