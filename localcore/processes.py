"""Child process groups of the local core: start them, end them, and make sure none outlives the core.

Every child the core starts (Lambda instances, generic-component steps, device scripts, cloud Lambda
workers) goes through :func:`start`:

* a session of its own (``start_new_session``): its pid is its process group id, so ending the *group*
  reaches whatever it spawned (a component's own subprocesses);
* on Linux, the parent-death signal ``PR_SET_PDEATHSIG(SIGKILL)``: the child dies with the thread that
  started it, also on a ``kill -9`` of the core (start from a long-lived thread: the event loop of the main
  thread). It is set by ``setpriv --pdeathsig KILL`` (util-linux) put before the child's own command, so the
  core runs no Python code between fork and exec and ``subprocess`` can use ``vfork`` (a Python
  ``preexec_fn`` forces a full ``fork``: ~75 ms of a ~300 MB core's time per child, with the event loop
  blocked). Without ``setpriv``, or when the caller passes its own ``preexec`` (a uid change, which clears the
  signal), the signal is set in a ``preexec_fn`` after the caller's, as before. The window between the fork
  and ``setpriv``'s ``prctl`` (under a millisecond) is covered by the watchdog: a *spawn marker* (the command
  line and the time) is written before the fork and removed once the child is recorded;
* registered with the run's :class:`Supervision` when :func:`supervise` was called.

:func:`end_group` (and :func:`end_groups`) is the one "stop a process group" of the core: SIGTERM to the
group, wait until the group is gone (the leader reaped and no member left), SIGKILL after the grace
period, every wait bounded. :func:`end_groups_sync` does the same without an event loop (the watchdog, the
leftover clean-up).

Supervision (:func:`supervise`, called once by ``deploy.py run`` before anything starts):

1. leftovers of an earlier run of the same state folder are ended first — each child was recorded in
   ``<state>/processes/<core pid>/<child pid>.json`` with its start time (``/proc/<pid>/stat``) and the
   boot id, so a pid that was recycled by an unrelated process is never signalled;
2. a watchdog process (this file run as a script, in a session of its own so that ``kill -9 -<pgid>`` of
   the run does not reach it) holds the read end of a pipe whose write end only the core holds: when the
   core ends, however it ends, the watchdog reads EOF and ends every recorded group (the grandchildren
   PDEATHSIG does not reach) and the group of a child whose spawn marker is still there (the core died while
   starting it: a session leader started after the marker with the marker's command line), then removes the
   record folder.

This module uses the standard library only: the watchdog runs it as ``python -I processes.py``.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

log = logging.getLogger(__name__)

DEFAULT_GRACE_S = 5.0
KILL_WAIT_S = 5.0       # after SIGKILL: how long to wait for the group to be gone
POLL_S = 0.05           # no event says a whole group is gone: /proc is polled, bounded
RECORDS_DIR = "processes"
_PR_SET_PDEATHSIG = 1
_PROC = Path("/proc")


# ---------------------------------------------------------------------------------------------- /proc
@dataclass(frozen=True)
class ProcInfo:
    pid: int
    state: str       # R, S, D, Z, ...
    ppid: int
    pgid: int
    sid: int
    start: int       # start time in clock ticks after boot (field 22 of /proc/<pid>/stat)


def proc_info(pid: int) -> Optional[ProcInfo]:
    """The /proc/<pid>/stat facts of ``pid``; None when there is no such process (or no /proc)."""
    try:
        fd = os.open(f"{_PROC}/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except (OSError, ValueError):
        return None
    try:
        text = os.read(fd, 4096).decode(errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)
    return _parse_stat(pid, text)


def _parse_stat(pid: int, text: str) -> Optional[ProcInfo]:
    # the command name (field 2) may contain spaces and parentheses: fields follow its last ')'
    fields = text.rsplit(")", 1)[-1].split()
    try:
        return ProcInfo(pid, fields[0], int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19]))
    except (IndexError, ValueError):
        return None


def _all_procs() -> list[ProcInfo]:
    out = []
    try:
        names = os.listdir(_PROC)
    except OSError:
        return out
    for name in names:
        if name.isdigit():
            info = proc_info(int(name))
            if info is not None:
                out.append(info)
    return out


def _ticks_now() -> int:
    """Now, in the unit and origin of a process' start time (clock ticks since boot)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * os.sysconf("SC_CLK_TCK"))


