"""greengrass-cli logs, the pure parts: a line's entry, the filter (terms, levels, causes, contexts, time windows),
log groups and their order, the before/after context, what is printed."""
from __future__ import annotations

import datetime as dt
import io
import json
import time
from pathlib import Path

import pytest

from localcore.greengrass_cli import logs
from localcore.greengrass_cli.errors import CliError

NOW = dt.datetime(2026, 12, 7, 12, 0, 0)


def line(**fields) -> str:
    base = {"thread": "main", "level": "INFO", "eventType": "stdout", "message": "hello",
            "contexts": {"serviceName": "com.example.A", "currentState": "RUNNING"},
            "loggerName": "com.example.A", "timestamp": int(NOW.timestamp() * 1000), "cause": None}
    base.update(fields)
    return json.dumps(base)


def test_a_structured_line_a_plain_line_and_a_syslog_line():
    e = logs.parse_line(line(level="WARN"))
    assert e.fields["level"] == "WARN" and e.timestamp == int(NOW.timestamp() * 1000)
    plain = logs.parse_line("just text", now_ms=42)
    assert plain.fields == {"message": "just text"} and plain.timestamp == 42
    s = logs.parse_line("<13>Dec  7 10:11:12 host app (Main): started", syslog=True)
    assert (s.fields["priority"], s.fields["host"], s.fields["logger"], s.fields["class"]) == \
        ("13", "host", "app", "Main")
    assert dt.datetime.fromtimestamp(s.timestamp / 1000).strftime("%m-%d %H:%M:%S") == "12-07 10:11:12"


@pytest.mark.parametrize("expressions, fields, matched", [
    (["level=WARN"], {"level": "ERROR"}, True),
    (["level=WARN"], {"level": "INFO"}, False),
    (["serviceName=com.example.A"], {}, True),                       # a contexts entry
    (["eventType=stdout"], {}, True),                                # a top-level field
    (["eventType=stderr,level=DEBUG"], {}, True),                    # OR within one option
    (["eventType=stderr", "level=DEBUG"], {}, False),                # AND across options
    (["hel+o"], {}, True),                                           # a regular expression on the line
    (["error=any"], {"cause": {"message": "boom"}}, True),
    (["error=boo"], {"cause": {"message": "boom"}}, True),
    (["error=any"], {}, False),
])
def test_filter_expressions(expressions, fields, matched):
    entry = logs.parse_line(line(**fields))
    assert logs.Filter(None, expressions, now=NOW).matches(entry) is matched


def test_filter_records_the_matched_keywords_for_highlighting():
    entry = logs.parse_line(line(level="ERROR", message="disk full"))
    assert logs.Filter(None, ["level=WARN", "disk"], now=NOW).matches(entry)
    assert entry.matched == ["ERROR", "disk"]
    text = logs.render(entry, no_color=False, verbose=False, syslog=False)
    assert logs.HIGHLIGHT + "disk" + logs.RESET in text
    assert "\x1b" not in logs.render(entry, no_color=True, verbose=False, syslog=False)


@pytest.mark.parametrize("window, inside, outside", [
    ("2026-12-07T11:00:00,2026-12-07T13:00:00", NOW, NOW + dt.timedelta(hours=2)),
    ("-2h,-30min", NOW - dt.timedelta(hours=1), NOW - dt.timedelta(minutes=10)),
    ("+1day-25h,", NOW - dt.timedelta(minutes=30), NOW - dt.timedelta(hours=2)),   # one side: now
    ("2026-12-07,13:00:00", NOW, NOW + dt.timedelta(hours=1, seconds=1)),
    ("20261207,2026-12-07T12:00:00001", NOW, NOW + dt.timedelta(seconds=1)),
])
def test_time_windows(window, inside, outside):
    f = logs.Filter([window], None, now=NOW)
    assert f.matches(logs.parse_line(line(timestamp=int(inside.timestamp() * 1000))))
    assert not f.matches(logs.parse_line(line(timestamp=int(outside.timestamp() * 1000))))


@pytest.mark.parametrize("window, error", [
    ("a,b,c", "Time window provided invalid: a,b,c"), (",", "Time window provided invalid: ,"),
    ("yesterday", "Cannot parse: yesterday"),
])
def test_bad_time_windows_say_which(window, error):
    with pytest.raises(CliError, match=error):
        logs.Filter([window], None, now=NOW)


def test_a_bad_filter_term_says_which():
    with pytest.raises(CliError, match="Filter expression provided invalid: a=b=c"):
        logs.Filter(None, ["a=b=c"], now=NOW)


def test_following_stops_when_every_window_has_ended():
    assert logs.Filter(None, None, now=NOW).reached_end_time(NOW)
    f = logs.Filter(["-1h,+1h"], None, now=NOW)
    assert f.reached_end_time(NOW) and not f.reached_end_time(NOW + dt.timedelta(hours=2))


def test_log_groups_read_rotated_files_first():
    err = io.StringIO()
    files = [Path(p) for p in ("/l/greengrass.log", "/l/greengrass_2026_12_07_11_1.log",
                               "/l/greengrass_2026_12_07_10_2.log", "/l/greengrass_2026_12_07_10_1.log",
                               "/l/com.example.A.log", "/l/notes.txt")]
    groups = logs.group_files(files, syslog=False, err=err)
    assert [f.path.name for f in groups["greengrass"]] == [
        "greengrass_2026_12_07_10_1.log", "greengrass_2026_12_07_10_2.log", "greengrass_2026_12_07_11_1.log",
        "greengrass.log"]
    assert groups["greengrass"][-1].current and not groups["greengrass"][0].current
    assert [f.path.name for f in groups["com.example.A"]] == ["com.example.A.log"]
    assert err.getvalue() == "Unable to parse file name: notes.txt\n"


def test_before_and_after_context():
    ctx = logs.Context(logs.Filter(None, ["MATCH"], now=NOW), before=1, after=1)
    out = []
    for text in ("a", "b", "MATCH 1", "c", "d", "e", "MATCH 2", "f"):
        out += [e.line for e in ctx.feed(logs.parse_line(text))]
    assert out == ["b", "MATCH 1", "c", "e", "MATCH 2", "f"]


def test_what_is_printed():
    entry = logs.parse_line(line(loggerName="com.aws.greengrass.lifecyclemanager.GenericExternalService",
                                 timestamp=1765108800123))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(1765108800.123))
    assert logs.render(entry, True, False, False) == (
        f"{stamp} [INFO] lifecyclemanager.GenericExternalService: stdout. hello. "
        "{serviceName=com.example.A, currentState=RUNNING}")
    assert logs.render(entry, True, True, False) == (
        "2025-12-07T12:00:00.123Z [INFO] (main) com.aws.greengrass.lifecyclemanager.GenericExternalService: "
        "stdout. hello. {serviceName=com.example.A, currentState=RUNNING}")
    failed = logs.parse_line(line(cause={"message": "boom"}, contexts=None))
    assert logs.render(failed, True, False, False).endswith(f" [INFO] example.A: stdout. hello\n{logs.HIGHLIGHT}"
                                                            f"EXCEPTION: boom{logs.RESET}")
    assert logs.render(logs.parse_line("raw output"), True, False, False) == "raw output"   # printed as it is
