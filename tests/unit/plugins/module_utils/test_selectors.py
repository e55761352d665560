"""The shared label-selector helper: parsing (string and dict forms), matching,
rendering, and the refusal of selectors that select everything."""

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import selectors
from ansible_collections.kubevirt_net.core.plugins.module_utils.selectors import SelectorError
from tests.unit.plugins.module_utils.session_double import FakeSession


def parse(value, field="vm_selector"):
    return selectors.parse(field, value)


@pytest.mark.parametrize("text, query", [
    ("tier=db", "tier=db"),
    ("tier==db", "tier=db"),
    ("  tier = db , env in ( prod , stage ) ", "env in (prod,stage),tier=db"),
    ("app!=web", "app!=web"),
    ("env notin (a,b)", "env notin (a,b)"),
    ("owner", "owner"),
    ("!legacy", "!legacy"),
    ("example.com/team=net,tier=db", "example.com/team=net,tier=db"),
    ("empty=", "empty="),
    ("tier=db,tier=db", "tier=db"),
])
def test_string_forms_parse_to_a_canonical_query(text, query):
    assert parse(text).to_query() == query


@pytest.mark.parametrize("text, words", [
    ("tier=db,", "ends with ','"),
    ("tier in db", "'in' must be followed by '('"),
    ("tier in ()", "has no value"),
    ("tier in (a b)", "separated by ','"),
    ("count>3", "'>' is not supported"),
    ("tier=db env=prod", "expected ','"),
    ("=db", "expected a label key"),
    ("!tier=db", "expected ','"),
    ("tier=-db", "not a valid label value"),
    ("-tier=db", "not a valid label key"),
    ("Bad_Prefix/x=y", "invalid prefix"),
    ("a" * 64 + "=b", "not a valid label key"),
])
def test_malformed_strings_name_the_option(text, words):
    with pytest.raises(SelectorError) as err:
        parse(text)
    assert str(err.value).startswith("vm_selector: ")
    assert err.value.field == "vm_selector"
    assert words in str(err.value)


