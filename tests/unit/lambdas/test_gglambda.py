"""The shared Lambda library ``lambdas/_lib/gglambda``, imported as the runtime puts it on sys.path.

The stream helpers against the project's stream manager: tests/functional/lambdas/test_gglambda_streams.py.
"""
import threading

import pytest

from gglambda import env, lifecycle, publish


# env --------------------------------------------------------------------------------------------


def test_text_and_choice():
    assert env.text({"A": "  x "}, "A", "d") == "x"
    assert env.text({"A": "   "}, "A", "d") == "d" and env.text({}, "A", "d") == "d"
    assert env.choice({"M": "memory"}, "M", "File", ("File", "Memory")) == "Memory"
    assert env.choice({}, "M", "File", ("File", "Memory")) == "File"
    with pytest.raises(env.ConfigError, match="M must be one of File, Memory, got 'disk'"):
        env.choice({"M": "disk"}, "M", "File", ("File", "Memory"))


def test_integer_bounds_and_messages_name_the_variable():
    assert env.integer({}, "N", 7, 1) == 7
    assert env.integer({"N": " 12 "}, "N", 7, 1, 100) == 12
    assert env.integer({"N": "-5"}, "N", 7) == -5
    for raw, message in (("x", "N must be an integer, got 'x'"), ("1.5", "N must be an integer, got '1.5'"),
                         ("0", "N must be >= 1, got 0")):
        with pytest.raises(env.ConfigError, match=message.replace(".", r"\.")):
            env.integer({"N": raw}, "N", 7, 1)
    with pytest.raises(env.ConfigError, match=r"N must be in 0\.\.59000, got 60000"):
        env.integer({"N": "60000"}, "N", 7, 0, 59000)
    with pytest.raises(env.ConfigError, match="N must be <= 3, got 4"):
        env.integer({"N": "4"}, "N", 1, None, 3)
    assert issubclass(env.ConfigError, ValueError)


def test_number_parses_its_kind_and_quotes_the_text_given():
    assert env.number({"F": "0.25"}, "F", 1.0, float, 0.0) == 0.25
    assert env.number({}, "F", 1.0, float, 0.0) == 1.0
    assert env.number({"I": "42"}, "I", 1, int, 1) == 42 and isinstance(env.number({"I": "42"}, "I", 1, int), int)
    assert env.number({"F": "-1e9"}, "F", 0.0) == -1e9  # no bound given: none applies
    with pytest.raises(env.ConfigError, match="F must be a float number, got 'fast'"):
        env.number({"F": "fast"}, "F", 1.0, float)
    with pytest.raises(env.ConfigError, match="I must be a int number, got '2.5'"):
        env.number({"I": "2.5"}, "I", 1, int)
    with pytest.raises(env.ConfigError, match="I must be >= 1, got '0'"):
        env.number({"I": "0"}, "I", 1, int, 1)
    with pytest.raises(env.ConfigError, match=r"I must be in 0\.\.59000, got '60000'"):
        env.number({"I": "60000"}, "I", 1, int, 0, 59000)


def test_number_what_names_the_expected_kind_in_the_parse_error_only():
    with pytest.raises(env.ConfigError, match="^I must be an integer, got 'many'$"):
        env.number({"I": "many"}, "I", 1, int, 1, 10, what="an integer")
    with pytest.raises(env.ConfigError, match=r"^I must be in 1\.\.10, got '0'$"):
        env.number({"I": "0"}, "I", 1, int, 1, 10, what="an integer")
    with pytest.raises(env.ConfigError, match="^F must be a number, got 'soon'$"):
        env.number({"F": "soon"}, "F", 1.0, float, what="a number")


# lifecycle --------------------------------------------------------------------------------------


class Ticker(lifecycle.Worker):
    """A worker that counts until stopped, waiting on its stop event."""

    def __init__(self):
        super(Ticker, self).__init__("ticker")
        self.ticks = 0
        self.ticked = threading.Event()

    def status(self):
        return {"running": self.running, "ticks": self.ticks}

    def _run(self):
        while not self._stop.wait(0.001):
            self.ticks += 1
            self.ticked.set()


def test_worker_runs_a_named_daemon_thread_until_stopped():
    worker = Ticker()
    assert worker.status() == {"running": False, "ticks": 0}
    worker.start()
    worker.start()  # a second start does nothing
    assert worker.ticked.wait(5)
    names = [t for t in threading.enumerate() if t.name == "ticker"]
    assert len(names) == 1 and names[0].daemon
    worker.stop()
    assert worker.running is False and names[0].is_alive() is False


def test_start_once_builds_and_starts_one_worker_for_concurrent_first_calls():
    built = []

    def build():
        built.append(Ticker())
        return built[-1]

    main = lifecycle.start_once(build)
    handler = lifecycle.status_handler(main)
    assert built == []  # nothing happens before the first call
    results = []
    callers = [threading.Thread(target=lambda: results.append(main())) for _ in range(8)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(5)
    try:
        assert len(built) == 1 and all(r is built[0] for r in results) and len(results) == 8
        assert built[0].ticked.wait(5)
        status = handler({"any": "event"}, None)
        assert status["running"] is True and status["ticks"] >= 1
    finally:
        built[0].stop()


def test_start_once_lets_a_config_error_through_and_tries_again():
    attempts = []

    def build():
        attempts.append(1)
        if len(attempts) == 1:
            raise env.ConfigError("X must be an integer, got 'y'")
        return Ticker()

    main = lifecycle.start_once(build)
    with pytest.raises(env.ConfigError, match="X must be an integer"):
        main()
    worker = main()
    try:
        assert worker is main() and len(attempts) == 2 and worker.ticked.wait(5)
    finally:
        worker.stop()


def test_created_once_is_lazy_and_shared():
    made = []
    get = lifecycle.created_once(lambda: made.append(object()) or made[-1])
    assert made == []
    first = get()
    assert get() is first and made == [first]


def test_next_due_keeps_the_rate_and_does_not_burst_after_a_stall():
    assert lifecycle.next_due(10.0, 10.2, 1.0) == 11.0
    assert lifecycle.next_due(10.0, 11.5, 1.0) == 11.0  # less than one interval behind: catch up
    assert lifecycle.next_due(10.0, 13.0, 1.0) == 13.0  # far behind: restart from now


def test_publish_errors_outside_a_core():
    # greengrasssdk.Lambda needs the core's greengrass_common: outside one only ValueError remains
    assert publish.publish_errors() == (ValueError,)


def test_worker_records_the_last_error_it_is_given():
    worker = Ticker()
    assert worker._last_error is None
    worker._failed("OSError: down")
    assert worker._last_error == "OSError: down"


def test_number_with_only_a_maximum():
    with pytest.raises(env.ConfigError, match="F must be <= 2.5, got '3'"):
        env.number({"F": "3"}, "F", 1.0, float, None, 2.5)
