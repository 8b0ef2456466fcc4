from group.v2 import catalog


def test_catalog_is_one_mutually_compatible_set():
    assert catalog.inconsistencies() == ()


def test_lambda_plugins_accept_the_pinned_nucleus():
    nucleus = catalog.version(catalog.NUCLEUS)
    for name in (catalog.LAMBDA_MANAGER, catalog.SUBSCRIPTION_ROUTER):
        req = catalog.info(name).dependencies[catalog.NUCLEUS].version_requirement
        assert catalog.satisfies(nucleus, req), (name, req)
    # the example we were first told (LegacySubscriptionRouter 2.1.14 needs <2.16.0) would not accept it
    assert not catalog.satisfies(nucleus, ">=2.0.0 <2.16.0")


def test_every_version_is_exact_semver():
    for info in catalog.PUBLIC_COMPONENTS.values():
        parts = info.version.split(".")
        assert len(parts) == 3 and all(p.isdigit() for p in parts), info
        assert info.component_type in (catalog.GENERIC, catalog.PLUGIN, catalog.NUCLEUS_TYPE)


def test_satisfies_table():
    table = [
        ("2.16.1", ">=2.0.0 <2.17.0", True), ("2.17.0", ">=2.0.0 <2.17.0", False),
        ("2.1.15", "^2.1.0", True), ("3.0.0", "^2.1.0", False), ("2.0.9", "^2.1.0", False),
        ("2.3.7", "~2.3.0", True), ("2.4.0", "~2.3.0", False), ("2.0.3", "2.0.3", True), ("2.0.3", "=2.0.4", False),
        ("0.2.5", "^0.2.0", True), ("0.3.0", "^0.2.0", False), ("2.5.4", ">2.5.4", False), ("2.5.4", "<=2.5.4", True),
    ]
    for version, req, ok in table:
        assert catalog.satisfies(version, req) is ok, (version, req)


def test_public_arn_uses_the_aws_account():
    assert catalog.info(catalog.NUCLEUS).arn("eu-west-1") == \
        "arn:aws:greengrass:eu-west-1:aws:components:aws.greengrass.Nucleus:versions:2.16.1"
