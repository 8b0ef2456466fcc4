"""``greengrass-cli logs get|list-log-files|list-keywords``: the core's log files read on this machine (no IPC).

Follows aws-greengrass/aws-greengrass-cli ``commands/Logs.java`` and ``util/logs/`` (``LogEntry``, ``LogFile``,
``FileReader``, ``impl/FilterImpl``, ``impl/AggregationImpl``, ``impl/VisualizationImpl``):

* input: ``-lf/--log-file`` and ``-ld/--log-dir`` (repeatable; ``~/`` expanded); every file of a folder whose name
  contains ``log``; files are grouped by name (``<name>.log`` is the current file of group ``<name>``,
  ``<name>_yyyy_MM_dd_HH_<index>.log`` its rotated ones, read first in time and index order); a name that fits
  neither is skipped with ``Unable to parse file name: <name>``. Nothing given: ``No valid log input. Please provide
  a log file or directory.``; folders with no log file: ``Log directory provided contains no valid log files.``
* a line is a Greengrass structured (JSON) log message — its ``timestamp`` (epoch ms), ``level``, ``contexts``,
  ``cause`` — or, when it is not JSON, a message whose time is when it was read;
* ``-f/--filter`` (repeatable; the options are AND-ed, the comma-separated terms of one are OR-ed): ``key=value``
  (a top-level field or a ``contexts`` entry), ``level=LEVEL`` (that level or above), ``error=TEXT`` (``any``: any
  cause), or a regular expression searched in the line; ``-t/--time-window`` (repeatable) ``begin,end``, each an
  exact time (``2020-12-01T10:00:00``, ``2020-12-01``, ``10:00:00`` today…) or an offset from now (``-2h``,
  ``+1day-30min``), one side left out meaning now; ``-b/--before`` and ``-a/--after`` lines of context;
  ``-fol/--follow`` keeps reading the current files (until every time window has ended, or Ctrl-C);
  ``-s/--syslog`` reads RFC 3164 lines (default files ``/var/log/system.log``, ``/var/log/syslog``,
  ``/var/log/messages``);
* output, oldest first: ``yyyy-MM-dd HH:mm:ss z [LEVEL] <logger's last two parts>: eventType. message. {contexts}``
  (``-v/--verbose``: the whole text message with the thread and the ISO instant), matched keywords in bold red
  unless ``-nc/--no-color``.

Difference: the local core writes each component's output to its log file as it is (a nucleus writes structured
lines), so a line that is not a Greengrass log message is printed as it is; the real client answers it with
``Unable to parse log message:`` on stderr.
"""
from __future__ import annotations

import datetime as _dt
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, TextIO, Tuple

from .errors import CliError

HIGHLIGHT, RESET = "\x1b[31m\x1b[1m", "\x1b[0m\x1b[0m"
LEVELS = {"TRACE": 0, "DEBUG": 10, "INFO": 20, "WARN": 30, "ERROR": 40}      # org.slf4j.event.Level
STRUCTURED_FIELDS = {"thread", "level", "eventType", "message", "contexts", "loggerName", "timestamp", "cause"}
SYSLOG_DEFAULTS = ("/var/log/system.log", "/var/log/syslog", "/var/log/messages")
BY_HOUR = re.compile(r"([a-zA-Z0-9-_.]+)(_([0-9]{4}_[0-9]{2}_[0-9]{2}_[0-9]{2})_([0-9]+))\.log$")
CURRENT = re.compile(r"([a-zA-Z0-9-_.]+)\.log$")
SYSLOG = re.compile(r"(<([0-9]+)>)?([a-zA-z]{3}\s[0-9\s][0-9]\s[0-9]{2}:[0-9]{2}:[0-9]{2})"
                    r"((\s([\S]+))?(\s([\S]+))?(\s\(([\S]+)\))?:\s)?(.+)")
OFFSET = re.compile("^" + "".join(rf"(?:([+\-]?[0-9]+)(?:{u})s?)?"
                                  for u in ("d|day", "h|hr|hour", "m|min|minute", "s|sec|second")) + "$")
FOLLOW_POLL_S = 0.1          # FileReader's wait for a growing file
KEYWORDS = ("Suggested keywords for Greengrass log format:\nlevel=$str\nthread=$str\nloggerName=$str\n"
            "eventType=$str\nserviceName=$str\nerror=$str")
