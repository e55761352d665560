"""The doctor per network: which policies filter each network of a VM, the
answer for a peer with the deciding object and rule, and the impact preview of
MultiNetworkPolicies and cluster admin policies (no cluster)."""

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import doctor, doctor_diagnose, doctor_runner
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError

from tests.unit.plugins.module_utils.doctor_fixtures import NS, namespace, running, snapshot
from tests.unit.plugins.module_utils.session_double import FakeSession

STORAGE = [{"name": "default", "pod": {}}, {"name": "storage", "multus": {"networkName": "storage"}}]
IFACES = [{"name": "default", "masquerade": {}}, {"name": "storage", "bridge": {}}]
POLICY_FOR = "k8s.v1.cni.cncf.io/policy-for"


def mnp(name, policy_for, ingress=None, selector=None):
    return {"kind": "MultiNetworkPolicy", "metadata": {"name": name, "namespace": NS,
                                                       "annotations": {POLICY_FOR: policy_for}},
            "spec": {"podSelector": selector or {}, "policyTypes": ["Ingress"], "ingress": ingress or []}}


def storage_vm(name, ip, storage_ip):
    objs = running(name, ip=ip, ifaces=IFACES, networks=STORAGE)
    objs[1]["status"]["interfaces"][1].update(ipAddress=storage_ip, ipAddresses=[storage_ip])
    return objs


def snap_with(multi=(), admin=(), policies=()):
    objs = storage_vm("a", "10.244.1.1", "192.168.50.1") + storage_vm("b", "10.244.1.2", "192.168.50.2")
    snap = snapshot(objs + list(policies), namespaces=[namespace(NS, {"kubernetes.io/metadata.name": NS})],
                    version=(1, 34))
    snap.add(doctor.MULTI_POLICY_KIND, NS, list(multi))
    snap.admin_policies = list(admin)
    return snap


def rows_of(result, vm_name):
    report = next(r for r in result["vms"] if r["name"] == vm_name)
    return dict((row["network"], row) for row in report["reachability"]["networks"]), report


def test_matrix_names_the_filters_per_network():
    admin = {"kind": "ClusterNetworkPolicy", "metadata": {"name": "tenants"},
             "spec": {"tier": "Baseline", "priority": 10, "subject": {"namespaces": {}}, "ingress": []}}
    result = doctor_diagnose.diagnose(snap_with(multi=[mnp("storage-deny", "storage")], admin=[admin]),
                                      checks=["reachability"])
    rows, _report = rows_of(result, "b")
    assert set(rows) == {"pod", "%s/storage" % NS}
    assert rows["pod"]["policies"] == ["ClusterNetworkPolicy tenants (Baseline tier, priority 10)"]
    assert rows["%s/storage" % NS]["policies"] == ["MultiNetworkPolicy %s/storage-deny" % NS]


def test_peer_answer_per_network_names_the_deciding_objects():
    multi = [mnp("storage-deny", "%s/storage" % NS)]
    admin = [{"kind": "ClusterNetworkPolicy", "metadata": {"name": "guard"},
              "spec": {"tier": "Admin", "priority": 1, "subject": {"namespaces": {}},
                       "ingress": [{"name": "ssh", "action": "Deny", "from": [{"namespaces": {}}],
                                    "protocols": [{"tcp": {"destinationPort": {"number": 22}}}]}]}}]
    result = doctor_diagnose.diagnose(snap_with(multi=multi, admin=admin), checks=["reachability"],
                                      peer={"vm": "a", "port": 22}, direction="ingress")
    rows, report = rows_of(result, "b")
    pod = rows["pod"]["results"][0]
    assert (pod["outcome"], pod["tier"]) == ("denied", "Admin")
    assert pod["deciding"] == ["ClusterNetworkPolicy guard ingress rule 0 'ssh' (Deny)"]
    storage = rows["%s/storage" % NS]["results"][0]
    assert (storage["outcome"], storage["tier"]) == ("denied", "MultiNetworkPolicy")
    assert storage["deciding"] == ["MultiNetworkPolicy %s/storage-deny" % NS]
    codes = [f["code"] for f in report["findings"]]
    assert codes.count("denied-on-network") == 2
    # on port 80 the Admin rule does not match: the pod network is open, storage still denied
    result = doctor_diagnose.diagnose(snap_with(multi=multi, admin=admin), checks=["reachability"],
                                      peer={"vm": "a", "port": 80}, direction="ingress")
    rows, _r = rows_of(result, "b")
    assert rows["pod"]["results"][0]["outcome"] == "allowed"
    assert rows["%s/storage" % NS]["results"][0]["outcome"] == "denied"


