"""greengrass-cli logs (the real client module, as a subprocess) on log files: get over a folder (groups merged by
time, rotated files first, filters), list-log-files, list-keywords, --follow of a growing file, and the errors."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

BASE_MS = 1765108800000


def structured(ms: int, message: str, level: str = "INFO", service: str = "com.example.A") -> str:
    return json.dumps({"thread": "t", "level": level, "eventType": "stdout", "message": message,
                       "contexts": {"serviceName": service}, "loggerName": service, "timestamp": ms,
                       "cause": None}) + "\n"


async def cli(*argv: str, timeout: float = 30.0) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "localcore.greengrass_cli", *argv,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


def message_of(printed: str) -> str:
    return printed.split(": stdout. ", 1)[1].split(". {", 1)[0]


async def test_get_merges_the_groups_by_time_and_filters(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "greengrass_2025_12_07_11_1.log").write_text(structured(BASE_MS + 1, "rotated", service="gg"))
    (folder / "greengrass.log").write_text(structured(BASE_MS + 4, "current", level="WARN", service="gg"))
    (folder / "com.example.A.log").write_text(structured(BASE_MS + 2, "a-two") + "\n" +
                                               structured(BASE_MS + 3, "a-three", level="ERROR"))
    (folder / "readme.txt").write_text("not a log\n")
    code, out, err = await cli("logs", "get", "-ld", str(folder), "-nc")
    assert code == 0 and err == "", err
    assert [message_of(x) for x in out.splitlines()] == ["rotated", "a-two", "a-three", "current"]
    code, out, err = await cli("logs", "get", "-ld", str(folder), "-nc", "-f", "level=WARN")
    assert [message_of(x) for x in out.splitlines()] == ["a-three", "current"]
    code, out, err = await cli("logs", "get", "-lf", str(folder / "com.example.A.log"), "-f", "a-two", "-a", "1")
    assert [message_of(x) for x in out.splitlines()] == ["\x1b[31m\x1b[1ma-two\x1b[0m\x1b[0m", "a-three"]
    code, out, err = await cli("logs", "list-log-files", "-ld", str(folder))
    assert out.splitlines() == [str(folder / n) for n in ("com.example.A.log", "greengrass.log",
                                                          "greengrass_2025_12_07_11_1.log")] + ["Total 3 files found."]
    code, out, _ = await cli("logs", "list-log-files", "-ld", str(tmp_path))
    assert out == "No log file found.\n"


async def test_get_says_what_input_it_needs(tmp_path):
    code, _, err = await cli("logs", "get")
    assert code == 1 and "No valid log input. Please provide a log file or directory." in err
    code, _, err = await cli("logs", "get", "-ld", str(tmp_path))
    assert code == 1 and "Log directory provided contains no valid log files." in err
    code, _, err = await cli("logs", "get", "-lf", str(tmp_path / "gone.log"))
    assert code == 0 and f"Cannot find file: {tmp_path / 'gone.log'}" in err
    code, _, err = await cli("logs", "get", "-lf", str(tmp_path / "gone.log"), "-t", "soon")
    assert code == 1 and "Cannot parse: soon" in err
    code, out, _ = await cli("logs", "list-keywords", "--syslog")
    assert out.splitlines()[0] == "Suggested keywords for syslog format:"


async def test_follow_prints_what_is_appended_until_interrupted(tmp_path):
    log = tmp_path / "com.example.B.log"
    log.write_text("started\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "localcore.greengrass_cli", "logs", "get", "-lf", str(log), "--follow", "-nc",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        assert await asyncio.wait_for(proc.stdout.readline(), 20) == b"started\n"
        with log.open("a") as f:
            f.write("half a ")
            f.flush()
            f.write("line\n")
            f.write(structured(BASE_MS, "structured", service="com.example.B"))
        assert await asyncio.wait_for(proc.stdout.readline(), 20) == b"half a line\n"
        assert message_of((await asyncio.wait_for(proc.stdout.readline(), 20)).decode()) == "structured"
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 20)
        assert proc.returncode == 130
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