SYSLOG_KEYWORDS = "Suggested keywords for syslog format:\npriority=$int\nhost=$str\nlogger=$str\nclass=$str"


# ------------------------------------------------------------------------------ entries
@dataclass
class Entry:
    line: str
    fields: Dict[str, Any]
    timestamp: int                       # epoch ms
    matched: List[str] = field(default_factory=list)


def parse_line(line: str, syslog: bool = False, now_ms: Optional[int] = None) -> Entry:
    """``LogEntry``: a JSON log message, a syslog line, or a plain line (its time: ``now_ms``)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if syslog:
        m = SYSLOG.search(line)
        if m is None:
            sys.stderr.write(f"Unable to parse syslog: {line}\n")
            return Entry(line, {}, 0)
        when = _dt.datetime.strptime(f"{_dt.date.today().year} {m.group(3).replace('  ', ' 0')}", "%Y %b %d %H:%M:%S")
        ts = int(when.timestamp() * 1000)
        return Entry(line, {"priority": m.group(2), "host": m.group(6), "logger": m.group(8),
                            "class": m.group(10), "timestamp": ts}, ts)
    try:
        doc = json.loads(line)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return Entry(line, {"message": line}, now_ms)
    try:
        ts = int(doc.get("timestamp"))
    except (TypeError, ValueError):
        ts = now_ms
    return Entry(line, doc, ts)


# ------------------------------------------------------------------------------ filter
@dataclass
class Term:
    pairs: Dict[str, set]
    regexes: List[re.Pattern]
    level: Optional[str]
    cause: Optional[str]


def _java_split(text: str, sep: str = ",") -> List[str]:
    """``String.split``: trailing empty strings dropped."""
    parts = text.split(sep)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def parse_time(text: str, now: _dt.datetime) -> _dt.datetime:
    """``FilterImpl.composeTimeFromString``: an offset from ``now`` or an exact local time."""
    m = OFFSET.match(text)
    if m:
        days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
        return now + _dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\d{3})", text)        # yyyy-MM-dd'T'HH:mm:ssSSS
    if m:
        return _dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(microsecond=int(m.group(2)) * 1000)
    if "T" in text:
        try:
            if text.endswith("Z"):                                                    # an instant
                return _dt.datetime.fromisoformat(text[:-1] + "+00:00").astimezone().replace(tzinfo=None)
            value = _dt.datetime.fromisoformat(text)                                  # ISO local date-time
            if value.tzinfo is None:
                return value
        except ValueError:
            pass
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return _dt.datetime.strptime(text, fmt)
        except ValueError:
            pass
    for fmt in ("%H:%M:%S.%f", "%H:%M:%S", "%H:%M"):
        try:
            return _dt.datetime.combine(now.date(), _dt.datetime.strptime(text, fmt).time())
        except ValueError:
            pass
    m = re.fullmatch(r"(\d\d:\d\d:\d\d)(\d{3})", text)                                 # HH:mm:ssSSS
    if m:
        t = _dt.datetime.strptime(m.group(1), "%H:%M:%S").time().replace(microsecond=int(m.group(2)) * 1000)
        return _dt.datetime.combine(now.date(), t)
    raise CliError(f"Cannot parse: {text}")


class Filter:
    """``FilterImpl``: time windows and filter expressions."""

    def __init__(self, windows: Optional[Sequence[str]] = None, expressions: Optional[Sequence[str]] = None,
                 now: Optional[_dt.datetime] = None) -> None:
        now = now or _dt.datetime.now()
        self.windows: Dict[_dt.datetime, _dt.datetime] = {}
        for window in windows or ():
            parts = _java_split(window)
            if len(parts) > 2 or not parts or window == ",":
                raise CliError(f"Time window provided invalid: {window}")
            begin = now if parts[0] == "" else parse_time(parts[0], now)
            end = now if len(parts) == 1 else parse_time(parts[1], now)
            if begin not in self.windows or self.windows[begin] < end:
                self.windows[begin] = end
        self.terms: List[Term] = []
        for expression in expressions or ():
            term = Term({}, [], None, None)
            for element in _java_split(expression):
                if "=" not in element:
                    try:
                        term.regexes.append(re.compile(element))
                    except re.error as e:
                        raise CliError(f"Filter expression provided invalid: {element} ({e})") from None
                    continue
                pair = _java_split(element, "=")
                if len(pair) != 2:
                    raise CliError(f"Filter expression provided invalid: {element}")
                key, value = pair
                if key == "level":
                    if value in LEVELS:
                        if term.level is None or LEVELS[value] < LEVELS[term.level]:
                            term.level = value
                        continue
                    sys.stderr.write(f"Invalid log level: {value}\n")
                if key == "error":
                    term.cause = value
                term.pairs.setdefault(key, set()).add(value)
            self.terms.append(term)

    def reached_end_time(self, now: Optional[_dt.datetime] = None) -> bool:
        """True while some time window has not ended (or none was given): following goes on."""
        now = now or _dt.datetime.now()
        return not self.windows or any(end > now for end in self.windows.values())

    def matches(self, entry: Entry) -> bool:
        return self._in_window(entry.timestamp) and all(self._term(t, entry) for t in self.terms)

    def _in_window(self, ts: int) -> bool:
        if not self.windows:
            return True
        when = _dt.datetime.fromtimestamp(ts / 1000.0)
        return any(begin < when < end for begin, end in self.windows.items())

    @staticmethod
    def _term(term: Term, entry: Entry) -> bool:
        fields = entry.fields
        level = fields.get("level")
        if term.level is not None and isinstance(level, str) and level in LEVELS \
                and LEVELS[level] >= LEVELS[term.level]:
            entry.matched.append(level)
            return True
        cause = fields.get("cause")
        if term.cause is not None and cause is not None:
            if term.cause in _text(cause):
                entry.matched.append(term.cause)
                return True
            if term.cause == "any":
                return True
        contexts = fields.get("contexts") if isinstance(fields.get("contexts"), dict) else {}
        for key, values in term.pairs.items():
            for value in values:
                if (key in fields and _text(fields[key]) == value) or (key in contexts and contexts[key] == value):
                    entry.matched.append(value)
                    return True
        for regex in term.regexes:
            m = regex.search(entry.line)
            if m:
                entry.matched.append(m.group())
                return True
        return False


def _text(value: Any) -> str:
    """Java's ``toString`` of a JSON value (maps as ``{k=v, …}``)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ------------------------------------------------------------------------------ files
