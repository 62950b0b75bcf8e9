"""The seccomp filter every confined worker runs under, compiled to classic BPF in Python.

The filter refuses what a policy that maps observations to actions never needs and what
would let it leave its box: mounting, namespaces, tracing other processes, kernel modules,
keyrings, BPF, perf, io_uring, clocks, and every socket family but AF_UNIX (there is no
network to reach, and a namespace alone would still give it a loopback device). It covers
the system calls that Docker's default profile refuses, and is stricter in three ways:
a forbidden call kills the whole worker at once (SIGSYS, classified `sandbox_violation`)
instead of returning an error it could probe around; `clone` with namespace flags and
`socket` outside AF_UNIX are refused by argument; and calls newer than this table answer
ENOSYS. x86_64 only: other architectures, and the x32 ABI, are killed on sight.

Docker containers keep the engine's default profile as well: filters stack, and the
strictest answer wins. Like `wire.py`, this module imports nothing from the bot, because
the harness loads it by path inside the sandbox.
"""

from __future__ import annotations

import ctypes
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
EPERM = 1
ENOSYS = 38
AF_UNIX = 1

# Numbers from the kernel's x86_64 table (asm/unistd_64.h); tests/ check them against it.
KILL = {
    "mount": 165,
    "umount2": 166,
    "pivot_root": 155,
    "chroot": 161,
    "unshare": 272,
    "setns": 308,
    "ptrace": 101,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kexec_load": 246,
    "kexec_file_load": 320,
    "init_module": 175,
    "finit_module": 313,
    "delete_module": 176,
    "create_module": 174,
    "get_kernel_syms": 177,
    "query_module": 178,
    "bpf": 321,
    "perf_event_open": 298,
    "keyctl": 250,
    "add_key": 248,
    "request_key": 249,
    "reboot": 169,
    "swapon": 167,
    "swapoff": 168,
    "acct": 163,
    "settimeofday": 164,
    "clock_settime": 227,
    "adjtimex": 159,
    "clock_adjtime": 305,
    "userfaultfd": 323,
    "open_by_handle_at": 304,
    "name_to_handle_at": 303,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "iopl": 172,
    "ioperm": 173,
    "quotactl": 179,
    "quotactl_fd": 443,
    "lookup_dcookie": 212,
    "fanotify_init": 300,
    "kcmp": 312,
    "uselib": 134,
    "ustat": 136,
    "sysfs": 139,
    "_sysctl": 156,
    "vhangup": 153,
    "nfsservctl": 180,
    "move_mount": 429,
    "open_tree": 428,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
    "pidfd_getfd": 438,
    "process_madvise": 440,
    "syslog": 103,
    "memfd_secret": 447,
}
# Harmless to refuse politely: libraries probe some of these and carry on without them.
REFUSE = {
    "personality": 135,
    "modify_ldt": 154,
    "mbind": 237,
    "set_mempolicy": 238,
    "get_mempolicy": 239,
    "move_pages": 279,
    "migrate_pages": 256,
    "set_mempolicy_home_node": 450,
}
CLONE = 56
CLONE3 = 435  # ENOSYS: its flags sit in memory a filter cannot read; libc falls back to clone
SOCKET = 41
NEWEST_KNOWN = 450
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
CLONE_NAMESPACES |= 0x20000000 | 0x40000000

_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program() -> bytes:
    """The filter as an array of `struct sock_filter`."""
    out = [
        _insn(_LD_ABS, _ARCH),
        _insn(_JEQ, AUDIT_ARCH_X86_64, 1, 0),
        _insn(_RET, RET_KILL_PROCESS),
        _insn(_LD_ABS, _NR),
        _insn(_JGE, X32_SYSCALL_BIT, 0, 1),
        _insn(_RET, RET_KILL_PROCESS),
    ]
    for number in sorted(KILL.values()):
        out += [_insn(_JEQ, number, 0, 1), _insn(_RET, RET_KILL_PROCESS)]
    for number in sorted(REFUSE.values()):
        out += [_insn(_JEQ, number, 0, 1), _insn(_RET, RET_ERRNO | EPERM)]
    out += [_insn(_JEQ, CLONE3, 0, 1), _insn(_RET, RET_ERRNO | ENOSYS)]
    # socket(domain, ...): AF_UNIX only
    out += [
        _insn(_JEQ, SOCKET, 0, 4),
        _insn(_LD_ABS, _ARG0),
        _insn(_JEQ, AF_UNIX, 0, 1),
        _insn(_RET, RET_ALLOW),
        _insn(_RET, RET_KILL_PROCESS),
    ]
    # clone(flags, ...): no new namespaces
    out += [
        _insn(_JEQ, CLONE, 0, 4),
        _insn(_LD_ABS, _ARG0),
        _insn(_JSET, CLONE_NAMESPACES, 0, 1),
        _insn(_RET, RET_KILL_PROCESS),
        _insn(_RET, RET_ALLOW),
    ]
    out += [
        _insn(_JGE, NEWEST_KNOWN + 1, 0, 1),
        _insn(_RET, RET_ERRNO | ENOSYS),
        _insn(_RET, RET_ALLOW),
    ]
    return b"".join(out)


def supported() -> str | None:
    """Why this filter cannot run here, or None when it can."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return f"the seccomp filter is written for Linux on x86_64, not {platform.machine()}"
    return None


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


def install() -> None:
    """Apply the filter to this process and everything it starts later. Irreversible."""
    code = program()
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
