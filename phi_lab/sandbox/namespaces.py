"""Linux namespaces for the sandbox, through libc: user namespaces, mounts and the samples' filesystem view.

Stdlib only, never imports phi_lab (the fork server loads it by path, beside `wrapper` and `rpc`).

Two kinds of kernel isolation, one filesystem view:

- "namespaces-root": the harness runs as root; the fork server is root in the initial user namespace
  and every sample drops to an unprivileged uid of its own.
- "namespaces-user": the harness is an ordinary user. The launcher unshares a user namespace in which
  it is root (mapped to the harness's own uid, nothing else is mapped), which lets the fork server
  build pid, mount, network and IPC namespaces without any privilege on the host. Every sample then
  enters a user namespace of its own (uid 1000 there, the same host uid underneath) and gives up every
  capability, so it can change no mount, no network setting and nothing of the server's namespaces.
  It still has the harness's host uid for file permissions, which is why the view below holds
  nothing of the harness user's files.

The view (`build_root`): a fresh tmpfs as `/`, into which the system directories (/usr, /etc, the
/lib* and /bin links), the interpreter's own directories and five device nodes are bound read-only,
a /proc of the server's pid namespace (with /proc/sys read-only) and a size-capped writable tmpfs for
the samples' working directories. After `pivot_root` the host's root is detached: home directories,
the checkout, /tmp, sockets and every other mount are not there at all, rather than merely read-only.
"""

import os
import platform

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME = 1024, 2048, 1 << 21, 1 << 24
_FLAG_NAMES = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWIPC = 0x20000, 0x10000000, 0x8000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = 1, 38, 36
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
# A sample's uid inside its own user namespace (mapped to the server's root, i.e. the harness's uid).
SAMPLE_UID = 1000
# What the samples' view shows of the host, read-only: system directories (or the links to them).
SYSTEM_PATHS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
DEVICES = ("null", "zero", "full", "random", "urandom")

_libc = None


def libc():
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    return _libc


def _oserror(what: str) -> OSError:
    import ctypes

    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def mount(src, target: str, flags: int, fstype=None, data=None) -> None:
    if isinstance(src, str):
        src = src.encode()
    if libc().mount(src, target.encode(), fstype, flags, data) != 0:
        raise _oserror(f"mount({target})")


def unshare(flags: int) -> None:
    if libc().unshare(flags) != 0:
        raise _oserror("unshare")


def prctl(option: int, arg: int = 0) -> None:
    if libc().prctl(option, arg, 0, 0, 0) != 0:
        raise _oserror(f"prctl({option})")


def set_subreaper() -> None:
    if platform.system() == "Linux":
        prctl(PR_SET_CHILD_SUBREAPER, 1)


# -- user namespaces ---------------------------------------------------------------------------------
def map_ids(inside: int, outside_uid: int, outside_gid: int) -> None:
    """Map one uid and one gid of this process's new user namespace (the one mapping an unprivileged
    process may write for itself). setgroups must be denied first, so the supplementary groups a
    process came with stay as they are: nothing in the samples' view is reachable through them."""
    for name, text in (
        ("setgroups", "deny"),
        ("uid_map", f"{inside} {outside_uid} 1\n"),
        ("gid_map", f"{inside} {outside_gid} 1\n"),
    ):
        fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


def enter_user_namespace(inside: int = 0, extra: int = 0) -> None:
    """unshare a user namespace (and `extra` namespaces owned by it) where this process is `inside`."""
    uid, gid = os.geteuid(), os.getegid()
    unshare(CLONE_NEWUSER | extra)
    map_ids(inside, uid, gid)


_capset_args: tuple | None = None


def warm() -> None:
    """Resolve what every sample calls, once in the fork server: the forks inherit it ready."""
    global _capset_args
    import ctypes

    for name in ("capset", "prctl", "unshare"):
        getattr(libc(), name)  # ctypes caches each function it looks up
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    _capset_args = (header, (ctypes.c_uint32 * 6)())  # effective, permitted, inheritable x 2: all 0


def drop_capabilities() -> None:
    """No capability in any set, and none to be gained by exec (no_new_privs): a process that is a
    user namespace's creator holds all of them there until it drops them."""
    if _capset_args is None:
        warm()
    if libc().capset(*_capset_args) != 0:
        raise _oserror("capset")
    prctl(PR_SET_NO_NEW_PRIVS, 1)


