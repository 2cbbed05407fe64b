"""What only the operator may allow: the programs engines run and the files they read or write.

Engine plugins mark the ``Config`` and ``Role`` fields that name them (``command_field``,
``directory_field``, ``file_field``, ``environment_field`` in engine.py). The core checks every
marked field against the operator's ``Settings`` each time a config or role is structured --
engine create and update, every build of a live engine, role create, update and load -- so an
operator who narrows the settings is obeyed at the next start. Each path is resolved (symlinks,
``..``) before it is compared, and the field is rewritten to that resolved path: the engine runs
or writes exactly what was checked, not what a symlink points to later.

An API caller, however privileged, never widens this: nothing is allowed until the operator lists
directories (``SCAIVAULT_COMMAND_DIRS``, ``SCAIVAULT_FILE_DIRS``).
"""

from __future__ import annotations

import os
import re
from typing import Any

import attrs

from .engine import OPERATOR_FIELD
from .errors import InvalidConfig
from .settings import Settings

COMMAND_DIRS, FILE_DIRS = "SCAIVAULT_COMMAND_DIRS", "SCAIVAULT_FILE_DIRS"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Environment variables an engine configurer may not set for commands: each changes which code a
# program loads or runs, which files it reads or writes, where it sends traffic, or which of the
# server's own credentials it uses. PATH for commands is always the server process's own. Names are
# compared in upper case. docs/security.md lists them for operators.
REFUSED_VARIABLES = frozenset(
    {
        # the shell and the C library
        "PATH",
        "IFS",
        "ENV",
        "BASH_ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "PROMPT_COMMAND",
        "CDPATH",
        "GLOBIGNORE",
        "SHELL",
        "HOME",
        "ZDOTDIR",
        "TMPDIR",
        "TMP",
        "TEMP",
        "GCONV_PATH",
        "LOCPATH",
        "NLSPATH",
        "HOSTALIASES",
        "RESOLV_HOST_CONF",
        "RES_OPTIONS",
        "LOCALDOMAIN",
        "GLIBC_TUNABLES",
        "MALLOC_TRACE",
        "LIBPATH",
        "SHLIB_PATH",
        # interpreters and runtimes
        "PERLLIB",
        "CLASSPATH",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS",
        "JAVA_OPTS",
        "JAVA_HOME",
        "PHPRC",
        "PHP_INI_SCAN_DIR",
        "TCLLIBPATH",
        "COR_ENABLE_PROFILING",
        "COR_PROFILER",
        "COR_PROFILER_PATH",
        # helper programs other programs start, and their configuration files
        "EDITOR",
        "VISUAL",
        "PAGER",
        "MANPAGER",
        "BROWSER",
        "LESSOPEN",
        "LESSCLOSE",
        "SSH_ASKPASS",
        "SUDO_ASKPASS",
        "CURL_HOME",
        "WGETRC",
        "GNUPGHOME",
        "KUBECONFIG",
        "KRB5_CONFIG",
        "KRB5_KDC_PROFILE",
        # TLS libraries: engines and providers they load, secrets they write
        "OPENSSL_CONF",
        "OPENSSL_ENGINES",
        "OPENSSL_MODULES",
        "SSLKEYLOGFILE",
        # database clients' credential and service files
        "PGPASSFILE",
        "PGSERVICEFILE",
        "PGSYSCONFDIR",
        "PGSSLCERT",
        "PGSSLKEY",
        "PGSSLROOTCERT",
        "PGSSLCRL",
        "MYSQL_HOME",
        "MYSQL_TEST_LOGIN_FILE",
        # where traffic goes, and the server's own credentials
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "FTP_PROXY",
        "SSH_AUTH_SOCK",
        "KRB5CCNAME",
        "KRB5_KTNAME",
        "KRB5_CLIENT_KTNAME",
    }
)
REFUSED_PREFIXES = (
    "LD_",
    "DYLD_",
    "BASH_FUNC_",
    "PYTHON",
    "PERL5",
    "PERLIO",
    "RUBY",
    "GEM_",
    "BUNDLE_",
    "NODE_",
    "NPM_CONFIG_",
    "LUA_",
    "CORECLR_",
    "DOTNET_",
    "GIT_",
    "XDG_",
    "AWS_",
    "AZURE_",
    "GOOGLE_",
    "CLOUDSDK_",
    "DOCKER_",
)


def check_fields(obj: Any, settings: Settings, where: str = "") -> None:
    """Check (and resolve in place) every operator-marked field of an attrs object, nested ones too."""
    if not attrs.has(type(obj)):
        return
    for field in attrs.fields(type(obj)):
        value = getattr(obj, field.name)
        name = f"{where}.{field.name}" if where else field.name
        kind = field.metadata.get(OPERATOR_FIELD)
        if kind is not None and value is not None:
            object.__setattr__(obj, field.name, _CHECKS[kind](value, settings, name))
        elif attrs.has(type(value)):
            check_fields(value, settings, name)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                check_fields(item, settings, f"{name}[{index}]")


