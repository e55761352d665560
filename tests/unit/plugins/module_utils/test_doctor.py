"""The network doctor's diagnosis, per check, from objects as the API returns
them (no cluster).  Each of the seed's six troubleshooting questions has a
scenario here whose cause and fix the doctor names."""

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import doctor, doctor_diagnose
from ansible_collections.kubevirt_net.core.plugins.module_utils import doctor_runner
from tests.unit.plugins.module_utils.doctor_fixtures import (
    NS, by_code, codes, endpoints, kubevirt_cr, launcher_for, nad, namespace, netpol, node, pod, report, report_all,
    report_full, running, service, snapshot, vm, vmi_for)

BRIDGE_NET = ([{"name": "default", "masquerade": {}}, {"name": "data", "bridge": {}}],
              [{"name": "default", "pod": {}}, {"name": "data", "multus": {"networkName": "data-net"}}])


def test_every_finding_has_severity_message_and_fix():
    objs = running("web", ports=None, ifaces=BRIDGE_NET[0], networks=BRIDGE_NET[1])
    snap = snapshot(objs + [netpol("deny", ingress=[]), service("s", {"app": "nope"})])
    rep, result = report_full(snap, "web")
    assert rep["findings"]
    for item in rep["findings"]:
        assert item["severity"] in ("error", "warning", "info")
        assert item["message"] and item["fix"] and item["check"] in doctor.CHECKS
    assert result["summary"]["vms"] == 1 and result["summary"]["running"] == 1
    # errors come first
    order = [doctor.SEVERITY_ORDER[f["severity"]] for f in rep["findings"]]
    assert order == sorted(order)


# ------------------------------------------------------------- interfaces
def test_interfaces_joined_with_status():
    objs = running("web", ifaces=BRIDGE_NET[0], networks=BRIDGE_NET[1])
    snap = snapshot(objs + [nad("data-net")])
    rep = report(snap, "web")
    rows = {r["name"]: r for r in rep["interfaces"]["interfaces"]}
    assert rows["default"]["binding"] == "masquerade" and rows["default"]["ip_address"] == "10.244.1.10"
    assert rows["data"]["network"] == {"type": "multus", "default": False, "nad": "vms/data-net", "nad_found": True}
    assert rows["data"]["in_domain"] and rows["data"]["interface_name"] == "eth1"
    assert "nad-missing" not in codes(rep)


def test_seed_q3_hotplug_network_not_found_names_the_missing_nad_and_where_it_is():
    machine = vm("web", ifaces=BRIDGE_NET[0], networks=BRIDGE_NET[1], running=False)
    snap = snapshot([machine, nad("data-net", ns="shared")],
                    namespaces=[namespace(NS), namespace("shared")])
    snap.all_nads = [nad("data-net", ns="shared")]
    rep = report(snap, "web")
    item = by_code(rep, "nad-missing")
    assert item["severity"] == "error" and "vms/data-net" in item["message"]
    assert "network not found" in item["message"]
    assert "shared/data-net" in item["fix"] and item["elsewhere"] == ["shared/data-net"]


def test_hotplug_pending_and_not_finished_and_conditions():
    machine = vm("web", ifaces=BRIDGE_NET[0], networks=BRIDGE_NET[1])
    instance = vmi_for(machine, conditions=[
        {"type": "LiveMigratable", "status": "True"},
        {"type": "MigrationRequired", "status": "True", "reason": "AutoMigrationDueToLiveUpdate"}])
    # the VMI has the new interface in its spec, but the guest does not yet
    instance["status"]["interfaces"] = instance["status"]["interfaces"][:1]
    machine["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"].append({"name": "late", "bridge": {}})
    machine["spec"]["template"]["spec"]["networks"].append({"name": "late", "multus": {"networkName": "data-net"}})
    machine["status"]["conditions"] = [{"type": "RestartRequired", "status": "True",
                                        "message": "a non-live-updatable field was changed in the template spec"}]
    snap = snapshot([machine, instance, launcher_for(instance), nad("data-net")])
    rep = report(snap, "web")
    assert by_code(rep, "hotplug-not-finished")["message"].startswith("VirtualMachine vms/web interface data")
    assert "late" in by_code(rep, "hotplug-pending")["message"]
    assert "AutoMigrationDueToLiveUpdate" in by_code(rep, "migration-required")["message"]
    assert "non-live-updatable" in by_code(rep, "restart-required")["message"]


