"""The benchmarks' platform setup: what v2 measures is the converter's policy and the V2 reader's routes."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))

import platforms  # noqa: E402


def _router():
    spec = importlib.util.spec_from_file_location("bench_router", BENCH / "router.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_router_v2_is_the_auth_policy_and_the_readers_routes(tmp_path):
    router = _router()
    routes, policy, things = router.bench_group(tmp_path, "v2")
    triples = {(r.source, r.target, r.topic_filter) for r in routes}
    for p, t in zip(router.PUBLISHERS, router.TOPICS):
        assert (f"device:{p}", "device:Sub", t) in triples
    # the seed's own device → device route is still there
    assert ("device:HelloWorld_Publisher", "device:HelloWorld_Subscriber", "hello/world/pubsub") in triples
    assert policy.can_connect("Pub0", "Pub0") and not policy.can_connect("Pub0", "Pub1")
    assert policy.can_publish("Pub0", "bench/Pub0") and not policy.can_publish("Pub0", "bench/Pub1")
    assert policy.can_subscribe("Sub", "bench/Pub9") and not policy.can_subscribe("Sub", "bench/#")
    assert {"Sub", *router.PUBLISHERS} <= set(things)


def test_router_v1_is_the_subscription_table_without_policy(tmp_path):
    router = _router()
    routes, policy, _ = router.bench_group(tmp_path, "v1")
    assert policy is None
    triples = {(r.source, r.target, r.topic_filter) for r in routes}
    assert ("device:Pub3", "device:Sub", "bench/Pub3") in triples


def test_goal_text_says_by_how_much():
    assert platforms.goal_text([0.95, 1.2]).startswith("met")
    assert "15 % below" in platforms.goal_text([0.85, 1.0])
    assert platforms.goal_text([1.05], higher_is_better=False).startswith("met")
    assert "20 % slower" in platforms.goal_text([1.2], higher_is_better=False)
    assert platforms.platforms_of("both") == ["v1", "v2"]


def _invoke():
    spec = importlib.util.spec_from_file_location("bench_invoke", BENCH / "invoke.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_invoke_v2_runs_the_unzipped_package_with_the_recipes_pool(tmp_path):
    specs = _invoke().echo_specs(tmp_path, 3)
    v1, v2 = specs["v1"], specs["v2"]
    assert Path(v1["pinned"].code_dir) == BENCH / "echo"
    for kind in ("pinned", "on_demand"):
        code = Path(v2[kind].code_dir)
        assert code.is_relative_to(tmp_path / "packages")
        assert (code / "handler.py").read_bytes() == (BENCH / "echo" / "handler.py").read_bytes()
        assert (code / "greengrasssdk" / "__init__.py").is_file()  # the package carries the SDK
        assert v2[kind].libraries == ()
    assert v1["pinned"].pinned and v2["pinned"].pinned
    assert not v2["on_demand"].pinned and v2["on_demand"].max_instances == v1["on_demand"].max_instances == 3


def _stream_bench():
    spec = importlib.util.spec_from_file_location("bench_stream_manager", BENCH / "stream_manager.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_stream_manager_v2_server_takes_only_the_components_svcuid(tmp_path, caplog):
    import pytest

    sm = _stream_bench()
    proc, port, token = sm.start([sys.executable, str(BENCH / "stream_manager.py"), "--serve", "v2",
                                  str(tmp_path)])
    try:
        assert token
        client = sm._client("v2", port, token)  # PyPI stream_manager with the SVCUID
        try:
            assert client.list_streams() == []
        finally:
            client.close()
        with pytest.raises(Exception) as refused:
            sm._client("v2", port, "not-a-component-token").list_streams()
        assert type(refused.value).__name__ == "ConnectFailedException"
        assert "Unauthorized" in caplog.text  # the server's ConnectResponse status
    finally:
        sm.stop(proc)
