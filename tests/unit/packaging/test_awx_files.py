"""The AWX files docs/awx.md ships (docs/awx/): the surveys match the playbooks
they belong to, both ways, and are what AWX accepts; the custom credential type
is what AWX accepts and injects no secret into extra variables.  (The jobs
themselves run in tests/integration/awx/test_runner_jobs.py.)"""

import json
import os
import re

import jinja2
import jinja2.meta
import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
AWX = os.path.join(REPO, "docs", "awx")
SURVEYS = {
    "survey_day2_add_interface.json": "playbooks/day2_add_interface.yml",
    "survey_day2_remove_interface.json": "playbooks/day2_remove_interface.yml",
}
# AWX's survey question types (awx/api/views/__init__.py JobTemplateSurveySpec)
QUESTION_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
# Ansible's own variables, never a job's input
MAGIC = {"item", "omit", "playbook_dir", "inventory_hostname", "inventory_dir", "hostvars", "groups",
         "group_names", "play_hosts", "role_path", "lookup", "query", "q", "now", "undef"}
# keys whose string values are bare Jinja2 expressions
EXPRESSION_KEYS = {"when", "changed_when", "failed_when", "until", "that"}
# AWX refuses these in a custom credential type's env injector (awx/main/fields.py ENV_BLOCKLIST,
# and every ANSIBLE_* name)
ENV_BLOCKLIST = {"VIRTUAL_ENV", "PATH", "PYTHONPATH", "JOB_ID", "INVENTORY_ID", "INVENTORY_SOURCE_ID",
                 "INVENTORY_UPDATE_ID", "AD_HOC_COMMAND_ID", "REST_API_URL", "REST_API_TOKEN", "MAX_EVENT_RES",
                 "CALLBACK_QUEUE", "CALLBACK_CONNECTION", "CACHE", "JOB_CALLBACK_DEBUG", "INVENTORY_HOSTVARS",
                 "AWX_HOST", "PROJECT_REVISION", "SUPERVISOR_CONFIG_PATH"}


class _AnyName(dict):
    """Ansible's filters and tests (bool, default, ...) are not jinja2's: accept every name."""

    def __contains__(self, name):
        return True

    def __missing__(self, name):
        return lambda *args, **kwargs: None

    def get(self, name, default=None):
        return self[name]


_ENV = jinja2.Environment()
_ENV.filters = _AnyName(_ENV.filters)
_ENV.tests = _AnyName(_ENV.tests)


def _names(template, expression=False):
    if not isinstance(template, str):
        return set()
    if expression:
        template = "{{ %s }}" % template
    elif "{{" not in template and "{%" not in template:
        return set()
    return set(jinja2.meta.find_undeclared_variables(_ENV.parse(template)))


def _walk(node, key=None):
    """Every variable name a task tree reads (strings, and expressions under when/that/...)."""
    found = set()
    if isinstance(node, dict):
        for k, value in node.items():
            found |= _walk(value, k)
    elif isinstance(node, list):
        for value in node:
            found |= _walk(value, key)
    else:
        found |= _names(node, expression=key in EXPRESSION_KEYS)
    return found


def _declared(node):
    """Names a task tree defines itself: register, task vars, loop_var."""
    found = set()
    if isinstance(node, dict):
        if isinstance(node.get("register"), str):
            found.add(node["register"])
        if isinstance(node.get("vars"), dict):
            found |= set(node["vars"])
        found.add((node.get("loop_control") or {}).get("loop_var", "item"))
        for value in node.values():
            found |= _declared(value)
    elif isinstance(node, list):
        for value in node:
            found |= _declared(value)
    return found


def playbook_inputs(path):
    """The variables a playbook takes from its caller: every name its tasks read
    that neither the tasks define nor Ansible provides.  The connection
    (module_defaults: inventory/credential) and the host pattern (site_hosts, a
    job template variable) are not the survey's."""
    with open(os.path.join(REPO, path), encoding="utf-8") as handle:
        plays = yaml.safe_load(handle)
    used, declared = set(), set()
    for play in plays:
        for section in ("pre_tasks", "tasks", "post_tasks", "handlers", "roles"):
            used |= _walk(play.get(section) or [])
            declared |= _declared(play.get(section) or [])
    return {name for name in used - declared - MAGIC if not name.startswith("ansible_")}


