"""The operator boundary (``scaivault_core.operator_boundary``) on its own: paths resolved, then compared
with the operator's directories; the refused environment variables documented where operators read."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from scaivault_core import InvalidConfig, Settings, command_field, environment_field, file_field
from scaivault_core.operator_boundary import (
    REFUSED_PREFIXES,
    REFUSED_VARIABLES,
    check_environment,
    check_fields,
    resolve_command,
    resolve_file,
)

SECURITY = Path(__file__).resolve().parents[1] / "docs" / "security.md"


@attrs.define
class Nested:
    run: list[str] | None = command_field(default=None)


@attrs.define
class Config:
    output: str | None = file_field(default=None)
    environment: dict[str, str] = environment_field(factory=dict)
    steps: list[Nested] = attrs.field(factory=list)


def program(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_marked_fields_are_resolved_in_place_nested_ones_too(tmp_path):
    tool = program(tmp_path / "bin", "tool")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path / "out" / "real.krl")
    settings = Settings(command_dirs=(str(tmp_path / "bin"),), file_dirs=(str(tmp_path / "out"),))
    config = Config(output=str(tmp_path / "out" / "link"), steps=[Nested(run=["tool", "--x"])])
    check_fields(config, settings, "config")
    assert config.output == str(tmp_path / "out" / "real.krl")
    assert config.steps[0].run == [str(tool), "--x"]
    with pytest.raises(InvalidConfig) as caught:
        check_fields(Config(steps=[Nested(), Nested(run=["/bin/sh"])]), settings, "config")
    assert caught.value.details["field"] == "config.steps[1].run"


def test_nothing_is_allowed_by_default(tmp_path):
    tool = program(tmp_path, "tool")
    for check, value in ((resolve_command, [str(tool)]), (resolve_file, str(tmp_path / "f"))):
        with pytest.raises(InvalidConfig) as caught:
            check(value, Settings(), "field")
        assert "SCAIVAULT_" in caught.value.message


def test_the_answer_is_the_same_whether_or_not_the_path_exists(tmp_path):
    settings = Settings(file_dirs=(str(tmp_path / "allowed"),))
    (tmp_path / "exists").write_text("x")
    messages = set()
    for path in (tmp_path / "exists", tmp_path / "missing"):
        with pytest.raises(InvalidConfig) as caught:
            resolve_file(str(path), settings, "field")
        messages.add(caught.value.message.replace(path.name, "NAME"))
    assert len(messages) == 1


@pytest.mark.parametrize("name", ["LD_PRELOAD", "Path", "PYTHONWARNINGS", "BASH_FUNC_x", "A=B", "", "1X"])
def test_variables_that_change_how_programs_load_are_refused(name):
    with pytest.raises(InvalidConfig):
        check_environment({name: "x"}, Settings(), "config.environment")


def test_ordinary_variables_pass():
    assert check_environment({"TARGET_REGION": "eu", "USERS_DIR": "/srv/users"}, Settings(), "env")


def test_every_refused_variable_is_listed_for_operators():
    text = SECURITY.read_text()
    missing = [v for v in REFUSED_VARIABLES if f"`{v}`" not in text]
    missing += [p for p in REFUSED_PREFIXES if f"`{p}`" not in text]
    assert not missing, f"docs/security.md does not list {missing}"


def test_an_engine_class_of_a_type_outside_the_guides_is_refused_at_registration():
    from scaivault_core import Engine, hookimpl, make_plugin_manager
    from scaivault_core.plugin_manager import EngineRegistry

    class MqttEngine(Engine):
        type = plugin = "mqtt"

        def verify(self): ...
        def create(self, request): ...
        def revoke(self, handle): ...

    class Plugin:
        @hookimpl
        def register_engines(self, register):
            register(MqttEngine)

    with pytest.raises(InvalidConfig) as caught:
        EngineRegistry(make_plugin_manager(load_entrypoints=False, plugins=[Plugin()]))
    assert "MqttEngine" in caught.value.message and "'mqtt'" in caught.value.message


@pytest.mark.parametrize("setting", ["file_dirs", "command_dirs"])
def test_the_vaults_own_files_stay_outside_what_engines_may_touch(tmp_path, setting):
    """A file directory (or command directory) holding the store or the key would let an engine
    configurer overwrite them with a KRL path, or run them: the vault refuses to open so."""
    from scaivault_core import Vault

    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    with pytest.raises(InvalidConfig, match="keep the vault's own files apart") as refused:
        Vault(home / "vault.db", settings=Settings(**{setting: (str(tmp_path),)}), start_worker=False)
    assert refused.value.details["field"] == (
        "SCAIVAULT_FILE_DIRS" if setting == "file_dirs" else "SCAIVAULT_COMMAND_DIRS"
    )
    key_dir = tmp_path / "keys"
    key_dir.mkdir(mode=0o700)
    with pytest.raises(InvalidConfig, match="key file"):
        Vault(
            home / "vault.db",
            key_file=key_dir / "vault.key",
            settings=Settings(**{setting: (str(key_dir),)}),
            start_worker=False,
        )
    with Vault(
        home / "vault.db", settings=Settings(**{setting: (str(tmp_path / "elsewhere"),)}), start_worker=False
    ) as vault:
        assert vault.list_engines() == []
