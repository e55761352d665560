"""Support matrix: playbooks/site.yml with ansible-core 2.19 (hack/matrix.sh's
venv) on this worker's lab: converge, then check mode with zero writes."""

import pytest

from tests.integration.matrix.smoke import converge_then_check


@pytest.mark.usefixtures("site_namespaces_fresh")
def test_site_converges_then_checks_without_writes_on_core_2_19(capabilities, ansible_env, request_log):
    converge_then_check("2.19", capabilities, ansible_env, request_log)