def _cmdline(pid: int) -> Optional[list[str]]:
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return [os.fsdecode(a) for a in raw.split(b"\0")[:-1]]


def boot_id() -> str:
    """This boot's id (start times count from boot: records of another boot name nothing)."""
    try:
        return (_PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""


def group_members(pgid: int) -> list[ProcInfo]:
    """Live (non-zombie) processes of process group ``pgid``."""
    return [p for p in _all_procs() if p.pgid == pgid and p.state != "Z"]


def group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is still in group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    if not _PROC.is_dir():  # no /proc: killpg(0) also counts zombies; the best there is
        return True
    return bool(group_members(pgid))


# ---------------------------------------------------------------------------------------------- start
def _load_prctl() -> Optional[Callable[..., int]]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError) as e:
        log.warning("no prctl (%s): children will not die with the core on a kill -9", e)
        return None


_prctl = _load_prctl()


def child_setup(preexec: Optional[Callable[[], None]] = None) -> Optional[Callable[[], None]]:
    """The ``preexec_fn`` of a child: ``preexec`` (limits, uid), then the parent-death signal (Linux)."""
    prctl = _prctl  # resolved before the fork: the child only calls it
    parent = os.getpid()
    if prctl is None:
        return preexec

    def setup() -> None:
        if preexec is not None:
            preexec()
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the prctl: the signal will never come
            os.kill(os.getpid(), signal.SIGKILL)

    return setup


_UNKNOWN: tuple = ("?",)
_prefix: tuple = _UNKNOWN


def pdeathsig_prefix() -> tuple[str, ...]:
    """The command put before a child's own to give it the parent-death signal without a ``preexec_fn``:
    ``("/usr/bin/setpriv", "--pdeathsig", "KILL", "--")``; ``()`` when there is no such ``setpriv`` (then
    :func:`child_setup` sets the signal) or no ``prctl`` (not Linux). Looked up once."""
    global _prefix
    if _prefix is _UNKNOWN:
        _prefix = _find_prefix()
    return _prefix