@dataclass(frozen=True)
class LogFile:
    path: Path
    hour: Optional[_dt.datetime]        # None: the current file (the one that grows)
    index: int

    @property
    def current(self) -> bool:
        return self.hour is None

    def key(self) -> Tuple[_dt.datetime, int]:
        return (self.hour or _dt.datetime.max, self.index)


def list_logs(folders: Optional[Iterable[Path]], err: TextIO) -> List[Path]:
    """``AggregationImpl.listLog``: the files of ``folders`` whose name contains ``log``."""
    found = set()
    for folder in folders or ():
        try:
            children = list(Path(folder).iterdir())
        except OSError:
            err.write(f"Log dir provided invalid: {folder}\n")
            continue
        found.update(p for p in children if "log" in p.name and not p.is_dir())
    return sorted(found)


def group_files(files: Iterable[Path], syslog: bool, err: TextIO) -> Dict[str, List[LogFile]]:
    """``parseLogGroup``: files by log group, each group oldest first."""
    groups: Dict[str, List[LogFile]] = {}
    for path in files:
        if syslog:
            groups.setdefault("syslog", []).append(LogFile(path, None, 0))
            continue
        m = BY_HOUR.match(path.name)
        if m:
            try:
                hour = _dt.datetime.strptime(m.group(3), "%Y_%m_%d_%H")
            except ValueError:
                err.write(f"Unable to parse timestamp from file name: {path.name}\n")
                continue
            groups.setdefault(m.group(1), []).append(LogFile(path, hour, int(m.group(4))))
            continue
        m = CURRENT.match(path.name)
        if not m:
            err.write(f"Unable to parse file name: {path.name}\n")
            continue
        groups.setdefault(m.group(1), []).append(LogFile(path, None, sys.maxsize))
    if not syslog:
        for members in groups.values():
            members.sort(key=LogFile.key)
    return groups


