"""The doctor per network: which policies filter each network of a VM, the
answer for a peer with the deciding object and rule, and the impact preview of
MultiNetworkPolicies and cluster admin policies (no cluster)."""

from ansible_collections.kubevirt_net.core.plugins.module_utils import doctor, doctor_diagnose

from tests.unit.plugins.module_utils.doctor_fixtures import NS, namespace, running, snapshot

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
