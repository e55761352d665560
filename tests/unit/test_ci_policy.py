"""The CI policy (tests/ci_policy.py): with CI=true a skip fails the run,
whether a test skips itself or a whole file skips while it is collected."""

import pytest

pytest_plugins = ["pytester"]

SKIPPING = {
    "test_in_body": "import pytest\n\ndef test_x():\n    pytest.skip('no fuse')\n",
    "test_importorskip": ("import pytest\n\npytest.importorskip('surely_not_installed_module')\n\n"
                          "def test_x():\n    pass\n"),
}


@pytest.mark.parametrize("name", sorted(SKIPPING))
@pytest.mark.parametrize("ci", ["true", None])
def test_a_skip_fails_only_in_ci(pytester, monkeypatch, name, ci):
    if ci:
        monkeypatch.setenv("CI", ci)
    else:
        monkeypatch.delenv("CI", raising=False)
    pytester.makeconftest("from tests.ci_policy import pytest_collectreport, pytest_runtest_makereport\n")
    pytester.makepyfile(**{name: SKIPPING[name]})
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    if ci:
        assert result.ret != 0, result.stdout.str()
        assert "skipped in CI" in result.stdout.str()
        assert "skipped" not in outcomes
    else:
        # (a file skipped whole leaves nothing to run: pytest's exit code 5, not a failure)
        assert result.ret in (0, 5) and outcomes.get("skipped") == 1, result.stdout.str()
