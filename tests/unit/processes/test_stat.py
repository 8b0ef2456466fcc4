"""The pure parts of localcore.processes: /proc/<pid>/stat parsing and which records name nothing."""
from localcore.processes import ProcInfo, Record, _parse_stat

# field 2 (comm) may hold spaces and parentheses; the fields that count follow its last ')'
STAT = ("4242 (python (x) y) S 17 4242 4242 0 -1 4194560 1051 0 0 0 3 1 0 0 20 0 1 0 987654 "
        "12345678 2345 18446744073709551615 1 1 0 0 0 0 0 16781312 17666 0 0 0 17 1 0 0 0 0 0")


def test_stat_fields_after_a_command_name_with_parentheses_and_spaces():
    assert _parse_stat(4242, STAT) == ProcInfo(pid=4242, state="S", ppid=17, pgid=4242, sid=4242, start=987654)


def test_a_zombie_and_a_truncated_line():
    assert _parse_stat(7, "7 (sh) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0").state == "Z"
    assert _parse_stat(7, "7 (sh) S 1 7") is None
    assert _parse_stat(7, "") is None


def test_a_record_of_another_boot_names_nothing():
    # start times count from boot: after a reboot the same pid and start time are another process
    record = Record(pid=1, start=0, boot="another-boot", name="x")
    assert record.state("this-boot", groups={}) == "gone"
