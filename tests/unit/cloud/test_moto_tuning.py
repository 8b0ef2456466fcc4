"""localcore.cloud.moto_server.tune_moto: moto's per-process work made cheaper without changing what it answers."""
from __future__ import annotations

import boto3

from group.clients import shared_session
from localcore.cloud.moto_server import tune_moto


def test_moto_asks_the_processes_one_loader_for_regions_and_gets_the_same_ones():
    tune_moto()
    from moto.core.base_backend import AccountSpecificBackend

    session = AccountSpecificBackend.get_session()
    assert session is AccountSpecificBackend.get_session()   # one per process, as moto's own
    loader = session._session.get_component("data_loader")
    assert loader is shared_session()._session.get_component("data_loader")
    plain = boto3.session.Session()
    for service in ("iot", "greengrassv2", "lambda", "s3"):
        assert session.get_available_regions(service) == plain.get_available_regions(service), service
    assert session.get_available_partitions() == plain.get_available_partitions()