def _find_prefix() -> tuple[str, ...]:
    if _prctl is None:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        log.info("no setpriv on PATH: children get their parent-death signal in a preexec_fn (slower starts)")
        return ()
    try:  # --pdeathsig: util-linux 2.33 and later
        probe = subprocess.run([setpriv, "--pdeathsig", "KILL", "--", "true"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        log.info("setpriv %s cannot be used (%s): children get their parent-death signal in a preexec_fn", setpriv, e)
        return ()
    if probe.returncode != 0:
        log.info("setpriv %s has no usable --pdeathsig (%s): children get their parent-death signal in a "
                 "preexec_fn", setpriv, probe.stderr.decode(errors="replace").strip())
        return ()
    return (setpriv, "--pdeathsig", "KILL", "--")


def _check_executable(program: str, env: Optional[dict], cwd: Any) -> None:
    """Raise what ``subprocess`` raises for a program that cannot be started (the exec happens in ``setpriv``,
    whose failure would only be an exit status): FileNotFoundError / PermissionError naming ``program``."""
    if os.sep in program:
        path: Optional[str] = program if os.path.isabs(program) or cwd is None else os.path.join(os.fspath(cwd),
                                                                                                  program)
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    else:
        # the PATH subprocess searches: the child's environment's, else ours
        path = shutil.which(program, path=env.get("PATH", os.defpath) if env is not None else None)
        if path is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)


async def start(argv: Sequence[str], *, name: str, preexec: Optional[Callable[[], None]] = None,
                **kwargs: Any) -> asyncio.subprocess.Process:
    """``asyncio.create_subprocess_exec(*argv, **kwargs)`` in a session of its own, dying with the core
    (Linux) and recorded for the supervision (``name`` says what it is in the record and the logs).

    ``preexec`` (run in the child before the exec) forces a full fork of the core: only for what cannot be done
    otherwise (a uid change)."""
    argv = [os.fsdecode(a) for a in argv]
    prefix = pdeathsig_prefix() if preexec is None else ()
    if prefix:
        _check_executable(argv[0], kwargs.get("env"), kwargs.get("cwd"))
    supervision = _current
    marker = supervision.spawning(argv, prefix) if supervision is not None else None
    try:
        if prefix:
            proc = await asyncio.create_subprocess_exec(*prefix, *argv, start_new_session=True, **kwargs)
        else:
            proc = await asyncio.create_subprocess_exec(*argv, start_new_session=True,
                                                        preexec_fn=child_setup(preexec), **kwargs)
        if supervision is not None:
            supervision.record(proc.pid, name)
    finally:
        if marker is not None:
            supervision.spawned(marker)
    return proc


# ---------------------------------------------------------------------------------------------- end
def signal_group(pgid: int, sig: int, proc: Optional[asyncio.subprocess.Process] = None) -> None:
    """``sig`` to process group ``pgid``; gone is fine; a group we may not signal (another user's) gets it
    through ``proc`` alone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        if proc is None:
            log.warning("cannot signal process group %d", pgid)
            return
        log.warning("cannot signal process group %d; signalling the process only", pgid)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)


async def _gone(pgid: int, proc: Optional[asyncio.subprocess.Process], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    if proc is not None and proc.returncode is None:
        try:
            await asyncio.wait_for(proc.wait(), max(0.0, timeout))
        except asyncio.TimeoutError:
            return False
    while group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True


async def end_group(pgid: int, grace_s: float = DEFAULT_GRACE_S, *,
                    proc: Optional[asyncio.subprocess.Process] = None,
                    first: Optional[int] = signal.SIGTERM, what: str = "",
                    report: Optional[Callable[[str], None]] = None) -> bool:
    """End process group ``pgid`` (``proc``: its leader, when we started it: waited for, so it is reaped).

    ``first`` (SIGTERM; None when the child was already asked to stop another way) to the group, wait up to
    ``grace_s`` for the group to be gone, then SIGKILL and wait up to ``KILL_WAIT_S``. ``report`` gets the
    line saying that SIGKILL was needed (default: this module's log). Returns whether the group is gone;
    the record of the supervision is dropped either way.
    """
    what = what or f"process group {pgid}"

    def running() -> bool:  # a reaped leader with no member left: its pid may be another's, never signal it
        return (proc is not None and proc.returncode is None) or group_alive(pgid)

    try:
        if first is not None and running():
            signal_group(pgid, first, proc)
        if first != signal.SIGKILL:
            if await _gone(pgid, proc, grace_s):
                return True
            asked = f"ignored {signal.Signals(first).name}" if first else "did not end after the stop request"
            (report or log.warning)(f"{what} {asked} for {grace_s:g} s; SIGKILL")
        if running():
            signal_group(pgid, signal.SIGKILL, proc)
        if await _gone(pgid, proc, KILL_WAIT_S):
            return True
        log.error("%s still there %.0f s after SIGKILL", what, KILL_WAIT_S)
        return False
    finally:
        supervision = _current
        if supervision is not None:
            supervision.forget(pgid)


async def end_groups(procs: Iterable[asyncio.subprocess.Process], grace_s: float = DEFAULT_GRACE_S) -> bool:
    """:func:`end_group` of every process (each its group's leader), all at once; whether all are gone."""
    results = await asyncio.gather(*(end_group(p.pid, grace_s, proc=p) for p in procs))
    return all(results)


def end_groups_sync(pgids: Iterable[int], grace_s: float = DEFAULT_GRACE_S) -> list[int]:
    """:func:`end_group` without an event loop, for groups whose leaders are not our children (the
    watchdog, the leftover clean-up). Returns the groups still alive at the end."""
    pgids = [g for g in pgids if group_alive(g)]
    for pgid in pgids:
        signal_group(pgid, signal.SIGTERM)
    left = _wait_groups(pgids, grace_s)
    for pgid in left:
        signal_group(pgid, signal.SIGKILL)
    return _wait_groups(left, KILL_WAIT_S)


def _wait_groups(pgids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        left = [g for g in pgids if group_alive(g)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(POLL_S)


# ---------------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class Record:
    """One process group a core started: its leader's pid (= pgid), start time and the boot it ran in."""

    pid: int
    start: int
    boot: str
    name: str = ""

    def state(self, boot: str, groups: Optional[dict[int, list[ProcInfo]]] = None) -> str:
        """``"alive"``: the leader is this very process; ``"orphaned"``: the leader is gone (or a zombie) but
        members of its group are left; ``"gone"``: nothing of it is left, or the pid is another process's now.
        ``groups``: a /proc snapshot by group id (:func:`_groups`), to scan /proc once for many records."""
        if self.boot != boot:
            return "gone"
        info = proc_info(self.pid)
        if info is not None and info.start != self.start:
            return "gone"  # the pid was recycled: not ours, never signalled
        if info is not None and info.state != "Z":
            return "alive"
        # The leader is gone. Members of its group pin the number (Linux does not hand out a pid that is
        # still some group's id), so the members found are our group's; they started after the leader.
        members = (groups if groups is not None else _groups()).get(self.pid, [])
        members = [m for m in members if m.state != "Z"]
        return "orphaned" if members and all(m.start >= self.start for m in members) else "gone"


def _groups() -> dict[int, list[ProcInfo]]:
    out: dict[int, list[ProcInfo]] = {}
    for p in _all_procs():
        out.setdefault(p.pgid, []).append(p)
    return out


def _states(records: Iterable[Record], boot: str) -> dict[int, str]:
    """:meth:`Record.state` of each record by pid, scanning /proc at most once."""
    records = list(records)
    infos = [proc_info(r.pid) for r in records if r.boot == boot]
    needs_scan = any(i is None or i.state == "Z" for i in infos)
    groups = _groups() if needs_scan else {}
    return {r.pid: r.state(boot, groups) for r in records}


def _surely_gone(record: Record) -> bool:
    try:
        os.killpg(record.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    info = proc_info(record.pid)
    return info is not None and info.start != record.start


def _read_record(path: Path) -> Optional[Record]:
    try:
        doc = json.loads(path.read_text())
        return Record(int(doc["pid"]), int(doc["start"]), str(doc["boot"]), str(doc.get("name", "")))
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("ignoring unreadable process record %s: %s", path, e)
        return None


def _write_json(path: Path, doc: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _targets(run_dir: Path, boot: str) -> list[Record]:
    """The recorded groups of one run folder that still have processes (each verified against /proc)."""
    records = [r for r in map(_read_record, sorted(run_dir.glob("[0-9]*.json"))) if r is not None]
    states = _states(records, boot)
    return [r for r in records if states[r.pid] != "gone"]


def _unrecorded(run_dir: Path, boot: str, known: set[int]) -> list[Record]:
    """The children whose spawn marker is still in ``run_dir`` (the core died while starting them, before it
    recorded them): session leaders started after the marker whose command line is the marker's, with or
    without the ``setpriv`` prefix (before or after its exec)."""
    markers = []
    for path in sorted(run_dir.glob("spawn-*.json")):
        try:
            doc = json.loads(path.read_text())
            argv, prefix = [str(a) for a in doc["argv"]], [str(a) for a in doc.get("prefix", ())]
            after, marker_boot = int(doc["after"]), str(doc["boot"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("ignoring unreadable spawn marker %s: %s", path, e)
            continue
        if marker_boot == boot and argv:
            markers.append(((argv, prefix + argv), after))
    if not markers:
        return []
    out = []
    for p in _all_procs():
        if p.pid in known or p.state == "Z" or not (p.pid == p.pgid == p.sid) or p.pid == os.getpid():
            continue
        lines = [m[0] for m in markers if p.start >= m[1]]
        if not lines:
            continue
        cmd = _cmdline(p.pid)
        if any(cmd in forms for forms in lines):
            out.append(Record(p.pid, p.start, boot, f"child being started ({' '.join(cmd)[:80]})"))
    return out


def end_recorded(run_dir: Path, grace_s: float = DEFAULT_GRACE_S, *, spawning: bool = False) -> list[Record]:
    """End every group recorded in ``run_dir`` that is still there, then remove the folder. Returns the
    records of the groups it ended. ``spawning``: also the children of the spawn markers (the watchdog, right
    after the core's end: later the match of a command line and a start time would mean less)."""
    boot = boot_id()
    targets = _targets(run_dir, boot)
    if spawning:
        targets += _unrecorded(run_dir, boot, {r.pid for r in targets})
    if targets:
        left = end_groups_sync([r.pid for r in targets], grace_s)
        for r in targets:
            log.warning("ended leftover %s (process group %d)%s", r.name or "process", r.pid,
                        " — still running after SIGKILL" if r.pid in left else "")
    shutil.rmtree(run_dir, ignore_errors=True)
    return targets


def end_leftovers(state_dir: str | os.PathLike, grace_s: float = DEFAULT_GRACE_S) -> list[Record]:
    """End what earlier runs of ``state_dir`` left running (their core is gone); the groups of a core that
    is still running are left alone (a warning says so). Returns the records of the groups ended."""
    top = Path(state_dir) / RECORDS_DIR
    if not top.is_dir():
        return []
    boot = boot_id()
    ended: list[Record] = []
    for run_dir in sorted(p for p in top.iterdir() if p.is_dir()):
        owner = _read_record(run_dir / "owner.json") if (run_dir / "owner.json").exists() else None
        if owner is not None and owner.pid != os.getpid() and owner.state(boot) == "alive":
            log.warning("%s: the core with pid %d still runs on this state folder; its processes are left "
                        "alone", state_dir, owner.pid)
            continue
        if owner is not None and owner.pid == os.getpid() and owner.state(boot) == "alive":
            continue  # our own (supervise() called twice)
        ended += end_recorded(run_dir, grace_s)
    return ended


# ---------------------------------------------------------------------------------------------- supervision
class Supervision:
    """The records of this core's children and the watchdog that ends them when the core ends.

    Made by :func:`supervise`; :func:`start` records every child, :func:`end_group` forgets it.
    """

    def __init__(self, state_dir: str | os.PathLike, grace_s: float = DEFAULT_GRACE_S) -> None:
        me = proc_info(os.getpid())
        self.boot = boot_id()
        self.owner = Record(os.getpid(), me.start if me is not None else 0, self.boot, "core")
        self.dir = Path(state_dir).absolute() / RECORDS_DIR / str(os.getpid())
        self.log_path = Path(state_dir).absolute() / "logs" / "processes.log"
        self.grace_s = grace_s
        self._records: dict[int, Record] = {}
        self._lock = threading.Lock()
        self._watchdog: Optional[subprocess.Popen] = None
        self._pipe: Optional[int] = None
        self._spawns = 0

    def record(self, pid: int, name: str) -> None:
        info = proc_info(pid)
        if info is not None:
            start = info.start
        else:
            # The leader has already exited and been reaped (the event loop's child watcher reaps at once; a
            # ``sh -c 'x & exit'`` is gone before this runs), but what it left in its group must still be ended
            # with the core. Its members pin the group id; the earliest of their start times is the bound
            # Record.state checks them against.
            if not group_alive(pid):
                return  # nothing of it is left: nothing to end later
            members = group_members(pid)
            if not members:
                return
            start = min(m.start for m in members)
        record = Record(pid, start, self.boot, name)
        with self._lock:
            self._prune()
            self._records[pid] = record
            try:
                self._ensure_dir()
                _write_json(self.dir / f"{pid}.json", asdict(record))
            except OSError as e:
                log.warning("cannot record %s (pid %d) under %s: %s; it is not ended if the core dies",
                            name, pid, self.dir, e)
            self._ensure_watchdog()

    def spawning(self, argv: Sequence[str], prefix: Sequence[str] = ()) -> Optional[Path]:
        """Before a fork: a marker with the child's command line (``prefix``: what runs it first, e.g. ``setpriv``)
        and the time, so that the watchdog finds the child if the core dies before :meth:`record`; None when it
        cannot be written (a warning says so). Remove it with :meth:`spawned`."""
        with self._lock:
            self._spawns += 1
            path = self.dir / f"spawn-{self._spawns}.json"
            doc = {"argv": list(argv), "prefix": list(prefix), "after": _ticks_now() - 1, "boot": self.boot}
            try:
                self._ensure_dir()
                _write_json(path, doc)
            except OSError as e:
                log.warning("cannot write the spawn marker %s: %s", path, e)
                return None
            self._ensure_watchdog()
            return path

    def spawned(self, marker: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()

    def forget(self, pid: int) -> None:
        with self._lock:
            if self._records.pop(pid, None) is not None:
                with contextlib.suppress(FileNotFoundError):
                    (self.dir / f"{pid}.json").unlink()

    def recorded(self) -> list[Record]:
        with self._lock:
            return list(self._records.values())

    @property
    def watchdog_pid(self) -> Optional[int]:
        return self._watchdog.pid if self._watchdog is not None else None

    def close(self, timeout: float = DEFAULT_GRACE_S + KILL_WAIT_S + 2) -> None:
        """Close the pipe: the watchdog ends whatever is still recorded and exits (waited for, bounded).
        Children started later are no longer recorded."""
        global _current
        if _current is self:
            _current = None
        with self._lock:
            pipe, self._pipe = self._pipe, None
            watchdog, self._watchdog = self._watchdog, None
        if pipe is not None:
            os.close(pipe)
        if watchdog is not None:
            try:
                watchdog.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("process watchdog %d did not exit within %.0f s; killing it", watchdog.pid, timeout)
                watchdog.kill()
                watchdog.wait(KILL_WAIT_S)

    # -- internals (under the lock)
    def _prune(self) -> None:
        """Drop the records of groups that ended on their own (a crashed instance, a finished step). Called at
        every start, so without a scan of /proc (tens of ms with a few hundred processes): a group is gone when
        no process has its id, or when its number leads another process now (a recycled pid: Linux hands out no
        pid that is still a group's id). What this keeps, :meth:`Record.state` decides exactly later."""
        gone = [pid for pid, r in self._records.items() if _surely_gone(r)]
        for pid in gone:
            del self._records[pid]
            with contextlib.suppress(FileNotFoundError):
                (self.dir / f"{pid}.json").unlink()

    def _ensure_dir(self) -> None:
        # made lazily and again when removed (``run --clean`` removes the state folder after supervise())
        if not (self.dir / "owner.json").exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            _write_json(self.dir / "owner.json", asdict(self.owner))

    def _ensure_watchdog(self) -> None:
        if self._watchdog is not None and self._watchdog.poll() is None:
            return
        if self._watchdog is not None:
            log.error("the process watchdog (pid %d) exited with %s; starting another", self._watchdog.pid,
                      self._watchdog.returncode)
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        read_end, write_end = os.pipe()  # both non-inheritable: only the watchdog gets the read end, as stdin
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "ab") as out:
                self._watchdog = subprocess.Popen(
                    [sys.executable, "-I", str(Path(__file__).resolve()), "--watch", str(self.dir),
                     str(self.grace_s)],
                    stdin=read_end, stdout=subprocess.DEVNULL, stderr=out, start_new_session=True,
                    env={"PATH": os.environ.get("PATH", os.defpath)})
        except OSError as e:
            os.close(write_end)
            log.error("cannot start the process watchdog: %s; grandchildren may outlive a kill -9 of the core",
                      e)
            return
        finally:
            os.close(read_end)
        self._pipe = write_end


_current: Optional[Supervision] = None


def supervise(state_dir: str | os.PathLike, grace_s: float = DEFAULT_GRACE_S) -> Supervision:
    """Call once, before the core starts anything: ends the leftovers of earlier runs of ``state_dir``
    (:func:`end_leftovers`), then records every child :func:`start` makes from now on, and a watchdog (started
    with the first child) ends them when this process ends, whichever way. Returns the supervision."""
    global _current
    if _current is not None:
        _current.close()
    ended = end_leftovers(state_dir, grace_s)
    if ended:
        log.warning("ended %d process group(s) left by an earlier run of %s", len(ended), state_dir)
    _current = Supervision(state_dir, grace_s)
    return _current


def current() -> Optional[Supervision]:
    """The supervision :func:`supervise` made, if any."""
    return _current


# ---------------------------------------------------------------------------------------------- watchdog
def _watch(run_dir: Path, grace_s: float) -> int:
    """The watchdog: wait for EOF on stdin (the core ended), then end what the core recorded."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s watchdog %(levelname)s: %(message)s")
    try:
        while sys.stdin.buffer.read(65536):
            pass  # the core never writes; reading only waits for its end
    except OSError as e:
        log.warning("reading the core's pipe failed (%s); ending its processes now", e)
    ended = end_recorded(run_dir, grace_s, spawning=True)
    if ended:
        log.info("the core (record folder %s) ended; ended %d process group(s) it left: %s", run_dir,
                 len(ended), ", ".join(f"{r.name} ({r.pid})" for r in ended))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--watch":
        sys.exit(_watch(Path(sys.argv[2]), float(sys.argv[3])))
    print("usage: processes.py --watch <record folder> <grace seconds>", file=sys.stderr)
    sys.exit(2)
