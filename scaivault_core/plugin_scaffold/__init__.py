"""``new_plugin``: writes a new engine plugin distribution that installs, is discovered, and passes the contract.

The files under ``files/`` are the template; ``@name@``-style markers are replaced (not a
template engine: the generated code itself contains Jinja role templates like ``{{name}}``).
``files/package`` becomes the plugin's import package.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from ..errors import Conflict, InvalidRequest

FILES = Path(__file__).parent / "files"
_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
MAX_NAME = 40


def new_plugin(name: str, dest: Path) -> Path:
    """Write the distribution ``scaivault-<name>`` under ``dest``; returns its directory."""
    if not isinstance(name, str) or len(name) > MAX_NAME or not _NAME.fullmatch(name):
        raise InvalidRequest(
            f"A plugin name is lowercase letters and digits, optionally joined by '-' or '_', starting with a "
            f"letter, at most {MAX_NAME} characters (e.g. 'acme' or 'acme-db').",
            field="name",
        )
    markers = _markers(name)
    root = Path(dest) / markers["@dist@"]
    if root.exists():
        raise Conflict(f"{root} already exists; choose another name or --dest.", path=str(root))
    for source in sorted(FILES.rglob("*.tmpl")):
        relative = source.relative_to(FILES).with_suffix("")  # drop .tmpl
        parts = [markers["@module@"] if part == "package" else part for part in relative.parts]
        target = root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text()
        for marker, value in markers.items():
            text = text.replace(marker, value)
        target.write_text(text)
    return root


def _markers(name: str) -> dict[str, str]:
    words = re.split(r"[-_]", name)
    return {
        "@name@": name,
        "@dist@": f"scaivault-{name}",
        "@module@": "scaivault_" + "_".join(words),
        "@class@": "".join(w.capitalize() for w in words) + "Engine",
        "@title@": " ".join(w.capitalize() for w in words),
        "@core_version@": _core_version(),
    }


def _core_version() -> str:
    try:
        return metadata.version("scaivault")
    except metadata.PackageNotFoundError:
        return "0.1"