class Context:
    """``FileReader``'s before/after context over one log group."""

    def __init__(self, filt: Filter, before: int, after: int) -> None:
        self.filter, self.before, self.after = filt, before, after
        self._held: List[Entry] = []
        self._after_left = 0

    def feed(self, entry: Entry) -> List[Entry]:
        if self.filter.matches(entry):
            self._after_left = self.after
            out, self._held = self._held + [entry], []
            return out
        if self._after_left > 0:
            self._after_left -= 1
            return [entry]
        self._held.append(entry)
        if len(self._held) > self.before:
            self._held.pop(0)
        return []


# ------------------------------------------------------------------------------ output
def render(entry: Entry, no_color: bool, verbose: bool, syslog: bool) -> str:
    """``VisualizationImpl.visualize``."""
    if syslog:
        text = entry.line
    else:
        doc = entry.fields if _structured(entry) else None
        if doc is None:
            text = entry.line
        else:
            text = _verbose(doc) if verbose else _abbreviated(doc)
    if no_color:
        return text
    for key in entry.matched:
        text = text.replace(key, HIGHLIGHT + key + RESET)
    return text


def _structured(entry: Entry) -> bool:
    """Whether the line reads as a GreengrassLogMessage (JSON with only its fields)."""
    return entry.line.lstrip().startswith("{") and set(entry.fields) <= STRUCTURED_FIELDS and "message" in entry.fields


def _formatted(doc: Dict[str, Any]) -> str:
    parts = [doc.get("eventType"), doc.get("message"), doc.get("contexts")]
    return ". ".join(s for s in (_text(p) for p in parts if p is not None) if s)


def _abbreviated(doc: Dict[str, Any]) -> str:
    ts = _timestamp(doc)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ts / 1000.0))
    logger = str(doc.get("loggerName") or "")
    parts = logger.split(".")
    short = logger if len(parts) < 2 else f"{parts[-2]}.{parts[-1]}"
    text = f"{stamp} [{doc.get('level')}] {short}: {_formatted(doc)}"
    cause = doc.get("cause")
    if cause is None:
        return text
    message = cause.get("message") if isinstance(cause, dict) else cause
    return f"{text}\n{HIGHLIGHT}EXCEPTION: {_text(message)}{RESET}"


def _verbose(doc: Dict[str, Any]) -> str:
    ts = _timestamp(doc)
    when = _dt.datetime.fromtimestamp(ts / 1000.0, _dt.timezone.utc)
    frac = f".{ts % 1000:03d}" if ts % 1000 else ""
    instant = when.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"
    text = f"{instant} [{doc.get('level')}] ({doc.get('thread')}) {doc.get('loggerName')}: {_formatted(doc)}"
    cause = doc.get("cause")
    if cause is not None:
        text += "\n" + _text(cause.get("message") if isinstance(cause, dict) else cause)
    return text


def _timestamp(doc: Dict[str, Any]) -> int:
    try:
        return int(doc.get("timestamp") or 0)
    except (TypeError, ValueError):
        return 0


# ------------------------------------------------------------------------------ commands
def _paths(values: Optional[Sequence[str]]) -> Optional[List[Path]]:
    """``deTildeArray``."""
    if values is None:
        return None
    return [Path(v).expanduser().absolute() for v in values]


def get(args: Any, out: TextIO, err: TextIO = sys.stderr) -> int:
    syslog = bool(args.syslog)
    if syslog and args.verbose:
        err.write("Syslog does not support verbosity!\n")
    files, folders = _paths(args.log_file), _paths(args.log_dir)
    if syslog:
        if folders:
            err.write("Syslog does not support directory input!\n")
            folders = None
        if not files:
            files = [Path(p) for p in SYSLOG_DEFAULTS]
    if not files and not folders:
        raise CliError("No valid log input. Please provide a log file or directory.")
    filt = Filter(args.time_window, args.filter)
    found = set(list_logs(folders, err)) | set(files or ())
    if not found and folders:
        raise CliError("Log directory provided contains no valid log files.")
    groups = group_files(sorted(found), syslog, err)
    entries: List[Entry] = []
    followed: List[Tuple[Any, Context, List[str]]] = []
    for members in groups.values():
        context = Context(filt, args.before, args.after)
        for log_file in members:
            try:
                f = open(log_file.path, encoding="utf-8", errors="replace")
            except FileNotFoundError:
                err.write(f"Cannot find file: {log_file.path}\n")
                continue
            except OSError as e:
                err.write(f"{log_file.path}readLine() failed.\n{e}\n")
                continue
            keep_open = args.follow and log_file.current
            try:
                pending = ""
                for raw in f:
                    if not raw.endswith("\n") and keep_open:
                        pending = raw               # a line still being written
                        break
                    line = raw.rstrip("\r\n")
                    if line.strip():
                        entries.extend(context.feed(parse_line(line, syslog)))
            finally:
                if keep_open:
                    followed.append((f, context, [pending]))
                else:
                    f.close()
    for entry in sorted(entries, key=lambda e: e.timestamp):
        out.write(render(entry, args.no_color, args.verbose, syslog) + "\n")
    out.flush()
    if followed:
        try:
            _follow(followed, filt, args, syslog, out)
        except KeyboardInterrupt:
            return 130
        finally:
            for f, _, _ in followed:
                f.close()
    return 0