def test_masquerade_on_secondary_and_removed_binding():
    objs = running("web", ifaces=[{"name": "default", "masquerade": {}}, {"name": "x", "masquerade": {}},
                                  {"name": "y", "macvtap": {}}],
                   networks=[{"name": "default", "pod": {}}, {"name": "x", "multus": {"networkName": "n"}},
                             {"name": "y", "multus": {"networkName": "n"}}])
    rep = report(snapshot(objs + [nad("n")]), "web")
    assert "binding-needs-pod-network" in codes(rep, "error") and "removed-binding" in codes(rep, "error")


# ------------------------------------------------------------ reachability
def test_seed_q1_vm_cannot_ping_pod_egress_default_deny():
    objs = running("web")
    target = pod("api-1", {"app": "api"}, "10.244.2.7")
    snap = snapshot(objs + [target, netpol("default-deny-egress", egress=[], types=["Egress"])])
    rep = report(snap, "web", checks=["reachability"], direction="egress",
                 peer={"pod_selector": "app=api", "protocol": "ICMP"})
    result = rep["reachability"]["results"][0]
    assert result["outcome"] == "denied" and result["deciding_policies"] == ["vms/default-deny-egress"]
    item = by_code(rep, "peer-denied-egress")
    assert "can VirtualMachine vms/web send to pods app=api in vms on ICMP? no" in item["message"]
    manifest = item["fix_policies"][0]
    assert manifest["spec"]["policyTypes"] == ["Egress"] and "ports" not in manifest["spec"]["egress"][0]
    assert manifest["spec"]["podSelector"] == {"matchLabels": {"app": "web"}}
    assert manifest["spec"]["egress"][0]["to"] == [{"podSelector": {"matchLabels": {"app": "api"}}}]


def test_reachability_ingress_allowed_names_the_policy():
    objs = running("db", template_labels={"app": "db"})
    web = pod("web-1", {"app": "web"}, "10.244.3.3", ns="front")
    policy = netpol("db-from-front", {"matchLabels": {"app": "db"}}, ingress=[{
        "from": [{"namespaceSelector": {"matchLabels": {"team": "front"}}, "podSelector": {"matchLabels": {"app": "web"}}}],
        "ports": [{"port": 5432}]}])
    snap = snapshot(objs + [web, policy], namespaces=[namespace(NS), namespace("front", {"team": "front"})])
    snap.add(doctor.POD_KIND, "front", [])
    rep = report(snap, "db", checks=["reachability"], direction="ingress",
                 peer={"pod_selector": "app=web", "namespace": "front", "port": 5432})
    assert rep["reachability"]["results"][0]["outcome"] == "allowed"
    assert by_code(rep, "peer-allowed-ingress")["deciding_policies"] == ["vms/db-from-front"]
    denied = report(snap, "db", checks=["reachability"], direction="ingress",
                    peer={"pod_selector": "app=web", "namespace": "front", "port": 22})
    item = by_code(denied, "peer-denied-ingress")
    rule = item["fix_policies"][0]["spec"]["ingress"][0]
    assert rule["ports"] == [{"protocol": "TCP", "port": 22}]
    assert rule["from"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "front"}}
    assert "kubectl label namespace front" in item["fix"]   # 1.20 does not label namespaces by name


def test_secondary_networks_are_outside_networkpolicy():
    objs = running("web", ifaces=BRIDGE_NET[0], networks=BRIDGE_NET[1])
    rep = report(snapshot(objs + [nad("data-net")]), "web", checks=["reachability"])
    assert "data" in by_code(rep, "secondary-networks-unfiltered")["message"]
    assert rep["reachability"]["secondary_networks"] == ["data"]
    assert "not-isolated" in codes(rep)


