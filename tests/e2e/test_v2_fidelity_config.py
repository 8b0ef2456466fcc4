"""Issue #21, configuration and what a component's processes get, under the real ``deploy.py run --platform v2``
with revisions made through the AWS API: configuration survives an upgrade (4), a configuration change restarts
only what uses it (5), recipe variables (8), the environment (9), RequiresPrivilege and runWith said, not
silently dropped (12). One run for the module (fidelity_kit.py).
"""
import e2e_fidelity_kit as kit
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fid(tmp_path_factory):
    yield from kit.start(tmp_path_factory, "v2-fidelity-config")


def test_4_configuration_survives_an_upgrade(fid):
    name = "fid.Upgrade"
    show = kit.run_step("a={configuration:/a} keep={configuration:/keep} new={configuration:/new}")
    fid.component(name, "1.0.0", run=show, config={"a": "d1", "keep": "d1"})
    fid.component(name, "2.0.0", run=show, config={"a": "d2", "keep": "d2", "new": "n2"})
    fid.succeeded(fid.deploy({name: {"componentVersion": "1.0.0", "configurationUpdate": {"merge": {"a": "set"}}}}))
    assert fid.wait_lines(name, 1)[-1] == "run a=set keep=d1 new={configuration:/new}"
    # the new version's defaults never overwrite running values; its new key is added
    fid.succeeded(fid.deploy({name: "2.0.0"}))
    assert fid.wait_lines(name, 2)[-1] == "run a=set keep=d1 new=n2"
    # only a reset brings a default back
    fid.succeeded(fid.deploy({name: {"componentVersion": "2.0.0", "configurationUpdate": {"reset": ["/a"]}}}))
    assert fid.wait_lines(name, 3)[-1] == "run a=d2 keep=d1 new=n2"


def test_5_a_configuration_change_restarts_only_what_uses_it(fid):
    name, other = "fid.Config", "fid.Bystander"
    fid.component(name, "1.0.0", install="echo install {configuration:/installFlag} >> install.log",
                  run=kit.run_step("{configuration:/greeting}"),
                  config={"greeting": "hello", "unused": 1, "installFlag": "a"})
    fid.component(other, "1.0.0", run=kit.run_step("bystander"))

    def deploy(**merge):
        spec = {"componentVersion": "1.0.0", "configurationUpdate": {"merge": merge}} if merge else "1.0.0"
        return fid.succeeded(fid.deploy({other: "1.0.0", name: spec}))
    deploy()
    fid.wait_lines(name, 1)
    pid, other_pid = fid.pid(name), fid.pid(other)
    assert fid.lines(name, "install.log") == ["install a"]

    deploy(unused=2)                   # a key no lifecycle script uses: nothing restarts
    assert (fid.pid(name), fid.pid(other)) == (pid, other_pid) and kit.alive(pid)
    assert fid.lines(name) == ["run hello"] and fid.lines(name, "install.log") == ["install a"]

    deploy(unused=2, greeting="hi")    # the Run script uses it: that component restarts, Install does not run again
    assert fid.wait_lines(name, 2) == ["run hello", "run hi"]
    assert fid.pid(name) != pid and not kit.alive(pid)
    assert fid.pid(other) == other_pid and kit.alive(other_pid)
    assert fid.lines(name, "install.log") == ["install a"]

    deploy(unused=2, greeting="hi", installFlag="b")   # the Install script uses it: reinstalled (Install again)
    assert fid.wait_lines(name, 2, file="install.log") == ["install a", "install b"]
    assert fid.wait_lines(name, 3)[-1] == "run hi"
    assert fid.pid(other) == other_pid


def test_8_recipe_variables(fid):
    name = "fid.Vars"
    run = ("echo 'obj={configuration:/obj}' 'miss={configuration:/missing}' 'unk={nope:thing}' "
           "'topic={configuration:/topic}' 'num={configuration:/num}' 'thing={iot:thingName}' >> out.log; "
           "echo $$ > pid; exec sleep 600")
    fid.component(name, "1.0.0", run=run, config={
        "obj": {"b": 1, "a": [True, "x"], "c": {"z": None}}, "topic": "things/{iot:thingName}/data", "num": 2.5})
    fid.succeeded(fid.deploy({name: "1.0.0"}))   # our deployments set interpolateComponentConfiguration
    line = fid.wait_lines(name, 1)[0]
    assert line == ('obj={"a":[true,"x"],"b":1,"c":{"z":null}} miss={configuration:/missing} unk={nope:thing} '
                    'topic=things/GG_Core/data num=2.5 thing=GG_Core'), line


def test_9_every_process_gets_ggc_version_and_runs_in_its_work_folder(fid):
    from group.v2 import catalog

    name = "fid.Env"
    probe = 'echo "{step} ggc=$GGC_VERSION cwd=$(pwd) thing=$AWS_IOT_THING_NAME" >> out.log'
    fid.component(name, "1.0.0", install=probe.format(step="install"),
                  run=probe.format(step="run") + "; echo $$ > pid; exec sleep 600")
    fid.succeeded(fid.deploy({name: "1.0.0"}))
    work = fid.work(name)
    version = catalog.version(catalog.NUCLEUS)
    assert fid.wait_lines(name, 2) == [f"install ggc={version} cwd={work} thing=GG_Core",
                                       f"run ggc={version} cwd={work} thing=GG_Core"]
    assert work == fid.root / "work" / name


def test_12_requires_privilege_and_run_with_are_said_not_dropped(fid):
    name = "fid.Privileged"
    fid.component(name, "1.0.0", run={"Script": kit.run_step("privileged"), "RequiresPrivilege": True})
    fid.succeeded(fid.deploy({name: {"componentVersion": "1.0.0",
                                     "runWith": {"posixUser": "ggc_user:ggc_group",
                                                 "systemResourceLimits": {"memory": 102400}}}}))
    fid.wait_lines(name, 1)
    comp = fid.wait_state(name, "RUNNING")
    details = comp.get("lifecycleStateDetails", "")
    user = __import__("getpass").getuser()
    assert f"RequiresPrivilege (Run) is not applied: the local core runs every step as {user}" in details, details
    assert "runWith posixUser 'ggc_user:ggc_group' is not applied" in details, details
    assert "systemResourceLimits are not applied" in details, details
    assert kit.uid_of(fid.pid(name)) == kit.my_uid()       # it runs as the user of deploy.py run
    log = fid.log(name)
    assert "RequiresPrivilege" in log and "runWith posixUser 'ggc_user:ggc_group' is not applied" in log
