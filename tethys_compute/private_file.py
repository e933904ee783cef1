"""Writing a file that may hold secrets: new, owner-only, never through a symbolic link.

``schedulers export --include-secrets`` writes decrypted passwords and keys;
such a file must not inherit the owner or mode of a file that was there
before, and a link planted at its path must not redirect it elsewhere.
"""

from __future__ import annotations

import os
import secrets
import stat

__all__ = ["write_private_file"]

#: Mode of every file written here: read and write for its owner only.
PRIVATE_MODE = 0o600

_EXCLUSIVE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def _create(path: str, text: str) -> None:
    fd = os.open(path, _EXCLUSIVE, PRIVATE_MODE)
    try:
        # The umask can only take bits away; make the mode exact anyway.
        os.fchmod(fd, PRIVATE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            fd = -1
            stream.write(text)
    finally:
        if fd != -1:
            os.close(fd)


def write_private_file(path: str, text: str, *, force: bool = False) -> None:
    """Write ``text`` to a new file at ``path`` readable by its owner only (mode 0600).

    Parameters
    ----------
    path : str
        Where to write.  It must not exist, unless ``force`` is given; a
        symbolic link there is always refused.
    text : str
        The content (UTF-8).
    force : bool
        Replace an existing regular file: the text goes to a fresh 0600 file
        in the same folder, which then takes the old file's place (the old
        file's owner, mode and links are not kept).

    Raises
    ------
    FileExistsError
        When ``path`` exists and ``force`` is not given.
    OSError
        When ``path`` is a symbolic link or not a regular file (``errno``
        ``ELOOP``/``EISDIR``...), or cannot be written.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise OSError(40, "it is a symbolic link; give the path of a new file", path)
        if not force:
            raise FileExistsError(17, "the file exists (add --force to replace it)", path)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(21, "it is not a regular file", path)
        folder = os.path.dirname(os.path.abspath(path))
        temporary = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}")
        _create(temporary, text)
        try:
            os.replace(temporary, path)
        except OSError:
            os.unlink(temporary)
            raise
        return
    _create(path, text)