def test_peer_vm_and_unknown_peer():
    objs = running("a", ip="10.244.1.1") + running("b", ip="10.244.1.2")
    snap = snapshot(objs + [netpol("b-only-from-a", {"matchLabels": {"app": "b"}},
                                   ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}]}])])
    rep, result = report_full(snap, "b", checks=["reachability"], direction="ingress", peer={"vm": "a", "port": 80})
    assert rep["reachability"]["results"][0]["outcome"] == "allowed"
    other = next(r for r in result["vms"] if r["name"] == "a")
    assert other["reachability"]["results"][0]["outcome"] == "allowed"   # a is not isolated
    missing = report(snap, "b", checks=["reachability"], peer={"vm": "ghost", "port": 80})
    assert "peer-not-found" in codes(missing, "error")


def test_named_port_question_resolves_on_the_destination():
    objs = running("web", ifaces=[{"name": "default", "masquerade": {},
                                   "ports": [{"name": "http", "port": 8080}]}])
    snap = snapshot(objs + [pod("c", {"app": "client"}, "10.244.9.9"),
                            netpol("in", {"matchLabels": {"app": "web"}}, ingress=[{"ports": [{"port": 8080}]}])])
    rep = report(snap, "web", checks=["reachability"], direction="ingress",
                 peer={"pod_selector": "app=client", "port": "http"})
    assert rep["reachability"]["results"][0]["outcome"] == "allowed"
    bad = report(snap, "web", checks=["reachability"], direction="egress",
                 peer={"pod_selector": "app=client", "port": "http"})
    assert "peer-unanswerable" in codes(bad)


