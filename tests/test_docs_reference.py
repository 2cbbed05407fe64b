"""The plugin author's docs are checked against the code: every hook, every public ``Engine`` member, every
contract-suite name is documented, with the arguments the code has, and the docs' Python samples run."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import attrs
import pytest

from scaivault_core import hookspecs
from scaivault_core.engine import Engine, EngineContext, Issued, IssueRequest, LeaseLimits, Renewed
from scaivault_core.testing import EngineContract

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins"
HEADING = re.compile(r"^#{2,4} `([A-Za-z_][A-Za-z0-9_]*)(\(([^)]*)\))?`\s*$", re.MULTILINE)


def headings(page: str) -> dict[str, str | None]:
    """``name -> "arg, arg"`` (None for attributes) for each ``### `name(args)` `` heading of ``page``."""
    found: dict[str, str | None] = {}
    for match in HEADING.finditer((DOCS / page).read_text()):
        found[match.group(1)] = match.group(3) if match.group(2) else None
    return found


def arguments(function) -> str:
    params = [p for p in inspect.signature(function).parameters.values() if p.name != "self"]
    return ", ".join(p.name for p in params)


def hook_specs() -> dict[str, object]:
    return {name: fn for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "scaivault_spec")}


def test_every_hook_is_in_the_hook_reference_with_its_arguments():
    documented = headings("hooks.md")
    specs = hook_specs()
    missing = sorted(set(specs) - set(documented))
    assert not missing, f"hooks missing from docs/plugins/hooks.md: {missing}"
    for name, spec in specs.items():
        assert documented[name] == arguments(spec), (
            f"docs/plugins/hooks.md: {name}({documented[name]}) but the spec is {name}({arguments(spec)})"
        )
    stale = sorted(set(documented) - set(specs))
    assert not stale, f"docs/plugins/hooks.md documents hooks that do not exist: {stale}"


def test_firstresult_hooks_are_documented_as_decisions():
    text = (DOCS / "hooks.md").read_text()
    decisions = text.split("## Decisions", 1)[1].split("\n## ", 1)[0]
    for name, spec in hook_specs().items():
        firstresult = spec.scaivault_spec.get("firstresult", False)
        assert (f"### `{name}(" in decisions) == firstresult, name


def engine_members() -> dict[str, object]:
    """Public class attributes and methods of Engine, and the attributes its constructor sets."""

    class Probe(Engine):
        type = plugin = "probe"

        def verify(self): ...
        def create(self, request): ...
        def revoke(self, handle): ...

    context = EngineContext("probe", None, dict, lambda text, variables: text, None, None)
    members: dict[str, object] = {name: getattr(Engine, name, None) for name in dir(Engine) if not name.startswith("_")}
    members.update({name: None for name in Engine.__annotations__ if not name.startswith("_")})
    members.update({name: None for name in vars(Probe(context)) if not name.startswith("_")})
    return members


def test_every_public_engine_member_is_in_the_engine_reference():
    documented = headings("engine.md")
    members = engine_members()
    missing = sorted(set(members) - set(documented))
    assert not missing, f"Engine members missing from docs/plugins/engine.md: {missing}"
    for name, member in members.items():
        if inspect.isfunction(member):
            assert documented[name] == arguments(member), (
                f"docs/plugins/engine.md: {name}({documented[name]}) but the code has {name}({arguments(member)})"
            )
        else:
            assert documented[name] is None, f"docs/plugins/engine.md shows attribute {name} as a method"
    stale = sorted(set(documented) - set(members))
    assert not stale, f"docs/plugins/engine.md documents members Engine does not have: {stale}"


@pytest.mark.parametrize("cls", [EngineContext, IssueRequest, Issued, Renewed, LeaseLimits])
def test_fields_of_what_engines_receive_and_return_are_documented(cls):
    text = (DOCS / "engine.md").read_text()
    for field in attrs.fields(cls):
        assert f"`{field.name}`" in text, f"{cls.__name__}.{field.name} is missing from docs/plugins/engine.md"


def test_every_contract_suite_name_is_in_the_guide():
    text = (DOCS / "guide.md").read_text()
    names = {
        name for cls in EngineContract.__mro__ if cls is not object for name in vars(cls) if not name.startswith("_")
    }
    missing = sorted(name for name in names if f"`{name}" not in text)
    assert not missing, f"EngineContract names missing from docs/plugins/guide.md: {missing}"


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_python_samples_run(page, tmp_path, monkeypatch):
    """Each page's ```python blocks run in order, in one namespace (fragments build on earlier ones)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCAIVAULT_HOME", str(tmp_path))
    namespace: dict[str, object] = {"__name__": f"docs_{page.replace('.', '_')}"}
    for index, block in enumerate(python_blocks(DOCS / page)):
        exec(compile(block, f"{page}[python block {index}]", "exec"), namespace)


def test_the_guide_links_the_references():
    guide = (DOCS / "guide.md").read_text()
    for page in ("engine.md", "hooks.md"):
        assert f"]({page}" in guide
