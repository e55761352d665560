"""The bad-input runner itself must be able to fail: an accepted case, a
message without the field, a write inside a case's window and a role that did
not fail are each reported (no lab needed)."""

import pytest

from tests.integration.bad_input_cases import TableOutcome, _results, case, case_ids, playbook, problems_of, role_case

WINDOW = {"start": 100.0, "end": 101.0}
T0, T3 = "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:03.000000Z"


def refused(msg, writes=0):
    return dict(WINDOW, result={"failed": True, "msg": msg, "api_requests": {"writes": writes}})


def test_a_refusal_naming_the_field_passes():
    c = case("ok", "kubevirt_network", {"vlan": 5000}, "vlan", "0 to 4094")
    assert problems_of(c, refused("network a/b: vlan: 5000 is out of range: use an integer from 0 to 4094"), []) == []


def test_each_kind_of_gap_is_reported():
    c = case("c1", "kubevirt_network", {"vlan": 5000}, "vlan", "0 to 4094", unwanted=("/None",))
    accepted = dict(WINDOW, result={"changed": True, "api_requests": {"writes": 1}})
    assert [p.split(": ", 1)[1][:12] for p in problems_of(c, accepted, [])] == [
        "not refused ", "message lack", "the module r"]
    assert "message lacks ['0 to 4094']" in problems_of(c, refused("vlan: bad"), [])[0]
    assert "message has ['/None']" in problems_of(c, refused("vlan: 0 to 4094; network ns/None"), [])[0]
    write = {"method": "POST", "path": "/x", "time": 100.5}
    assert "the proxy saw write(s)" in problems_of(c, refused("vlan: 0 to 4094"), [write])[0]
    assert problems_of(c, refused("vlan: 0 to 4094"), [dict(write, time=105.0)]) == []
    assert "no result" in problems_of(c, None, [])[0]


def test_role_cases_are_read_from_their_rescue():
    c = role_case("r1", "istio_injection", {"istio_injection_mode": "x"}, "istio_injection_mode")
    tasks = playbook([c])[0]["tasks"]
    assert tasks[0]["rescue"][0]["name"] == "r1" and tasks[0]["block"][0]["name"] == "role r1"
    data = {"plays": [{"tasks": [
        {"task": {"name": "role r1", "duration": {"start": T0, "end": "2026-01-01T00:00:01.000000Z"}}, "hosts": {}},
        {"task": {"name": "r1", "duration": {"start": "2026-01-01T00:00:02.000000Z", "end": T3}},
         "hosts": {"localhost": {"ansible_facts": {"bad_input_result": {
             "failed": True, "msg": "value of istio_injection_mode must be one of: sidecar, revision"}}}}}]}]}
    entry = _results(data, ["r1"])["r1"]
    assert entry["end"] - entry["start"] == 3.0
    assert problems_of(c, entry, []) == []


def test_a_table_names_the_failing_case_and_any_write():
    ok = case("ok", "kubevirt_network", {"vlan": 5000}, "vlan", "0 to 4094")
    gap = case("gap", "kubevirt_network", {"mtu": 1}, "mtu", "576 to 9216")
    write = {"method": "POST", "path": "/x", "time": 105.0}
    table = TableOutcome([ok, gap], {"ok": refused("vlan: use 0 to 4094"), "gap": refused("mtu: bad")}, [write])
    table.assert_case("ok")
    with pytest.raises(AssertionError, match="gap: message lacks"):
        table.assert_case("gap")
    with pytest.raises(AssertionError, match="POST"):
        table.assert_table(2)
    with pytest.raises(AssertionError, match="at least 3"):
        TableOutcome([ok, gap], {}, []).assert_table(3)
    TableOutcome([ok, gap], {}, []).assert_table(2)
    assert [c.id for c in [ok, gap]] == case_ids(lambda ns: [ok, gap])