def test_name_label_warning_on_old_api_servers():
    objs = running("web")
    policy = netpol("by-name", ingress=[{"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "front"}}}]}])
    rep = report(snapshot(objs + [policy]), "web", checks=["reachability"])
    assert "name-label-unset" in codes(rep, "warning")
    rep = report(snapshot(objs + [policy], version=(1, 25)), "web", checks=["reachability"])
    assert "name-label-unset" not in codes(rep)


# ----------------------------------------------------------------- services
def test_seed_q2_nodeport_selecting_vm_labels_not_template_labels():
    machine = vm("web", labels={"app": "web-vm"}, template_labels={"kubevirt.io/domain": "web"})
    instance = vmi_for(machine)
    svc = service("web-np", {"app": "web-vm"}, svc_type="NodePort",
                  ports=[{"port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}])
    snap = snapshot([machine, instance, launcher_for(instance), svc, endpoints("web-np")])
    rep = report(snap, "web", checks=["services"])
    item = by_code(rep, "service-selects-vm-labels")
    assert item["severity"] == "error"
    assert "selector matches VM labels, not template labels" in item["message"]
    assert "spec.template.metadata.labels" in item["fix"] and "kubevirt.io/domain=web" in item["fix"]


def test_seed_q2_nodeport_port_not_forwarded_and_policy_blocks_outside():
    objs = running("web", ifaces=[{"name": "default", "masquerade": {}, "ports": [{"port": 22}, {"port": 80}]}])
    svc = service("web-np", {"app": "web"}, svc_type="NodePort",
                  ports=[{"port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}])
    policy = netpol("only-namespace", ingress=[{"from": [{"podSelector": {}}]}])
    snap = snapshot(objs + [svc, endpoints("web-np", ready=["10.244.1.10"]), policy],
                    nodes=[node("node01"), node("node02", ip="192.168.66.102")])
    rep = report(snap, "web", checks=["services"])
    item = by_code(rep, "port-not-forwarded")
    assert "TCP/8080" in item["message"] and "TCP/22, TCP/80" in item["message"]
    assert "{port: 8080, protocol: TCP}" in item["fix"]
    assert by_code(rep, "node-port")["message"].startswith("Service vms/web-np: reach VirtualMachine vms/web on node "
                                                           "port(s) 30080 of 192.168.66.101, 192.168.66.102")
    # fix the port list: now the policy is the next blocker
    objs = running("web", ifaces=[{"name": "default", "masquerade": {}, "ports": [{"port": 8080}]}])
    snap = snapshot(objs + [svc, endpoints("web-np", ready=["10.244.1.10"]), policy], nodes=[node("node01")])
    rep = report(snap, "web", checks=["services"])
    assert "port-not-forwarded" not in codes(rep)
    assert by_code(rep, "external-ingress-denied")["deciding_policies"] == ["vms/only-namespace"]


def test_endpoints_state_and_template_labels_not_applied():
    machine = vm("web", template_labels={"app": "web", "tier": "new"})
    instance = vmi_for(machine)
    pod_ = launcher_for(instance, ready=False)
    del pod_["metadata"]["labels"]["tier"]        # labels changed after the VM started
    snap = snapshot([machine, instance, pod_, service("by-tier", {"tier": "new"}),
                     service("web", {"app": "web"}), endpoints("web", not_ready=["10.244.1.10"])])
    rep = report(snap, "web", checks=["services"])
    assert "labels-not-applied" in codes(rep, "warning")
    assert "endpoint-not-ready" in codes(rep, "warning")


def test_named_target_port_resolution():
    objs = running("web", ifaces=[{"name": "default", "masquerade": {}, "ports": [{"name": "http", "port": 8080}]}])
    good = service("good", {"app": "web"}, ports=[{"port": 80, "targetPort": "http", "protocol": "TCP"}])
    bad = service("bad", {"app": "web"}, ports=[{"port": 80, "targetPort": "web", "protocol": "TCP"}])
    rep = report(snapshot(objs + [good, bad, endpoints("good", ready=["10.244.1.10"]),
                          endpoints("bad", ready=["10.244.1.10"])]), "web", checks=["services"])
    ports = {s["name"]: s["ports"][0] for s in rep["services"]["services"]}
    assert ports["good"]["resolved_target"] == 8080 and ports["good"]["forwarded"]
    assert "target-port-unresolved" in codes(rep, "error")


# ---------------------------------------------------------------------- dns
def test_seed_q6_dns_egress_denied_and_no_vm_record():
    objs = running("web")
    snap = snapshot(objs + [netpol("egress-web-only", egress=[{"ports": [{"port": 443}]}])])
    snap.dns_service = service("kube-dns", {"k8s-app": "kube-dns"}, ns="kube-system", cluster_ip="10.96.0.10")
    rep = report(snap, "web", checks=["dns"])
    item = by_code(rep, "dns-egress-denied")
    assert item["severity"] == "error" and item["deciding_policies"] == ["vms/egress-web-only"]
    ports = item["fix_policies"][0]["spec"]["egress"][0]["ports"]
    assert ports == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert rep["dns"]["resolv_conf"]["nameservers"] == ["10.96.0.10"]
    assert rep["dns"]["resolv_conf"]["searches"][0] == "vms.svc.cluster.local"
    assert "is NOT a record" in by_code(rep, "no-vm-dns-name")["message"]


def test_dns_name_with_subdomain_and_headless_service():
    objs = running("web", subdomain="vms-dns", hostname="www")
    headless = service("vms-dns", {"app": "web"}, cluster_ip="None", ports=[])
    rep = report(snapshot(objs + [headless]), "web", checks=["dns"])
    assert rep["dns"]["fqdn"] == "www.vms-dns.vms.svc.cluster.local"
    not_headless = report(snapshot(objs + [service("vms-dns", {"app": "web"})]), "web", checks=["dns"])
    assert "subdomain-service-not-headless" in codes(not_headless, "error")
    missing = report(snapshot(objs), "web", checks=["dns"])
    assert "subdomain-service-missing" in codes(missing, "error")
    wrong = service("vms-dns", {"app": "other"}, cluster_ip="None", ports=[])
    wrong_rep = report(snapshot(objs + [wrong]), "web", checks=["dns"])
    assert "subdomain-service-not-selecting" in codes(wrong_rep, "error")


def test_dns_policy_none_and_default():
    objs = running("a", dnsPolicy="None")
    rep = report(snapshot(objs), "a", checks=["dns"])
    assert "dns-none-without-nameservers" in codes(rep, "error")
    objs = running("b", dnsPolicy="None", dnsConfig={"nameservers": ["9.9.9.9"], "searches": ["corp.example"]})
    rep = report(snapshot(objs + [netpol("deny-out", egress=[], types=["Egress"])]), "b", checks=["dns"])
    assert rep["dns"]["resolv_conf"] == {"nameservers": ["9.9.9.9"], "searches": ["corp.example"], "options": []}
    assert "nameserver 9.9.9.9" in by_code(rep, "dns-egress-denied")["message"]
    rep = report(snapshot(running("c", dnsPolicy="Default")), "c", checks=["dns"])
    assert "dns-policy-default" in codes(rep, "warning")


# ------------------------------------------------------------------ hotplug
def test_hotplug_operations_follow_the_capabilities():
    objs = running("web", ifaces=BRIDGE_NET[0], networks=BRIDGE_NET[1])
    snap = snapshot(objs + [nad("data-net")], kubevirt=kubevirt_cr(methods=()))
    snap.daemonsets["app=dynamic-networks-controller"] = []
    rep = report(snap, "web", checks=["hotplug"])
    ops = rep["hotplug"]["operations"]
    assert not ops["plug_bridge"]["possible"] and "LiveMigrate" in ops["plug_bridge"]["why"]
    assert "workloadUpdateMethods" in by_code(rep, "hotplug-blocked")["fix"]
    assert ops["interfaces"]["default"]["why"] == "primary network: never unplugged"
    snap.daemonsets["app=dynamic-networks-controller"] = [{"metadata": {"name": "ds"}}]
    rep = report(snap, "web", checks=["hotplug"])
    ops = rep["hotplug"]["operations"]
    assert ops["plug_bridge"]["how"].startswith("in place") and not ops["plug_sriov"]["possible"]
    assert rep["hotplug"]["unpluggable"] == ["data"]
    assert "virtctl addinterface/removeinterface were removed in KubeVirt 1.1" in by_code(rep, "hotplug-summary")["fix"]


def test_hotplug_stopped_vm_and_old_kubevirt():
    snap = snapshot([vm("off", running=False)])
    rep = report(snap, "off", checks=["hotplug"])
    assert rep["hotplug"]["operations"]["plug_bridge"]["how"].startswith("template change")
    old = snapshot(running("web"), kubevirt=kubevirt_cr(version="v1.0.2"))
    rep = report(old, "web", checks=["hotplug"])
    assert "virtctl addinterface" in by_code(rep, "kubevirt-too-old")["message"]


# -------------------------------------------------------------------- istio
def test_seed_q4_istio_requirements_each_pass_or_fail():
    objs = running("mesh", ifaces=[{"name": "default", "bridge": {}, "ports": [{"port": 15001}]}],
                   template_labels={"app": "mesh", "sidecar.istio.io/inject": "true"})
    snap = snapshot(objs, namespaces=[namespace(NS, {"istio-injection": "enabled"})])
    snap.webhooks = [{"metadata": {"name": "istio-sidecar-injector"},
                      "webhooks": [{"name": "namespace.sidecar-injector.istio.io"}]}]
    snap.daemonsets["k8s-app=istio-cni-node"] = [{"metadata": {"name": "istio-cni-node"}}]
    rep = report(snap, "mesh", checks=["istio"])
    reqs = {r["id"]: r["passed"] for r in rep["istio"]["requirements"]}
    assert len(reqs) == 8
    assert reqs == {"istio_installed": True, "istio_cni": True, "namespace_injection": True, "vm_annotation": False,
                    "binding": False, "ipv4": True, "reserved_ports": False, "service": False}
    assert set(codes(rep, "error")) == {"istio-vm-annotation", "istio-binding", "istio-reserved-ports",
                                        "istio-service"}
    assert "only the label is set" in by_code(rep, "istio-vm-annotation")["message"]
    # all fixed, but the pod predates the fix: restart
    objs = running("mesh", template_labels={"app": "mesh"}, annotations={"sidecar.istio.io/inject": "true"})
    snap = snapshot(objs + [service("mesh", {"app": "mesh"})],
                    namespaces=[namespace(NS, {"istio-injection": "enabled"})], webhooks=snap.webhooks,
                    daemonsets=snap.daemonsets)
    rep = report(snap, "mesh", checks=["istio"])
    assert rep["istio"]["failed"] == [] and "istio-not-injected" in codes(rep, "warning")


def test_istio_not_requested_is_information():
    rep = report(snapshot(running("plain")), "plain", checks=["istio"])
    assert codes(rep) == ["not-in-mesh"] and rep["istio"]["in_mesh_requested"] is False


# -------------------------------------------------------------------- sriov
def sriov_vm(name="fast", node_name="node01"):
    return running(name, node=node_name,
                   ifaces=[{"name": "default", "masquerade": {}}, {"name": "vf", "sriov": {}}],
                   networks=[{"name": "default", "pod": {}}, {"name": "vf", "multus": {"networkName": "sriov-net"}}],
                   pod_kwargs={"resources": {"openshift.io/intelnics": "1"}})


def test_seed_q5_sriov_vm_cannot_migrate_without_a_free_vf_elsewhere():
    objs = sriov_vm()
    migration = {"kind": "VirtualMachineInstanceMigration", "apiVersion": "kubevirt.io/v1",
                 "metadata": {"name": "mig-1", "namespace": NS, "uid": "mig-uid",
                              "creationTimestamp": "2026-11-28T09:00:00Z"},
                 "spec": {"vmiName": "fast"}, "status": {"phase": "Pending"}}
    target = pod("virt-launcher-fast-target", {"kubevirt.io": "virt-launcher", "kubevirt.io/migrationJobUID": "mig-uid"},
                 "")
    target["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                                            "reason": "Unschedulable",
                                                            "message": "0/2 nodes are available: 1 Insufficient "
                                                                       "openshift.io/intelnics."}]}
    nodes = [node("node01", {"openshift.io/intelnics": "8"}), node("node02", {"cpu": "32"})]
    snap = snapshot(objs + [nad("sriov-net", resource="openshift.io/intelnics"), migration, target], nodes=nodes,
                    all_pods=[objs[2]], webhooks=[])
    rep = report(snap, "fast", checks=["sriov"])
    row = rep["sriov"]["interfaces"][0]
    assert row["resource_name"] == "openshift.io/intelnics"
    assert row["nodes"] == [{"name": "node01", "allocatable": 8, "used": 1, "free": 7, "ready": True}]
    assert row["migration_targets"] == []
    assert "no node other than node01" in by_code(rep, "sriov-no-migration-target")["message"]
    assert "Insufficient openshift.io/intelnics" in by_code(rep, "migration-stuck")["message"]


def test_sriov_resource_mismatch_and_missing_request():
    objs = sriov_vm()
    objs[2]["spec"]["containers"][0].pop("resources")
    nodes = [node("node01", {"kubevirt.io/sriov_net": "4"})]
    snap = snapshot(objs + [nad("sriov-net", resource="openshift.io/intelnics")], nodes=nodes, all_pods=[],
                    webhooks=[])
    rep = report(snap, "fast", checks=["sriov"])
    item = by_code(rep, "sriov-resource-not-offered")
    assert "kubevirt.io/sriov_net" in item["message"] and "no fixed 'kubevirt.io/sriov-net'" in item["fix"]
    nodes = [node("node01", {"openshift.io/intelnics": "4"}), node("node02", {"openshift.io/intelnics": "4"})]
    snap = snapshot(objs + [nad("sriov-net", resource="openshift.io/intelnics")], nodes=nodes, all_pods=[],
                    webhooks=[])
    rep = report(snap, "fast", checks=["sriov"])
    item = by_code(rep, "sriov-not-requested")
    assert "network-resources-injector, which is not installed" in item["message"]
    assert rep["sriov"]["interfaces"][0]["migration_targets"] == ["node02"]
    no_annotation = snapshot(objs + [nad("sriov-net")], nodes=nodes, all_pods=[], webhooks=[])
    rep = report(no_annotation, "fast", checks=["sriov"])
    assert "sriov-nad-without-resource" in codes(rep, "error")


# ------------------------------------------------------- topology and impact
def test_topology_and_flows():
    objs = running("a", ip="10.244.1.1", ifaces=BRIDGE_NET[0], networks=BRIDGE_NET[1]) + \
        running("b", ip="10.244.1.2")
    snap = snapshot(objs + [nad("data-net"), service("b", {"app": "b"}),
                            netpol("b-in", {"matchLabels": {"app": "b"}}, ingress=[{"ports": [{"port": 80}]}])])
    result = report_all(snap)
    topo = result["topology"]
    kinds = {n["kind"] for n in topo["nodes"]}
    assert kinds == {"vm", "net", "svc", "policy"}
    edge_kinds = sorted(e["kind"] for e in topo["edges"])
    assert edge_kinds.count("attaches") == 3 and "selects" in edge_kinds and "isolates" in edge_kinds
    flows = [e for e in topo["edges"] if e["kind"].startswith("flow")]
    assert len(flows) == 1 and flows[0]["kind"] == "flow-allowed" and flows[0]["label"] == "allowed TCP/80"
    assert all(n["id"].replace("_", "").isalnum() for n in topo["nodes"])


def test_policy_impact_preview():
    objs = running("a", ip="10.244.1.1") + running("b", ip="10.244.1.2")
    snap = snapshot(objs + [service("b", {"app": "b"})])
    pending = [{"metadata": {"name": "deny-all", "namespace": NS},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
               {"metadata": {"name": "bad", "namespace": NS},
                "spec": {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.1/8"}}]}]}}]
    result = doctor_diagnose.diagnose(snap, checks=["reachability"], pending_policies=pending)
    impact = result["impact"]
    flows = {(f["source"], f["destination"]) for f in impact["newly_denied"]}
    assert ("VM vms/a", "VM vms/b") in flows and ("VM vms/b", "VM vms/a") in flows
    # egress to 10.0.0.0/8 stays allowed: "bad" allows it (policies add up); ingress from there is denied
    assert ("VM vms/a", "10.0.0.1/8") not in flows and ("10.0.0.1/8", "VM vms/a") in flows
    assert any("not a valid CIDR" in p for p in impact["problems"])
    assert impact["newly_allowed"] == []


# ------------------------------------------------------------ runner input
@pytest.mark.parametrize("params,text", [
    ({"vm": "x"}, "give namespace too"),
    ({"namespace": "Bad_NS"}, "namespace: 'Bad_NS' is not a valid name"),
    ({"vm_selector": "a=b=c"}, "vm_selector"),
    ({"peer": {"vm": "a", "cidr": "10.0.0.0/8", "port": 1}}, "give one of vm, pod_selector, cidr"),
    ({"peer": {"cidr": "10.0.0.300", "port": 1}}, "peer.cidr"),
    ({"peer": {"vm": "a"}}, "peer.port: is required"),
    ({"peer": {"vm": "a", "port": 70000}}, "out of range"),
    ({"peer": {"vm": "a", "port": "Not_A_Name"}}, "neither a port number nor a port name"),
    ({"policies": [{"spec": {}}]}, "metadata.name is required"),
    ({"policies": [{"metadata": {"name": "p"}}]}, "metadata.namespace is required"),
    ({"policies": [{"kind": "Service", "metadata": {"name": "p"}}], "namespace": "vms"}, "is not one of NetworkPolicy, MultiNetworkPolicy"),
])
def test_option_problems(params, text):
    problems = doctor_runner.check_params(params)
    assert any(text in p for p in problems), problems


def test_good_options_have_no_problems():
    assert doctor_runner.check_params({"namespace": "vms", "vm": "web", "peer": {"cidr": "8.8.8.8",
                                                                                 "protocol": "ICMP"}}) == []
    assert doctor_runner.pending_policies({"namespace": "vms", "policies": [{"metadata": {"name": "p"}}]}) == [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "vms"},
         "spec": {"podSelector": {}}}]


def test_labelled_namespace_without_istio_is_one_note_not_eight_errors():
    snap = snapshot(running("plain"), namespaces=[namespace(NS, {"istio-injection": "enabled"})], webhooks=[])
    rep = report(snap, "plain", checks=["istio"])
    assert codes(rep) == ["istio-not-installed"]
    # the VM's own opt-in still counts: then every failed requirement is an error
    objs = running("meant", annotations={"sidecar.istio.io/inject": "true"})
    rep = report(snapshot(objs, webhooks=[]), "meant", checks=["istio"])
    assert "istio-istio-installed" in codes(rep, "error") and "istio-namespace-injection" in codes(rep, "error")