# -- the samples' filesystem view ------------------------------------------------------------------------
def _unescape(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal
    out, i = [], 0
    while i < len(path):
        if path[i] == "\\" and i + 3 < len(path) and path[i + 1 : i + 4].isdigit():
            out.append(chr(int(path[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def mounts() -> list[tuple[str, list[str]]]:
    """(mount point, options) of every mount this process sees."""
    with open("/proc/self/mountinfo") as f:
        lines = f.read().splitlines()
    return [(_unescape(fields[4]), fields[5].split(",")) for fields in (line.split() for line in lines)]


def _within(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def pivot_root(new_root: str, put_old: str) -> None:
    number = _SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(f"pivot_root: no syscall number known for {platform.machine()}")
    if libc().syscall(number, new_root.encode(), put_old.encode()) != 0:
        raise _oserror("pivot_root")


def build_root(new_root: str, samples_dir: str, samples_bytes: int, expose: list[str]) -> None:
    """Make `new_root` (an empty directory) this process's `/`, showing only what a sample may see.

    Runs in a fresh mount namespace of this process's own, as init of a fresh pid namespace (the /proc
    mounted here shows that namespace). `expose`: absolute paths the interpreter needs (its prefix, its
    sys.path), bound read-only at the same paths; symbolic links among them are recreated as links.
    `samples_dir`: where the samples' working directories go, a private tmpfs of `samples_bytes`.
    """
    mount(None, "/", MS_REC | MS_PRIVATE)  # nothing done here propagates to the host
    mount(b"tmpfs", new_root, MS_NOSUID | MS_NODEV, b"tmpfs", b"mode=0755,size=1m,nr_inodes=4096")
    bound: list[str] = []
    links: list[str] = []  # targets of the links recreated, bound once every directory is in place

    def inside(path: str) -> str:
        return new_root + path

    def covered(path: str) -> bool:
        return any(_within(path, b) for b in bound)

    def bind(path: str) -> None:
        if covered(path) or not os.path.lexists(path):
            return
        if os.path.islink(path):  # e.g. /lib -> usr/lib, or the venv's bin/python -> the interpreter
            target = os.readlink(path)
            os.makedirs(os.path.dirname(inside(path)), 0o755, exist_ok=True)
            if not os.path.lexists(inside(path)):
                os.symlink(target, inside(path))
            links.append(os.path.normpath(os.path.join(os.path.dirname(path), target)))
            return
        if os.path.isdir(path):
            os.makedirs(inside(path), 0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(inside(path)), 0o755, exist_ok=True)
            os.close(os.open(inside(path), os.O_WRONLY | os.O_CREAT, 0o644))
        mount(path, inside(path), MS_BIND | MS_REC)
        bound.append(path)

    for path in SYSTEM_PATHS:
        bind(path)
    for path in sorted({os.path.abspath(p) for p in expose}, key=len):  # parents first: children covered
        bind(path)
    while links:
        bind(links.pop(0))
    if covered(samples_dir) or covered("/tmp"):
        # directories made below would land on the host, through a bind that is still writable
        raise OSError(f"the samples' directory {samples_dir} lies under a path the sandbox exposes")
    os.mkdir(inside("/dev"), 0o755)
    for name in DEVICES:
        os.close(os.open(inside(f"/dev/{name}"), os.O_WRONLY | os.O_CREAT, 0o644))
        mount(f"/dev/{name}", inside(f"/dev/{name}"), MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0")):
        os.symlink(target, inside(f"/dev/{name}"))
    for i, name in ((1, "stdout"), (2, "stderr")):
        os.symlink(f"/proc/self/fd/{i}", inside(f"/dev/{name}"))
    os.mkdir(inside("/proc"), 0o555)
    mount(b"proc", inside("/proc"), MS_NOSUID | MS_NODEV | MS_NOEXEC, b"proc")
    # The server's network namespace is shared by its samples: its sysctls stay as they are.
    mount(inside("/proc/sys"), inside("/proc/sys"), MS_BIND | MS_REC)
    mount(None, inside("/proc/sys"), MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(inside("/tmp"), 0o755, exist_ok=True)  # an empty, read-only /tmp; TMPDIR is the workdir
    os.makedirs(inside(samples_dir), 0o755, exist_ok=True)
    opts = f"size={samples_bytes},nr_inodes=65536,mode=0755".encode()
    mount(b"tmpfs", inside(samples_dir), MS_NOSUID | MS_NODEV, b"tmpfs", opts)

    os.chdir(new_root)
    os.mkdir(".old")
    pivot_root(".", ".old")
    os.chdir("/")
    if libc().umount2(b"/.old", MNT_DETACH) != 0:
        raise _oserror("umount2(/.old)")
    os.rmdir("/.old")
    devices = {f"/dev/{name}" for name in DEVICES}
    for target, options in mounts():
        if target == samples_dir or _within(target, "/proc"):
            continue
        if target in devices:  # writable, and usable (no nodev)
            flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC
        else:  # adding flags is always allowed, even to mounts of a more privileged namespace
            flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
        for opt in options:  # flags the kernel locks on mounts from a more privileged namespace
            flags |= _FLAG_NAMES.get(opt, 0)
        mount(None, target, flags)  # a mount left writable would be a hole: fail instead


def interpreter_paths(executable: str, sys_path: list[str], exclude: str) -> list[str]:
    """What a fork server's samples need of the host to keep importing: its executable (and the links
    to it), its prefix and its sys.path, minus any entry that would show `exclude` (the checkout that
    holds phi_lab, whose sandbox and checker sources must stay out of reach)."""
    import sys

    paths = [executable, sys.base_prefix, os.path.dirname(os.path.realpath(executable))]
    paths += [p for p in sys_path if p and os.path.isabs(p)]
    # Installed (not a checkout): site-packages holds nothing of the user's, and read-only it is harmless.
    installed = os.path.basename(exclude) in ("site-packages", "dist-packages")
    out = []
    for p in paths:
        p = os.path.abspath(p)
        if not os.path.exists(p) or (_within(exclude, p) and not installed):
            continue
        if _within(p, os.path.join(exclude, "phi_lab")):
            continue
        out.append(p)
    return out
