"""Failures inside a role name the role's variables, not the module's options."""

from ansible_collections.kubevirt_net.core.plugins.plugin_utils import role_fields

RAW = {"state": "{{ network_policies_state }}",
       "label_namespaces": "{{ network_policies_label_namespaces | bool }}",
       "namespaces": "{{ network_policies_namespaces | default(omit, true) }}",
       "concurrency": 8,
       "mode": "static text"}


def test_option_variables_maps_only_single_variable_templates():
    assert role_fields.option_variables(RAW) == {
        "state": "network_policies_state", "label_namespaces": "network_policies_label_namespaces",
        "namespaces": "network_policies_namespaces"}
    assert role_fields.option_variables({"state": "{{ state }}"}) == {}
    assert role_fields.option_variables(None) == {}


def test_failure_fields_are_renamed_in_msg_and_problems():
    names = role_fields.option_variables(RAW)
    result = {"failed": True,
              "msg": "2 invalid input(s), nothing was changed:\n"
                     "- task: label_namespaces: needs namespaces\n"
                     "- task: namespaces[1]: 'Bad' is not a valid name\n"
                     "- NetworkPolicy shop/x: spec.podSelector: namespaces are fine here",
              "problems": [{"object": "task", "field": "label_namespaces", "message": "needs namespaces"},
                           {"object": "task", "field": "namespaces[1]", "message": "bad"},
                           {"object": "NetworkPolicy shop/x", "field": "spec.podSelector", "message": "x"}]}
    out = role_fields.rename_fields(result, names)
    lines = out["msg"].splitlines()
    assert lines[1] == "- task: network_policies_label_namespaces: needs namespaces"
    assert lines[2] == "- task: network_policies_namespaces[1]: 'Bad' is not a valid name"
    assert lines[3] == "- NetworkPolicy shop/x: spec.podSelector: namespaces are fine here"
    assert [p["field"] for p in out["problems"]] == [
        "network_policies_label_namespaces", "network_policies_namespaces[1]", "spec.podSelector"]


def test_success_is_untouched_and_raw_args_are_found_under_the_module_key():
    ok = {"changed": True, "msg": "- task: namespaces: x"}
    assert role_fields.rename_fields(dict(ok), {"namespaces": "v"}) == ok
    ds = {"name": "Apply", "kubevirt_net.core.kubevirt_network_policies": RAW, "register": "r"}
    assert role_fields.raw_module_args(ds, {"state": "present", "namespaces": ["a"]}) is RAW
    assert role_fields.raw_module_args("not a task", {}) is None
