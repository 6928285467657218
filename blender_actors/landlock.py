"""Landlock through its three system calls (ctypes; stdlib only).

Why not PyPI's `landlock` (1.0.0.dev5, alpha): it handles filesystem rights only (no
TCP rules from ABI 4, no scoping of abstract Unix sockets and signals from ABI 6), and
it applies no_new_privs itself. The kernel interface is three system calls and three
structs (Documentation/userspace-api/landlock.rst), small enough to own and test here.

A ruleset names every right it *handles*; what no rule grants is denied, for this
process and everything it starts, irrevocably. Rights are masked to what the running
kernel's ABI knows, so an older kernel gets the subset it understands (and the caller
records which layers that left out).
"""
from __future__ import annotations

import ctypes
import os
import platform
import stat

# x86_64 and aarch64 share these numbers (the generic syscall table since 5.13).
_SYS = {"create_ruleset": 444, "add_rule": 445, "restrict_self": 446}
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1

# Filesystem rights (ABI in which each appeared).
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
# Network (ABI 4) and scopes (ABI 6).
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # the rights a rule on a file may carry
READ = READ_FILE | READ_DIR
# Writing in a directory: files and directories, never symlinks, sockets, FIFOs or devices.
WRITE = WRITE_FILE | TRUNCATE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | REFER


class LandlockError(OSError):
    """Landlock refused (not built in, disabled at boot, or a bad rule)."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel's struct is __attribute__((packed)): 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi_version() -> int:
    """The kernel's Landlock ABI (0: none; not built in, disabled, or not Linux)."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"):
        return 0
    abi = _libc().syscall(_SYS["create_ruleset"], None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(0, int(abi))


def fs_rights(abi: int) -> int:
    """Every filesystem right this ABI handles."""
    return _FS_BY_ABI[max(k for k in _FS_BY_ABI if k <= abi)] if abi >= 1 else 0


class Ruleset:
    """Build a ruleset, add path rules, then `restrict_self()` (needs no_new_privs first)."""

    def __init__(self, abi: int, *, net: bool = True, scopes: bool = True):
        if abi < 1:
            raise LandlockError(0, "Landlock is not available on this kernel")
        self.abi = abi
        self.handled_fs = fs_rights(abi)
        self.handled_net = (NET_BIND_TCP | NET_CONNECT_TCP) if net and abi >= 4 else 0
        self.scoped = (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if scopes and abi >= 6 else 0
        attr = _RulesetAttr(self.handled_fs, self.handled_net, self.scoped)
        size = 8 if abi < 4 else 16 if abi < 6 else 24  # older kernels refuse fields they do not know
        self._libc = _libc()
        fd = self._libc.syscall(_SYS["create_ruleset"], ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
        if fd < 0:
            err = ctypes.get_errno()
            raise LandlockError(err, f"landlock_create_ruleset: {os.strerror(err)}")
        self.fd = int(fd)
        self.rules: list[tuple[str, int]] = []

    def allow(self, path: str, rights: int) -> bool:
        """Grant `rights` beneath `path` (a file gets only file rights). False if it does not exist."""
        try:
            target = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            if not stat.S_ISDIR(os.fstat(target).st_mode):
                rights &= FILE_RIGHTS
            rights &= self.handled_fs
            if not rights:
                return False
            rule = _PathBeneathAttr(rights, target)
            if self._libc.syscall(_SYS["add_rule"], ctypes.c_int(self.fd), ctypes.c_int(_RULE_PATH_BENEATH),
                                  ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                err = ctypes.get_errno()
                raise LandlockError(err, f"landlock_add_rule({path}): {os.strerror(err)}")
            self.rules.append((path, rights))
            return True
        finally:
            os.close(target)

    def restrict_self(self) -> None:
        """Apply to this thread (and what it starts). Irrevocable."""
        try:
            if self._libc.syscall(_SYS["restrict_self"], ctypes.c_int(self.fd), ctypes.c_uint32(0)) != 0:
                err = ctypes.get_errno()
                raise LandlockError(err, f"landlock_restrict_self: {os.strerror(err)}")
        finally:
            os.close(self.fd)
