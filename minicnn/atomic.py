"""The one way minicnn writes a file: atomically, with ordinary permissions, never through a link.

    with atomic_write("runs/cnn5/best.npz") as f:       # a binary file object
        np.savez(f, **arrays)
    write_text("runs/cnn5/history.json", text)

1. The data goes to a new temporary file in the target's folder, created by ``tempfile.mkstemp``
   (exclusive create, an unpredictable name ``.<name>.<pid>.<random>.tmp``): a planted file or
   symlink with a guessable name cannot redirect the write.
2. It is flushed to disk (``fsync``), given the mode a plain ``open(path, "w")`` would give
   (0666 minus the umask, usually 0644; mkstemp alone gives 0600), then renamed over ``path``
   with ``os.replace``: readers see the old file or the new one, never half of one. If ``path``
   is a symlink the link itself is replaced; its target is never written.
3. A ``path`` that is a folder, or whose folder does not exist, is refused with a one-line OSError
   naming it (not the temporary file). ``make_folder`` creates an output folder the same way.
4. On any error or Ctrl-C the temporary file is removed. A process killed outright (SIGKILL, the
   out-of-memory killer) cannot clean up, so each write first removes the temporary files that
   earlier writes of the same ``path`` left behind when their process is gone.
"""
import contextlib
import os
import re
import tempfile

_TMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp$")


def _umask():
    """The process umask, read without changing it where possible (/proc on Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)      # elsewhere: the classic read-by-setting (briefly process-wide)
    os.umask(mask)
    return mask


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:             # exists, but not ours (EPERM)
        return True
    return True


def remove_stale_temporaries(path):
    """Delete ``.<name>.<pid>.*.tmp`` files beside ``path`` whose writing process has died."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        m = _TMP.match(entry)
        if m and m["name"] == name and int(m["pid"]) != os.getpid() and not _alive(int(m["pid"])):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(folder, entry))


@contextlib.contextmanager
def atomic_write(path, text=False):
    """Context manager yielding a file object (binary, or UTF-8 text) that replaces ``path`` on exit."""
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    if os.path.isdir(path) and not os.path.islink(path):
        raise IsADirectoryError(f"{path} is a folder, not a file: give a file name to write")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} does not exist")
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.{os.getpid()}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w" if text else "wb", **({"encoding": "utf-8"} if text else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def make_folder(path):
    """Create the output folder ``path`` and its parents, if missing; a one-line OSError when
    ``path`` is a file or cannot be created (no errno, no traceback-worthy detail)."""
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise FileExistsError(f"output folder {path} is a file, not a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise OSError(f"cannot create the folder {path}: {e.strerror or e}") from None
    return path


def write_text(path, text):
    """Atomically replace ``path`` with ``text`` (UTF-8)."""
    with atomic_write(path, text=True) as f:
        f.write(text)