def load_survey(name):
    with open(os.path.join(AWX, name), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.mark.parametrize("survey_file", sorted(SURVEYS))
def test_survey_variables_are_the_playbook_inputs(survey_file):
    survey = {q["variable"] for q in load_survey(survey_file)["spec"]}
    inputs = playbook_inputs(SURVEYS[survey_file])
    assert survey - inputs == set(), "survey questions the playbook never reads"
    assert inputs - survey == set(), "playbook inputs the survey does not ask for"


def test_playbook_inputs_sees_what_a_task_reads():
    """The extraction itself: names in templates, in when/that expressions, in
    task names; not registered results, loop items or magic variables."""
    assert {"vm_namespace", "vm_selector", "network", "binding", "migrate_if_required", "vm_selector_all",
            "interface"} == playbook_inputs("playbooks/day2_add_interface.yml")
    assert "plugged" not in playbook_inputs("playbooks/day2_add_interface.yml")


@pytest.mark.parametrize("survey_file", sorted(SURVEYS))
def test_survey_is_what_awx_accepts(survey_file):
    """The checks of AWX's survey_spec validation: name, description, a spec
    list; per question a known type, question_name, a unique variable, required
    as a boolean; multiple choice defaults among the choices; text bounds that
    hold their defaults."""
    survey = load_survey(survey_file)
    assert isinstance(survey["name"], str) and survey["name"]
    assert isinstance(survey["description"], str)
    assert isinstance(survey["spec"], list) and survey["spec"]
    seen = set()
    for question in survey["spec"]:
        assert question["type"] in QUESTION_TYPES, question
        assert question["question_name"] and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", question["variable"]), question
        assert question["variable"] not in seen, "duplicate variable %s" % question["variable"]
        seen.add(question["variable"])
        assert isinstance(question["required"], bool), question
        if question["type"] in ("multiplechoice", "multiselect"):
            choices = question["choices"]
            assert isinstance(choices, list) and all(isinstance(c, str) and c for c in choices), question
            assert question.get("default", "") == "" or question["default"] in choices, question
        if question["type"] in ("text", "textarea", "password"):
            low, high = question.get("min", 0), question.get("max", 1024)
            assert isinstance(low, int) and isinstance(high, int) and 0 <= low <= high, question
            default = question.get("default", "")
            assert default == "" or low <= len(default) <= high, question


def test_kubeconfig_credential_type_is_what_awx_accepts():
    with open(os.path.join(AWX, "credential_type_kubeconfig.yml"), encoding="utf-8") as handle:
        ctype = yaml.safe_load(handle)
    assert ctype["name"] == "KubeVirt cluster (kubeconfig)" and ctype["kind"] == "cloud"
    fields = {f["id"]: f for f in ctype["inputs"]["fields"]}
    assert len(fields) == len(ctype["inputs"]["fields"]), "duplicate field ids"
    for field in fields.values():
        assert field["type"] in ("string", "boolean") and field["label"], field
    assert set(ctype["inputs"]["required"]) <= set(fields)
    assert fields["kubeconfig"]["secret"] is True and fields["kubeconfig"]["multiline"] is True
    injectors = ctype["injectors"]
    assert set(injectors) <= {"file", "env", "extra_vars"}
    files = set()
    for label, template in injectors.get("file", {}).items():
        assert label == "template" or re.match(r"^template\.[a-z_]+$", label), label
        assert _names(template) <= set(fields), template
        files.add(label.split(".", 1)[-1])
    for name, template in injectors.get("env", {}).items():
        assert not name.startswith("ANSIBLE_") and name not in ENV_BLOCKLIST, name
        assert _names(template) <= set(fields) | {"tower", "awx"}, template
        for ref in re.findall(r"(?:tower|awx)\.filename\.([a-z_]+)", template):
            assert ref in files, (name, ref)
    # a secret in extra variables would show in the job's output and override host variables
    secrets = {f for f, spec in fields.items() if spec.get("secret")}
    for template in injectors.get("extra_vars", {}).values():
        assert not _names(template) & secrets, template
    # what the modules read: K8S_AUTH_KUBECONFIG names the injected file
    assert injectors["env"] == {"K8S_AUTH_KUBECONFIG": "{{ tower.filename.kubeconfig }}"}
    assert injectors["file"] == {"template.kubeconfig": "{{ kubeconfig }}"}
