"""The jail launcher: run as `python -I -S jail.py CONFIG_JSON` by the sandbox's parent.

It turns itself into the candidate's interpreter inside as many walls as this machine allows:

- "namespaces" (needs root): new mount, network, PID, IPC and UTS namespaces; a fresh root
  file system that holds only the system libraries and the Python installation (read-only
  binds), a size-capped tmpfs for /tmp, a private /proc; the candidate runs as a uid of its
  own (one per concurrent run), is PID 1 of its namespace so every process it starts dies
  with it, and has no network interface but a downed loopback.
- "plain": no namespaces; a private working directory, and a uid of its own where we are root.

Both modes then set rlimits, drop every privilege, install the seccomp filter, and exec.
In namespaces mode this process stays outside as the waiter: it forwards a kill and reaps,
so no zombie is left for an init that may not reap.
"""
import ctypes
import json
import os
import resource
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seccomp  # noqa: E402: imported before the chroot hides this directory

del sys.path[0]

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
DEVICES = ("null", "zero", "random", "urandom")
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.cache")
CHILD_DIR_IN_JAIL = "/opt/selfplay-sandbox"

libc = ctypes.CDLL(None, use_errno=True)


def check(result, what):
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def mount(source, target, fstype, flags, data=None):
    encode = lambda text: None if text is None else text.encode()  # noqa: E731
    check(libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)), f"mount {target}")


def bind(source, root, read_only=True):
    """Bind `source` at the same path under `root`, replicating a top-level symlink as is."""
    target = root + source
    if os.path.islink(source) and os.path.dirname(source) == "/":
        if not os.path.lexists(target):
            os.symlink(os.readlink(source), target)
        return
    if not os.path.exists(source):
        return
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if os.path.isdir(source):
        os.makedirs(target, mode=0o755, exist_ok=True)
    elif not os.path.exists(target):
        open(target, "wb").close()
    mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)


def copy_child_files(source, target):
    """Copy the harness modules into the jail, read-only to the candidate's uid.

    Copied, not bind-mounted: a bind shows its host path in the jail's /proc/self/mountinfo.
    """
    os.makedirs(target, mode=0o755)
    for name in sorted(os.listdir(source)):
        if name.endswith(".py"):
            with open(os.path.join(source, name), "rb") as original:
                data = original.read()
            with open(os.path.join(target, name), "wb") as copy:
                copy.write(data)
            os.chmod(os.path.join(target, name), 0o444)
    os.chmod(target, 0o555)


def build_root(config):
    """Mount the jail's root file system at config['root'] and chroot into it."""
    root = config["root"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={config['tmpfs_mb']}m,nr_inodes={config['tmpfs_inodes']},mode=755")
    for path in SYSTEM_PATHS + tuple(config["python_paths"]):
        bind(path, root)
    copy_child_files(config["child_dir"], root + CHILD_DIR_IN_JAIL)
    os.makedirs(root + "/dev", mode=0o755)
    for device in DEVICES:
        bind("/dev/" + device, root, read_only=False)
    os.makedirs(root + "/proc", mode=0o555)
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(root + "/tmp", mode=0o777)
    os.chmod(root + "/tmp", 0o1777)
    os.chroot(root)
    os.chdir("/tmp")


def set_limits(limits):
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), (value, value))


def drop_privileges(uid):
    if uid is None or os.geteuid() != 0:
        return
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def become_candidate(config, harness):
    """Limits, privileges, filter, then exec: never returns."""
    keep = set(config["keep_fds"])
    os.set_inheritable(config["status_fd"], False)  # open until the exec succeeds, then gone
    for fd in range(3, 1024):
        if fd not in keep and fd != config["status_fd"]:
            try:
                os.close(fd)
            except OSError:
                pass
    set_limits(config["rlimits"])
    drop_privileges(config["uid"])
    seccomp.install()
    argv = [config["python"], "-I", "-S", "-B", harness] + [str(fd) for fd in config["keep_fds"]]
    os.execve(config["python"], argv, config["env"])


def report_setup_failure(config, error):
    """Say why on the status pipe: it is closed before the exec, so no candidate can write it."""
    message = f"sandbox setup failed: {error!r}\n".encode()
    os.write(2, message)
    try:
        os.write(config["status_fd"], message)
    except OSError:
        pass


def run_namespaced(config):
    check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    outside = os.getpid()
    waited = []

    def forward_kill(signum, frame):
        for pid in waited:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward_kill)  # before the fork, so no early SIGTERM is lost
    child = os.fork()
    if child == 0:
        try:
            check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
            if os.getppid() not in (0, outside):  # 0: our waiter lies outside the new PID namespace
                os._exit(125)
            build_root(config)
            become_candidate(config, CHILD_DIR_IN_JAIL + "/harness.py")
        except BaseException as error:  # report, never fall through to the parent's code
            report_setup_failure(config, error)
        os._exit(125)
    waited.append(child)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def run_plain(config):
    os.chdir(config["workdir"])
    become_candidate(config, os.path.join(config["child_dir"], "harness.py"))


def main():
    if sys.argv[1] == "--probe":  # can this machine give us the namespaces?
        check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
        os._exit(0)
    config = json.loads(sys.argv[1])
    if config["mode"] == "namespaces":
        run_namespaced(config)
    else:
        try:
            run_plain(config)
        except BaseException as error:
            report_setup_failure(config, error)
        os._exit(125)


if __name__ == "__main__":
    main()
