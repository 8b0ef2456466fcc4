"""Selection rules: the Auth component's grammar (RuleExpression.jjt) and WildcardSuffixAttribute matching."""
import pytest

from localcore.clientauth import AuthConfigError, parse_rule

# (rule, thing, selected) — cases from the component's BasicRuleExpressionTest / WildcardSuffixAttributeTest
MATCHES = [
    ("thingName: Camera-01", "Camera-01", True),
    ("thingName: Camera-01", "Camera-011", False),
    ("thingName:Camera-01", "Camera-01", True),
    ("thingName: *", "anything", True),
    ("thingName: Cam*", "Camera-01", True),
    ("thingName: Cam*", "XCam", False),
    ("thingName: *01", "Camera-01", True),
    ("thingName: *01", "Camera-010", False),
    ("thingName: *mera*", "Camera-01", True),
    ("thingName: *mera*", "Cam-01", False),
    ("thingName: A OR thingName: B", "B", True),
    ("thingName: A OR thingName: B", "C", False),
    ("thingName: Cam* AND thingName: *01", "Camera-01", True),
    ("thingName: Cam* AND thingName: *01", "Camera-02", False),
    # AND binds tighter than OR
    ("thingName: X AND thingName: Y OR thingName: Z", "Z", True),
    ("thingName: Z OR thingName: X AND thingName: Y", "X", False),
    ("\tthingName:  a_b-1 \r", "a_b-1", True),
    # the component keeps the backslash of an escaped colon: it selects no real thing
    ("thingName: thi\\:ng", "thi:ng", False),
    ("thingName: thi\\:ng", "thi\\:ng", True),
]


@pytest.mark.parametrize("rule,thing,selected", MATCHES)
def test_rule_matches(rule, thing, selected):
    assert parse_rule(rule).matches(thing) is selected


def test_escaped_colon_warns():
    assert parse_rule("thingName: a\\:b").warnings
    assert not parse_rule("thingName: ab").warnings


BAD = [
    ("thingName:", "expected a thing name"),
    ("ThingName thing", "expected 'thingName:'"),
    ("thingName: :", "unexpected character ':'"),
    ("thingName: thing*2", "unexpected '2'"),
    ("thingName: a OR", "expected 'thingName:'"),
    ("thingName: a thingName: b", "unexpected 'thingName:'"),
    ("thingName: OR", "expected a thing name"),          # a keyword wins the tie
    ("thingName: a\nOR thingName: b", "unexpected character '\\n'"),
    ("thingName: a.b", "unexpected character '.'"),
    ("", "expected 'thingName:'"),
    (42, "must be a string"),
]


@pytest.mark.parametrize("rule,message", BAD)
def test_bad_rules_name_the_path(rule, message):
    with pytest.raises(AuthConfigError) as info:
        parse_rule(rule, "deviceGroups.definitions.G.selectionRule")
    assert info.value.path == "deviceGroups.definitions.G.selectionRule"
    assert message in info.value.reason
