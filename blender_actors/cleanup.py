"""Removing a directory a job child wrote in, whatever it did to it. Stdlib only; parent side.

A job child owns its directory's contents. It can make directories nobody may list or enter
(mode 0, 0311: its uid is the parent's, and without CAP_DAC_OVERRIDE the owner obeys its own
mode bits), nest them deeper than Python's recursion limit (`shutil.rmtree` in 3.11 recurses:
RecursionError escapes even `ignore_errors`, from the worker, from its cleanup and from the
sweep of stale work dirs at every later start), or fill them with many entries. `remove_tree`
walks iteratively, one directory fd at a time (the way back up is `..`, checked against the
inode it came from), never follows a link, gives each directory back to its owner (u+rwx, set
through an O_PATH fd) before listing it, lists each directory once, and never raises: it
returns how many entries it could not remove. The child is dead when this runs (the zygote
reaped it and killed what it left), so nothing moves underneath.
"""
from __future__ import annotations

import os
import stat

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_dir(name: str, parent_fd: int | None) -> int:
    """An fd for directory `name` (relative to `parent_fd`), after making it u+rwx."""
    probe = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
    try:
        if stat.S_IMODE(os.fstat(probe).st_mode) & 0o700 != 0o700:
            os.chmod(f"/proc/self/fd/{probe}", 0o700)  # the O_PATH fd's inode: no name lookup, no link
        return os.open(name, _DIR, dir_fd=parent_fd)
    finally:
        os.close(probe)


def _identity(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _empty(top: int) -> int:
    """Remove everything beneath the directory open as `top` (closed on return); entries left."""
    left = 0
    cur = top
    # one frame per level below `top`: (name in its parent, parent's identity, parent's names still to do)
    frames: list[tuple[str, tuple[int, int], list[str]]] = []
    todo = os.listdir(cur)
    try:
        while True:
            if todo:
                name = todo.pop()
                try:
                    st = os.stat(name, dir_fd=cur, follow_symlinks=False)
                    if not stat.S_ISDIR(st.st_mode):
                        os.unlink(name, dir_fd=cur)
                        continue
                    sub = _open_dir(name, cur)
                except FileNotFoundError:
                    continue
                except OSError:
                    left += 1
                    continue
                frames.append((name, _identity(cur), todo))
                os.close(cur)
                cur, todo = sub, []
                try:
                    todo = os.listdir(cur)
                except OSError:
                    left += 1
                continue
            if not frames:
                return left
            name, parent_id, todo = frames.pop()
            parent = os.open("..", _DIR, dir_fd=cur)
            os.close(cur)
            cur = parent
            if _identity(cur) != parent_id:  # something moved: stop rather than delete elsewhere
                return left + 1
            try:
                os.rmdir(name, dir_fd=cur)
            except FileNotFoundError:
                pass
            except OSError:
                left += 1
    finally:
        os.close(cur)


def remove_tree(path: str) -> int:
    """Remove `path` and everything beneath it; return how many entries could not be removed
    (0: all gone, or it did not exist). Never raises."""
    try:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(path)
            return 0
        parent, name = os.path.split(os.path.abspath(path))
        parent_fd = os.open(parent, _DIR)
        try:
            left = _empty(_open_dir(name, parent_fd))
            if not left:
                os.rmdir(name, dir_fd=parent_fd)
            return left + (1 if left else 0)
        finally:
            os.close(parent_fd)
    except FileNotFoundError:
        return 0
    except (OSError, MemoryError):
        return 1