def _follow(followed: List[Tuple[Any, Context, List[str]]], filt: Filter, args: Any, syslog: bool,
            out: TextIO) -> None:
    """Keep reading the current files as they grow, until every time window has ended."""
    while filt.reached_end_time():
        got = False
        for f, context, pending in followed:
            while True:
                raw = f.readline()
                if not raw:
                    break
                if not raw.endswith("\n"):
                    pending[0] += raw
                    break
                line = (pending[0] + raw).rstrip("\r\n")
                pending[0] = ""
                if line.strip():
                    for entry in context.feed(parse_line(line, syslog)):
                        out.write(render(entry, args.no_color, args.verbose, syslog) + "\n")
                        got = True
        if got:
            out.flush()
        else:
            time.sleep(FOLLOW_POLL_S)


def list_log_files(args: Any, out: TextIO, err: TextIO = sys.stderr) -> int:
    found = list_logs([Path(d) for d in args.log_dir], err)
    if not found:
        out.write("No log file found.\n")
        return 0
    for path in found:
        out.write(f"{path}\n")
    out.write(f"Total {len(found)} files found.\n")
    return 0


def list_keywords(args: Any, out: TextIO) -> int:
    out.write((SYSLOG_KEYWORDS if args.syslog else KEYWORDS) + "\n")
    return 0


def run(args: Any, out: TextIO) -> int:
    if args.action == "get":
        return get(args, out)
    if args.action == "list-log-files":
        return list_log_files(args, out)
    return list_keywords(args, out)


def add_parser(sub: Any) -> None:
    logs = sub.add_parser("logs", help="Analyze Greengrass logs.")
    lsub = logs.add_subparsers(dest="action", required=True, metavar="ACTION")
    g = lsub.add_parser("get", help="Aggregate, filter, and visualize logs.")
    g.add_argument("-lf", "--log-file", dest="log_file", action="append", help="The path to a log file.")
    g.add_argument("-ld", "--log-dir", dest="log_dir", action="append",
                   help="The path to the directory to check for log files (the core's: <root>/logs).")
    g.add_argument("-t", "--time-window", dest="time_window", action="append",
                   help="The time window for which to show log information: begin,end.")
    g.add_argument("-f", "--filter", action="append",
                   help="The keyword, regular expression, or key-value pair to use as a filter.")
    g.add_argument("-b", "--before", type=int, default=0,
                   help="The number of lines to show preceding a matched log entry. Default is 0.")
    g.add_argument("-a", "--after", type=int, default=0,
                   help="The number of lines to show following a matched log entry. Default is 0.")
    g.add_argument("-m", "--max-log-queue-size", dest="max_log_queue_size", type=int, default=100,
                   help="The maximum number of log entries to allocate to memory. Default is 100.")
    g.add_argument("-fol", "--follow", action="store_true", help="Show log updates as they occur.")
    g.add_argument("-nc", "--no-color", dest="no_color", action="store_true", help="Remove output color coding.")
    g.add_argument("-v", "--verbose", action="store_true", help="Show all fields from the log messages.")
    g.add_argument("-s", "--syslog", action="store_true", help="Process all log files using the syslog format.")
    ls = lsub.add_parser("list-log-files", help="List log files from specified directories.")
    ls.add_argument("-ld", "--log-dir", dest="log_dir", action="append", required=True,
                    help="The path to the directory to check for log files.")
    kw = lsub.add_parser("list-keywords", help="List suggested keywords to filter logs.")
    kw.add_argument("-s", "--syslog", action="store_true", help="Syslog keywords.")