def test_unfiltered_secondary_network_is_reported():
    result = doctor_diagnose.diagnose(snap_with(), checks=["reachability"])
    _rows, report = rows_of(result, "a")
    assert "network-unfiltered" in [f["code"] for f in report["findings"]]


def test_impact_preview_of_a_multinetworkpolicy_cuts_per_network():
    pending = [dict(mnp("storage-deny", "storage"), apiVersion="k8s.cni.cncf.io/v1beta1")]
    result = doctor_diagnose.diagnose(snap_with(), checks=["reachability"], pending_policies=pending)
    cut = result["impact"]["networks"]
    assert {(c["source"], c["destination"], c["network"], c["change"]) for c in cut} == {
        ("VM vms/a", "VM vms/b", "vms/storage", "newly_denied"),
        ("VM vms/b", "VM vms/a", "vms/storage", "newly_denied")}
    assert cut[0]["message"].startswith("this change would cut VM vms/")
    assert "on network vms/storage" in cut[0]["message"]
    # the pod network is untouched by a MultiNetworkPolicy
    assert result["impact"]["newly_denied"] == []


def test_impact_preview_of_an_admin_deny():
    pending = [{"kind": "ClusterNetworkPolicy", "metadata": {"name": "deny-all"},
                "spec": {"tier": "Admin", "priority": 1, "subject": {"namespaces": {}},
                         "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}]}}]
    result = doctor_diagnose.diagnose(snap_with(), checks=["reachability"], pending_policies=pending)
    networks = {(c["network"], c["change"]) for c in result["impact"]["networks"]}
    assert networks == {("pod", "newly_denied")}   # admin tiers are the pod network's


# ------------------------------------------------ which admin-policy kinds the doctor reads
GROUP_PATH = "/apis/policy.networking.k8s.io"
CNP_PATH = "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies"
ANP_PATH = "/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies"
BANP_PATH = "/apis/policy.networking.k8s.io/v1alpha1/baselineadminnetworkpolicies"
MNP_PATH = "/apis/k8s.cni.cncf.io/v1beta1/namespaces/%s/multi-networkpolicies" % NS


def discovery_session(versions, cnp=(), anp=(), banp=()):
    """The API server of a cluster whose policy.networking.k8s.io group serves
    ``versions`` (none: the group is not served, its GET is a 404, which
    ApiSession.get answers None) with the objects ``cnp``, ``anp``, ``banp``
    of each admin-policy kind; a LIST of a kind of an unserved version is a
    404 (its CRD is not installed)."""
    objects = {}
    if versions:
        objects[GROUP_PATH] = {"kind": "APIGroup", "name": "policy.networking.k8s.io", "versions": [
            {"groupVersion": "policy.networking.k8s.io/" + v, "version": v} for v in versions]}
    lists = {MNP_PATH: []}
    for path, items in ((CNP_PATH, cnp), (ANP_PATH, anp), (BANP_PATH, banp)):
        served = path.split("/")[3] in versions
        lists[path] = list(items) if served else ApiError("GET", path, 404, {"reason": "NotFound", "message": "not found"})
    return FakeSession(objects, lists)


# network-policy-api: ClusterNetworkPolicy is v1alpha2 (v0.3.0), AdminNetworkPolicy and
# BaselineAdminNetworkPolicy are v1alpha1 (v0.1.1); they are separate CRDs of one group, so a
# cluster may serve both versions and then objects of all three kinds apply.
@pytest.mark.parametrize("versions, reads, kinds", [
    (["v1alpha1"], [ANP_PATH, BANP_PATH], ["AdminNetworkPolicy", "BaselineAdminNetworkPolicy"]),
    (["v1alpha2"], [CNP_PATH], ["ClusterNetworkPolicy"]),
    (["v1alpha2", "v1alpha1"], [CNP_PATH, ANP_PATH, BANP_PATH],
     ["ClusterNetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy"]),
    ([], [], []),
], ids=["only-v1alpha1", "only-v1alpha2", "both", "none"])
def test_the_doctor_reads_every_served_admin_policy_kind(versions, reads, kinds):
    session = discovery_session(versions, cnp=[{"metadata": {"name": "cnp"}}], anp=[{"metadata": {"name": "anp"}}],
                                banp=[{"metadata": {"name": "default"}}])
    reader = doctor_runner.Reader(session)
    snap = doctor.Snapshot((1, 34))
    doctor_runner._read_policy_kinds(reader, snap, NS, [NS])
    assert reader.reads == [MNP_PATH, GROUP_PATH] + reads
    assert session.calls == [("LIST", MNP_PATH), ("GET", GROUP_PATH)] + [("LIST", path) for path in reads]
    assert [p["kind"] for p in snap.admin_policies] == kinds
    # a group the cluster does not serve is a cluster without admin policies, not an unreadable one
    assert snap.unreadable == []


def test_a_forbidden_discovery_of_the_admin_policy_group_is_reported_unreadable():
    session = discovery_session(["v1alpha2"], cnp=[{"metadata": {"name": "cnp"}}])
    session.objects[GROUP_PATH] = ApiError("GET", GROUP_PATH, 403, {"reason": "Forbidden", "message": "forbidden"})
    reader = doctor_runner.Reader(session)
    snap = doctor.Snapshot((1, 34))
    doctor_runner._read_policy_kinds(reader, snap, NS, [NS])
    assert reader.reads == [MNP_PATH, GROUP_PATH]
    assert snap.admin_policies == []
    assert snap.unreadable == [{"what": "policy.networking.k8s.io API", "error": "403 forbidden"}]


def test_an_anp_denies_while_a_cnp_is_also_served():
    """Both versions served: the AdminNetworkPolicy read next to the ClusterNetworkPolicies decides."""
    session = discovery_session(["v1alpha2", "v1alpha1"], cnp=[{"metadata": {"name": "cnp"}}], banp=[], anp=[
        {"metadata": {"name": "no-storage"}, "spec": {
            "priority": 5, "subject": {"namespaces": {}},
            "ingress": [{"name": "deny", "action": "Deny", "from": [{"namespaces": {"namespaceSelector": {}}}]}]}}])
    reader = doctor_runner.Reader(session)
    snap = snap_with()
    doctor_runner._read_policy_kinds(reader, snap, NS, [NS])
    result = doctor_diagnose.diagnose(snap, checks=["reachability"], peer={"vm": "a", "port": 80},
                                      direction="ingress")
    rows, _report = rows_of(result, "b")
    pod = rows["pod"]["results"][0]
    assert (pod["outcome"], pod["tier"]) == ("denied", "Admin")
    assert pod["deciding"] == ["AdminNetworkPolicy no-storage ingress rule 0 'deny' (Deny)"]


def test_egress_to_a_peer_vm_read_only_as_the_peer_matches_its_labels():
    """``vm: a`` with ``peer: {vm: b}``: the runner reads b as PEER_VM_KIND (not
    reported on). Its labels must still be seen, or a MultiNetworkPolicy rule
    selecting b by podSelector would never match it."""
    egress = {"kind": "MultiNetworkPolicy", "metadata": {"name": "a-egress", "namespace": NS,
                                                         "annotations": {POLICY_FOR: "storage"}},
              "spec": {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"],
                       "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "b"}}}],
                                   "ports": [{"protocol": "TCP", "port": 443}]}]}}
    vm_b, vmi_b, pod_b = storage_vm("b", "10.244.1.2", "192.168.50.2")
    snap = snapshot(storage_vm("a", "10.244.1.1", "192.168.50.1") + [vmi_b, pod_b],
                    namespaces=[namespace(NS, {"kubernetes.io/metadata.name": NS})], version=(1, 34))
    snap.add(doctor.PEER_VM_KIND, NS, [vm_b])
    snap.add(doctor.MULTI_POLICY_KIND, NS, [egress])
    snap.admin_policies = []
    for port, outcome in ((443, "allowed"), (22, "denied")):
        result = doctor_diagnose.diagnose(snap, checks=["reachability"], peer={"vm": "b", "port": port},
                                          direction="egress")
        assert [r["name"] for r in result["vms"]] == ["a"]
        rows, _report = rows_of(result, "a")
        answer = rows["%s/storage" % NS]["results"][0]
        assert answer["outcome"] == outcome, answer
        assert answer["deciding"][0].startswith("MultiNetworkPolicy %s/a-egress" % NS)