def resolve_command(argv: Any, settings: Settings, field: str) -> list[str]:
    """``argv`` with its program resolved inside the command dirs; ``invalid_config`` naming ``field`` otherwise."""
    if (
        not isinstance(argv, (list, tuple))
        or not argv
        or not all(isinstance(a, str) and "\0" not in a for a in argv)
        or not argv[0]
    ):
        raise InvalidConfig(f"{field} must be a non-empty list of arguments.", field=field)
    program, dirs = argv[0], settings.command_dirs
    _require_dirs(dirs, field, "run commands", COMMAND_DIRS)
    if os.sep not in program:
        # A bare name is looked up only in the operator's directories, never on PATH.
        for directory in dirs:
            candidate = os.path.realpath(os.path.join(directory, program))
            if Settings.within(candidate, dirs) and _executable(candidate):
                return [candidate, *argv[1:]]
        raise InvalidConfig(
            f"{field}: no program {program!r} in the directories the operator allows commands from; the operator "
            f"must put it there (or allow its directory in {COMMAND_DIRS}), or give its absolute path.",
            field=field,
            setting=COMMAND_DIRS,
        )
    resolved = _inside(program, dirs, field, "commands", COMMAND_DIRS)
    if not _executable(resolved):
        raise InvalidConfig(f"{field}: {program!r} is not an executable file.", field=field)
    return [resolved, *argv[1:]]


def resolve_directory(path: Any, settings: Settings, field: str) -> str:
    """A working directory, resolved, inside the command dirs."""
    _require_string(path, field)
    _require_dirs(settings.command_dirs, field, "run commands", COMMAND_DIRS)
    resolved = _inside(path, settings.command_dirs, field, "commands", COMMAND_DIRS)
    if not os.path.isdir(resolved):
        raise InvalidConfig(f"{field}: {path!r} is not a directory.", field=field)
    return resolved


def resolve_file(path: Any, settings: Settings, field: str) -> str:
    """A file an engine reads or writes (it need not exist yet), resolved, inside the file dirs."""
    _require_string(path, field)
    _require_dirs(settings.file_dirs, field, "read or write files", FILE_DIRS)
    resolved = _inside(path, settings.file_dirs, field, "engine files", FILE_DIRS)
    if os.path.isdir(resolved):
        raise InvalidConfig(f"{field}: {path!r} is a directory; name a file in it.", field=field)
    return resolved


def check_environment(variables: Any, settings: Settings, field: str) -> dict[str, str]:
    """Environment variables for commands: plain names, none that changes how programs load or what they touch."""
    if not isinstance(variables, dict):
        raise InvalidConfig(f"{field} must be an object of variable names to strings.", field=field)
    for name, value in variables.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidConfig(f"{field}: {name!r} is not a variable name ([A-Za-z_][A-Za-z0-9_]*).", field=field)
        if not isinstance(value, str) or "\0" in value:
            raise InvalidConfig(f"{field}: the value of {name} must be a string without NUL characters.", field=field)
        upper = name.upper()
        if upper in REFUSED_VARIABLES or upper.startswith(REFUSED_PREFIXES):
            raise InvalidConfig(
                f"{field}: {name} may not be set: it changes which programs, libraries or files a command uses, "
                "which is the operator's choice (commands get the server's own PATH). See docs/security.md.",
                field=field,
                variable=name,
            )
    return variables


_CHECKS = {
    "command": resolve_command,
    "directory": resolve_directory,
    "file": resolve_file,
    "environment": check_environment,
}


def _require_string(path: Any, field: str) -> None:
    if not isinstance(path, str) or not path or "\0" in path:
        raise InvalidConfig(f"{field} must be a path.", field=field)


def _require_dirs(dirs: tuple[str, ...], field: str, what: str, setting: str) -> None:
    if not dirs:
        raise InvalidConfig(
            f"{field}: this server lets no engine {what}. Which directories engines may use is the operator's "
            f"choice, not an API caller's: the operator must list them in {setting} (see docs/security.md).",
            field=field,
            setting=setting,
        )


def _inside(path: str, dirs: tuple[str, ...], field: str, what: str, setting: str) -> str:
    if not os.path.isabs(path):
        raise InvalidConfig(f"{field}: {path!r} must be an absolute path.", field=field)
    resolved = os.path.realpath(path)
    if not Settings.within(resolved, dirs):
        # The same words whether or not the path exists: the answer is no oracle of the server's files.
        raise InvalidConfig(
            f"{field}: {path!r} is outside the directories the operator allows for {what}; the operator must "
            f"allow its directory in {setting} (see docs/security.md).",
            field=field,
            setting=setting,
        )
    return resolved


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)
