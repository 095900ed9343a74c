"""Where the shipped non-Python files are: ``templates/``, ``static/`` and ``migrations/``.

In the repository they sit at the top level (DESIGN §2); a wheel carries them inside the package
(pyproject maps them there). An installed package finds them beside its modules; an editable
install or a source checkout finds them one level up.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def asset_dir(name: str) -> Path:
    """The directory ``name`` (``templates``, ``static``, ``migrations``) of this installation."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"coolpapers is installed without its {name}/ directory")
