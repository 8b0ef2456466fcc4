"""car_aggregator's handler writing to DynamoDB through boto3, against a real moto server (port 0)."""
import json

import boto3

from car_stats import CarConfig


def documents(previous, current):
    def side(light):
        return {"state": {"reported": {"property": light}}, "version": 1}
    return json.dumps({"previous": side(previous), "current": side(current), "timestamp": 1})


def test_every_third_green_puts_an_item(moto_endpoint, monkeypatch, handler_of):
    # The handler's boto3 resource is made on first use from the usual environment, as on a core.
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(TableName="CarStatsTest", KeySchema=[{"AttributeName": "Time", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "Time", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    handler = handler_of("car_aggregator")
    aggregator = handler.CarAggregator(CarConfig(table_name="CarStatsTest", random_seed=11))
    results = []
    for _ in range(3):
        results.append(aggregator.handle(documents("R", "G")))
        assert aggregator.handle(documents("G", "G")) == {"green": False}   # desired changed only
        aggregator.handle(documents("G", "Y"))
    assert [r["written"] for r in results] == [False, False, True]
    items = dynamodb.scan(TableName="CarStatsTest")["Items"]
    assert len(items) == 1
    item = items[0]
    assert item["TotalGreenlights"] == {"N": "3"}
    assert item["TotalTraffic"] == {"N": str(results[-1]["total_traffic"])}
    assert item["MinCarsPassing"] == {"N": str(results[-1]["min_cars"])}
    assert item["MaxCarsPassing"] == {"N": str(results[-1]["max_cars"])}
    assert set(item) == {"Time", "TotalTraffic", "TotalGreenlights", "MinCarsPassing", "MaxCarsPassing"}


def test_missing_table_is_logged_not_raised(moto_endpoint, monkeypatch, handler_of, caplog):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    handler = handler_of("car_aggregator")
    aggregator = handler.CarAggregator(CarConfig(table_name="NoSuchTable", write_every=1))
    result = aggregator.handle(documents("Y", "G"))
    assert result["green"] is True and result["written"] is False
    assert "ResourceNotFoundException" in result["error"]
    assert "put_item into NoSuchTable failed" in caplog.text
