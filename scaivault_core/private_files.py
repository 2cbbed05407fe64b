"""The vault's own files: its home directory, the SQLite store (with its -wal and -shm) and the key file.

They are created owner-only whatever the umask (directories 0700, files 0600). One that already
exists is refused with ``invalid_config`` — as ssh refuses a private key — when it is a symbolic
link, belongs to another user, or others could change it (the key: or read it). A directory that
nobody else can write is what makes checking a path before SQLite opens it safe: nobody can put
a link or their own file there between the check and the open.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
from pathlib import Path

from .errors import InvalidConfig

_NOT_WRITABLE_BY_OTHERS = 0o022
_OWNER_ONLY = 0o077


def private_directory(path: Path, what: str) -> None:
    """Create ``path`` and its missing parents 0700, or check the existing ``path``: ours (or root's), not a link,
    and writable by nobody else."""
    missing = [p for p in (path, *path.parents) if not os.path.lexists(p)]
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:  # made by another process meanwhile: checked below like any other
            continue
        os.chmod(directory, 0o700)  # the umask can only take bits away, including the owner's
    _check(path, os.lstat(path), what, directory=True, secret=False)


def create_private_file(path: Path, text: str = "") -> bool:
    """Create ``path`` 0600 holding ``text``, unless something is there already (then False: check it)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        os.fchmod(fd, 0o600)
        f.write(text)
    return True


def check_private_file(path: Path, what: str, *, secret: bool = False) -> None:
    """Refuse ``path`` if it exists and is a link, not a regular file, another user's, or writable by others
    (``secret``: readable or writable by anyone else)."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return
    _check(path, found, what, directory=False, secret=secret)


def read_private_file(path: Path, what: str) -> str:
    """The text of a secret file, opened without following a link and checked on the open file itself."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidConfig(_link_message(path, what), field="key_file") from None
        raise InvalidConfig(f"Cannot read {what} {path}: {exc.strerror}.", field="key_file") from None
    with os.fdopen(fd) as f:
        _check(path, os.fstat(fd), what, directory=False, secret=True)
        return f.read()


def _check(path: Path, found: os.stat_result, what: str, *, directory: bool, secret: bool) -> None:
    field = "key_file" if secret else "store"
    if stat.S_ISLNK(found.st_mode):
        raise InvalidConfig(_link_message(path, what), field=field)
    if directory != stat.S_ISDIR(found.st_mode) or not (directory or stat.S_ISREG(found.st_mode)):
        raise InvalidConfig(f"{what} {path} is not a {'directory' if directory else 'regular file'}.", field=field)
    me = os.geteuid()
    if found.st_uid != me and not (directory and found.st_uid == 0):
        raise InvalidConfig(
            f"{what} {path} belongs to {_user(found.st_uid)}, not to {_user(me)} that runs the "
            f"vault, so that user can change it: chown it to {_user(me)}.",
            field=field,
        )
    mode = stat.S_IMODE(found.st_mode)
    if mode & (_OWNER_ONLY if secret else _NOT_WRITABLE_BY_OTHERS):
        wanted = "0700" if directory else "0600"
        access = "accessible to" if secret else "writable by"
        raise InvalidConfig(
            f"{what} {path} is {access} users other than its owner (mode {mode:04o}): chmod {wanted} it.", field=field
        )


def _link_message(path: Path, what: str) -> str:
    return (
        f"{what} {path} is a symbolic link; the vault does not follow links to its own files "
        "(whoever can change the link could swap the file): give the real path."
    )


def _user(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"
