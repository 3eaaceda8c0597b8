"""Texts people read on the pages, named once in the core and translated where shown.

The core names things for people in English (a breach, a figure, a survey index); the pages
show those names in the reader's language (``web/i18n.py``, the catalogues under
``web/locale/``). :func:`N_` marks such a name: ``pybabel extract`` collects its argument
into the catalogue, and at run time it returns the text unchanged, so the core keeps one
definition and no knowledge of languages.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """``message`` unchanged; marked for the page catalogues (gettext's usual name for a
    text that is only marked, translated later)."""
    return message