def test_dict_forms_are_the_same_selector_as_strings():
    assert parse({"tier": "db"}) == parse("tier=db")
    full = {"match_labels": {"tier": "db"},
            "match_expressions": [{"key": "env", "operator": "In", "values": ["stage", "prod"]}]}
    camel = {"matchLabels": {"tier": "db"},
             "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "stage"]}]}
    assert parse(full) == parse(camel) == parse("env in (prod,stage),tier=db")
    assert parse(full).to_api() == {"matchLabels": {"tier": "db"},
                                    "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "stage"]}]}


@pytest.mark.parametrize("value, where, words", [
    ({"tier": True}, "vm_selector.match_labels[tier]", "quote label values"),
    ({"match_expressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
     "vm_selector.match_expressions[0].operator", "operator 'Gt' is not supported"),
    ({"match_expressions": [{"key": "a", "operator": "In"}]}, "vm_selector.match_expressions[0].values",
     "at least one"),
    ({"match_expressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
     "vm_selector.match_expressions[0].values", "takes no values"),
    ({"match_expressions": [{"key": "a", "operator": "In", "values": ["ok", "bad value"]}]},
     "vm_selector.match_expressions[0].values[1]", "not a valid label value"),
    ({"match_expressions": [{"key": "-a", "operator": "Exists"}]}, "vm_selector.match_expressions[0].key",
     "not a valid label key"),
    ({"match_expressions": [{"key": "a", "operator": "Exists", "value": "x"}]},
     "vm_selector.match_expressions[0]", "unknown field(s) value"),
    (["tier=db"], "vm_selector", "not a label selector"),
    (42, "vm_selector", "not a label selector"),
])
def test_malformed_dicts_name_the_field(value, where, words):
    with pytest.raises(SelectorError) as err:
        parse(value)
    assert err.value.field == where
    assert words in str(err.value)


def test_none_is_no_selector_and_empty_is_everything():
    assert parse(None) is None
    assert parse("").empty and parse({}).empty and parse("  ").empty
    assert parse("").matches({"any": "thing"}) and parse("").matches(None)


@pytest.mark.parametrize("text, labels, expected", [
    ("tier=db", {"tier": "db"}, True),
    ("tier=db", {"tier": "web"}, False),
    ("tier=db", {}, False),
    ("tier!=db", {}, True),
    ("tier!=db", {"tier": "db"}, False),
    ("env in (a,b)", {"env": "b"}, True),
    ("env in (a,b)", {}, False),
    ("env notin (a,b)", {"env": "c"}, True),
    ("env notin (a,b)", {}, True),
    ("owner", {"owner": ""}, True),
    ("owner", {}, False),
    ("!owner", {}, True),
    ("!owner", {"owner": "x"}, False),
    ("tier=db,owner", {"tier": "db"}, False),
])
def test_matching(text, labels, expected):
    assert parse(text).matches(labels) is expected


@pytest.mark.parametrize("text, unlabelled", [
    ("", True), ("tier!=db", True), ("env notin (a),!legacy", True),
    ("tier=db", False), ("owner", False), ("env in (a,b),tier!=db", False),
])
def test_selects_unlabelled(text, unlabelled):
    assert parse(text).selects_unlabelled is unlabelled


def test_api_selectors_none_matches_nothing_and_unknown_operators_match_nothing():
    assert selectors.matches({}, {"a": "b"}) is True
    assert selectors.matches(None, {"a": "b"}) is False
    assert selectors.matches({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
                             {"a": "5"}) is False
    assert selectors.matches({"matchLabels": {"a": "b"}}, None) is False


def test_refuse_unlabelled_names_option_and_fix():
    with pytest.raises(SelectorError) as err:
        selectors.refuse_unlabelled("vm_selector", parse(""), "VM of the namespace", "set vm_selector_all: true")
    assert "vm_selector: is empty and would select every VM of the namespace; set vm_selector_all: true" \
        == str(err.value)
    with pytest.raises(SelectorError) as err:
        selectors.refuse_unlabelled("vm_selector", parse("tier!=db"), "VM", "set vm_selector_all: true")
    assert "only negative terms" in str(err.value) and "tier!=db" in str(err.value)
    selectors.refuse_unlabelled("vm_selector", parse("tier=db"), "VM", "n/a")  # no exception


def test_describe():
    """The one renderer for messages: matchLabels sorted, then the expressions in their order."""
    assert selectors.describe({}) == selectors.describe(None) == "{} (everything)"
    assert selectors.describe({"matchLabels": {"b": "2", "a": "1"}}) == "{a=1,b=2}"
    assert selectors.describe({"matchLabels": {"a": "1"}, "matchExpressions": [
        {"key": "t", "operator": "NotIn", "values": ["x", "y"]}, {"key": "k", "operator": "Exists"}]}) \
        == "{a=1,t notin (x,y),k}"
    assert not hasattr(selectors.LabelSelector, "describe")  # one renderer, not two that differ


# ------------------------------------------------- kubevirt_iface_hotplug use
from ansible_collections.kubevirt_net.core.plugins.module_utils import hotplug_runner  # noqa: E402


class Failed(Exception):
    pass


class FakeModule:
    check_mode = False
    _diff = False

    def __init__(self, **params):
        self.params = dict(vm=None, vm_selector=None, vm_selector_all=False, namespace="vms", interface="storage",
                           network="storage-net", binding="bridge", model=None, mac_address=None, pci_address=None,
                           state="present", interfaces=None, restart_if_required=False, migrate_if_required=False,
                           dynamic_networks="auto", max_concurrency=20, wait=True, wait_timeout=5, wait_sleep=0.05)
        self.params.update(params)

    def fail_json(self, **kwargs):
        raise Failed(kwargs)

    def exit_json(self, **kwargs):
        raise AssertionError("exit_json called: %r" % (kwargs,))


class NoRequests:
    """A runner whose session must never be touched."""

    def __init__(self, module):
        self.module = module

    @property
    def session(self):
        raise AssertionError("an API request was made")

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, **extra)


@pytest.mark.parametrize("selector, words", [
    ("", "vm_selector: is empty and would select every VirtualMachine of namespace vms"),
    ("   ", "vm_selector: is empty"),
    ("tier!=db", "vm_selector: tier!=db has only negative terms"),
    ("!legacy,env notin (prod)", "only negative terms"),
    ("tier=db,", "vm_selector: 'tier=db,' is not a label selector"),
    ("tier in db", "vm_selector: 'tier in db' is not a label selector"),
])
def test_hotplug_refuses_bad_or_all_matching_selectors_before_any_request(selector, words):
    module = FakeModule(vm_selector=selector)
    with pytest.raises(Failed) as err:
        hotplug_runner.Hotplug(module, runner=NoRequests(module)).run()
    assert words in err.value.args[0]["msg"]
    assert "nothing was changed" in err.value.args[0]["msg"]


def test_hotplug_vm_selector_all_is_only_for_selectors():
    module = FakeModule(vm="db-1", vm_selector_all=True)
    with pytest.raises(Failed) as err:
        hotplug_runner.Hotplug(module, runner=NoRequests(module)).run()
    assert "vm_selector_all: only applies to vm_selector" in err.value.args[0]["msg"]


class ListingRunner(NoRequests):
    def __init__(self, module, session):
        super().__init__(module)
        self._session = session

    @property
    def session(self):
        return self._session


VMS = "/apis/kubevirt.io/v1/namespaces/vms/virtualmachines"


def test_wait_with_an_every_vm_selector_re_reads_the_vms_by_selector():
    """issue 19: vm_selector '' made wait() GET the collection as if it were one VM -> KeyError 'name'."""
    vm = {"metadata": {"name": "db-1", "labels": {}}, "status": {}}
    vmi = {"metadata": {"name": "db-1"}, "status": {"interfaces": [{"name": "storage", "infoSource": "domain"}]}}
    module = FakeModule(vm_selector="", vm_selector_all=True)
    session = FakeSession({VMS + "/db-1": vm, "/apis/kubevirt.io/v1/namespaces/vms/virtualmachineinstances/db-1": vmi})
    flow = hotplug_runner.Hotplug(module, runner=ListingRunner(module, session))
    result = {"name": "db-1", "_start": 0, "interfaces": [{"name": "storage"}], "_vm": vm,
              "_changes": [("storage", hotplug_runner.hotplug.PLUG, "")]}
    flow.engine.wait({"db-1": result})
    assert "error" not in result
    assert (VMS, "", None) in session.list_selectors
    assert VMS not in session.paths("GET")   # the collection is LISTed, never read as one VM


# ------------------------------------- the other modules that take selectors
from ansible_collections.kubevirt_net.core.plugins.module_utils import (  # noqa: E402
    doctor_runner, istio_options, netpol_runner)
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems  # noqa: E402

NEGATIVE_ONLY = {"match_expressions": [{"key": "team", "operator": "NotIn", "values": ["infra"]}]}


def test_policies_refuse_a_negative_only_namespace_selector():
    task = {"namespaces": None, "namespace_selector": NEGATIVE_ONLY, "state": "present", "policy_set": "default",
            "max_concurrency": 8, "prune_scope": "namespaces", "list_scope": "auto"}
    problems = Problems()
    _explicit, selector = netpol_runner.check_task(task, problems)
    assert selector is None
    assert [p["field"] for p in problems.items] == ["namespace_selector"]
    assert "team!=infra has only negative terms" in problems.items[0]["message"]
    problems = Problems()
    task["namespace_selector"] = {"match_expressions": [{"key": "team", "operator": "In", "values": ["a"]}]}
    assert netpol_runner.check_task(task, problems)[1] is not None and not problems


@pytest.mark.parametrize("params, field", [
    ({"namespaces": None, "namespace_selector": NEGATIVE_ONLY}, "namespace_selector"),
    ({"vms": [{"template_selector": {"match_expressions": [{"key": "legacy", "operator": "DoesNotExist"}]}}]},
     "vms[0].template_selector"),
])
def test_istio_refuses_negative_only_selectors(params, field):
    base = {"state": "present", "namespaces": ["shop"], "namespace_selector": None, "mode": "sidecar",
            "revision": None, "vms": None, "fix_binding": False, "services": None, "mtls": "unset",
            "mtls_policy_name": "default", "destination_rule": False, "cni_nad": False, "restart": "never",
            "restart_batch_size": 5, "istio_version": None, "cluster_domain": "cluster.local", "max_concurrency": 8}
    problems = Problems()
    istio_options.check_params(dict(base, **params), problems)
    assert field in [p["field"] for p in problems.items], problems.render()
    assert "only negative terms" in problems.render()


def test_policy_matching_is_the_shared_one():
    """netpol used to crash on None and ignore unknown operators; the policy, report and
    doctor files now match with this one function, which selects nothing for both."""
    from ansible_collections.kubevirt_net.core.plugins.module_utils import (
        netpol_eval, netpol_model, netpol_multi, netpol_report, selectors)
    for module in (netpol_eval, netpol_model, netpol_multi, netpol_report):
        assert module.selector_matches is selectors.matches, module.__name__
    assert selectors.matches(None, {"a": "b"}) is False
    assert selectors.matches({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
                             {"a": "2"}) is False


def test_dict_problems_are_all_reported_with_their_fields():
    from ansible_collections.kubevirt_net.core.plugins.module_utils.selectors import dict_problems
    found = dict_problems("s", {"match_labels": {"ok": "1", "bad": True},
                                "match_expressions": [{"key": "a", "operator": "Gt"}, {"key": "b", "operator": "In"}]})
    assert [e.field for e in found] == ["s.match_labels[bad]", "s.match_expressions[0].operator",
                                        "s.match_expressions[1].values"]
    assert dict_problems("s", {"match_labels": {"ok": "1"}}) == []


@pytest.mark.parametrize("selector, words", [
    ("tier=-db", "vm_selector: '-db' is not a valid label value"),
    ("tier in db", "vm_selector: 'tier in db' is not a label selector"),
])
def test_doctor_checks_vm_selector_before_reading(selector, words):
    problems = doctor_runner.check_params({"namespace": "vms", "vm": None, "vm_selector": selector, "peer": None,
                                           "policies": None})
    assert any(words in p for p in problems), problems


def test_doctor_allows_an_empty_selector_it_only_reads():
    assert doctor_runner.check_params({"namespace": "vms", "vm": None, "vm_selector": "", "peer": None,
                                       "policies": None}) == []
