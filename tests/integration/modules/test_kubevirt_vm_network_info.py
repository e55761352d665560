"""kubevirt_vm_network_info (the network doctor) against the lab: one
scenario per troubleshooting question of the seed, each answered with the
cause and the fix, and every run proven read-only by the proxy's request log.

VMs run in the lab's KubeVirt emulation (VM -> VMI -> virt-launcher pod with
IP and interface status, hot-plug, MigrationRequired, scheduling by SR-IOV
resource); kube-controller-manager builds the Endpoints from the Ready pods
and the lab resolver answers DNS from them, so Service and DNS answers are
checked against the real controllers.  Plain (non-VM) peer pods and objects
the lab does not model (Istio's injector webhook and CNI DaemonSet) are
created here.
"""

import json
import uuid

from tests.integration.helpers import wait_for

VM_PATH = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines"
VMI_PATH = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances"
NAD_PATH = "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions"
POLICY_PATH = "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
MODULE = "kubevirt_net.core.kubevirt_vm_network_info"


# ------------------------------------------------------------------ objects
def create_vm(lab, ns, name, ifaces=None, networks=None, labels=None, template_labels=None, annotations=None,
              run_strategy="Always", **spec):
    template_spec = {"domain": {"devices": {"interfaces": ifaces or [{"name": "default", "masquerade": {}}]},
                                "resources": {"requests": {"memory": "128Mi"}}},
                     "networks": networks or [{"name": "default", "pod": {}}]}
    template_spec.update(spec)
    template_meta = {"labels": dict(template_labels if template_labels is not None else {"app": name})}
    if annotations:
        template_meta["annotations"] = dict(annotations)
    return lab.request("POST", VM_PATH % ns, {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": {"runStrategy": run_strategy, "template": {"metadata": template_meta, "spec": template_spec}}})


def launcher_pod(lab, ns, vmi):
    pods = lab.request("GET", "/api/v1/namespaces/%s/pods?labelSelector=kubevirt.io%%2Fcreated-by%%3D%s" % (
        ns, vmi["metadata"]["uid"]))["items"]
    return pods[0] if pods else None


def wait_running(lab, ns, name, timeout=180):
    """The emulated VMI Running and its launcher pod Ready with an IP."""
    def probe():
        vmi = lab.request("GET", "%s/%s" % (VMI_PATH % ns, name))
        if (vmi.get("status") or {}).get("phase") != "Running":
            return None
        pod = launcher_pod(lab, ns, vmi)
        if not pod or not (pod.get("status") or {}).get("podIP"):
            return None
        return vmi, pod
    return wait_for(probe, timeout=timeout, message="VM %s/%s running with a pod IP" % (ns, name))


def launch(lab, ns, name, **kwargs):
    """Create a VM with runStrategy Always; return (vm, vmi, pod) once it runs."""
    vm = create_vm(lab, ns, name, **kwargs)
    vmi, pod = wait_running(lab, ns, name)
    return vm, vmi, pod


def create_pod(lab, ns, name, labels, spec, ip, ready=True):
    base = "/api/v1/namespaces/%s/pods" % ns
    spec = dict(spec)
    spec.setdefault("containers", [{"name": "main", "image": "example/app"}])
    lab.request("POST", base, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                               "spec": spec})
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"},
                                                 {"type": "ContainersReady", "status": "True" if ready else "False"}]}
    if ip:
        status.update({"podIP": ip, "podIPs": [{"ip": ip}]})
    lab.request("PATCH", "%s/%s/status" % (base, name), {"status": status}, content_type=MERGE)


def create(lab, path, obj):
    return lab.request("POST", path, obj)


def service(lab, ns, name, selector, ports, svc_type="ClusterIP", **spec):
    body = {"selector": selector, "type": svc_type, "ports": ports}
    body.update(spec)
    return create(lab, "/api/v1/namespaces/%s/services" % ns,
                  {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body})


def policy(lab, ns, name, pod_selector, ingress=None, egress=None, types=None):
    spec = {"podSelector": pod_selector}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    if types:
        spec["policyTypes"] = types
    return create(lab, POLICY_PATH % ns, {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                                          "metadata": {"name": name}, "spec": spec})


def nad(lab, ns, name, resource=None):
    meta = {"name": name}
    if resource:
        meta["annotations"] = {"k8s.v1.cni.cncf.io/resourceName": resource}
    return create(lab, NAD_PATH % ns, {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                                       "metadata": meta, "spec": {"config": json.dumps(
                                           {"cniVersion": "0.3.1", "name": name, "type": "bridge",
                                            "bridge": "br-" + name[:8]})}})


def new_namespace(lab, labels=None):
    name = "t-" + uuid.uuid4().hex[:10]
    lab.request("POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}})
    return name


def ready_endpoints(lab, ns, service_name):
    def probe():
        ep = lab.request("GET", "/api/v1/namespaces/%s/endpoints/%s" % (ns, service_name))
        return [a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []]
    return probe


# ------------------------------------------------------------------ running
def doctor_many(run_playbook, request_log, runs, check=False):
    """Run the module once per options dict in one playbook (failures are
    kept, not fatal); prove nothing was written; return the results."""
    request_log.mark()
    tasks = [{"name": "doctor-%d" % index, MODULE: options, "register": "r%d" % index, "ignore_errors": True}
             for index, options in enumerate(runs)]
    result = run_playbook([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}], check=check)
    assert request_log.writes(include_dry_run=True) == []
    assert {e["method"] for e in request_log.entries()} <= {"GET"}
    out = [result.tasks["doctor-%d" % index] for index in range(len(runs))]
    for res in out:
        assert res["api_requests"]["writes"] == 0 and not res.get("changed")
    return out


def doctor(run_playbook, request_log, check=False, **options):
    return doctor_many(run_playbook, request_log, [options], check=check)[0]


def vm_report(res, name):
    return next(r for r in res["vms"] if r["name"] == name)


def find(report, code):
    matches = [f for f in report["findings"] if f["code"] == code]
    assert matches, "no %s finding in %s" % (code, [(f["code"], f["message"]) for f in report["findings"]])
    return matches[0]


def codes(report, severity=None):
    return {f["code"] for f in report["findings"] if severity is None or f["severity"] == severity}


# ---------------------------------------------------------------- scenarios
def test_q2_nodeport_service_selecting_vm_labels(lab, namespace, run_playbook, request_log):
    """Seed question 2: NodePort unreachable.  The Service selects the VM
    object's label; the real endpoints controller gives it no address, and
    the doctor says why.  A second Service selects the template label but
    targets a port the masquerade ports list does not forward."""
    _vm, _vmi, pod = launch(lab, namespace, "web", labels={"app": "web-vm"},
                            template_labels={"kubevirt.io/domain": "web"},
                            ifaces=[{"name": "default", "masquerade": {}, "ports": [{"port": 22}]}])
    service(lab, namespace, "web-np", {"app": "web-vm"}, [{"port": 80, "targetPort": 8080, "nodePort": 30180}],
            svc_type="NodePort")
    service(lab, namespace, "web-ok", {"kubevirt.io/domain": "web"}, [{"port": 80, "targetPort": 8080}],
            svc_type="NodePort")
    assert wait_for(ready_endpoints(lab, namespace, "web-ok"), timeout=120, message="endpoints of web-ok") == [
        pod["status"]["podIP"]]
    assert ready_endpoints(lab, namespace, "web-np")() == []   # the real controller agrees: no endpoint

    res = doctor(run_playbook, request_log, namespace=namespace, checks=["services"])
    report = vm_report(res, "web")
    wrong = find(report, "service-selects-vm-labels")
    assert wrong["severity"] == "error" and wrong["service"] == "web-np"
    assert "selector matches VM labels, not template labels" in wrong["message"]
    assert "spec.template.metadata.labels" in wrong["fix"]
    port = find(report, "port-not-forwarded")
    assert port["service"] == "web-ok" and "TCP/8080" in port["message"] and "port: 8080" in port["fix"]
    node_port = find(report, "node-port")
    assert "192.168.66.101" in node_port["message"]     # the lab's node addresses
    ok = next(s for s in report["services"]["services"] if s["name"] == "web-ok")
    assert ok["endpoints"]["includes_vm"] and ok["ports"][0]["forwarded"] is False
    assert res["summary"]["findings"]["error"] == 2


def test_q1_vm_cannot_reach_pod_reachability_with_deciding_policies(lab, namespace, run_playbook, request_log):
    """Seed question 1: the VM cannot ping a pod.  An egress policy allows
    only TCP 5432 to the database namespace: ping is denied, and 5432 is
    denied by the database's ingress until that policy admits the VM's
    namespace.  The secondary network is outside NetworkPolicy."""
    other = new_namespace(lab, {"team": "db"})
    try:
        nad(lab, namespace, "data-net")
        launch(lab, namespace, "app", ifaces=[{"name": "default", "masquerade": {}}, {"name": "data", "bridge": {}}],
               networks=[{"name": "default", "pod": {}}, {"name": "data", "multus": {"networkName": "data-net"}}])
        create_pod(lab, other, "postgres-0", {"app": "db"}, {"nodeName": "node02"}, "10.244.250.7")
        policy(lab, namespace, "app-egress", {"matchLabels": {"app": "app"}}, types=["Egress"], egress=[
            {"to": [{"namespaceSelector": {"matchLabels": {"team": "db"}},
                     "podSelector": {"matchLabels": {"app": "db"}}}],
             "ports": [{"protocol": "TCP", "port": 5432}]}])
        policy(lab, other, "db-ingress", {"matchLabels": {"app": "db"}}, ingress=[
            {"from": [{"podSelector": {"matchLabels": {"app": "app"}}}]}])   # its own namespace only: wrong

        peer = {"pod_selector": "app=db", "namespace": other}
        ask = {"namespace": namespace, "vm": "app", "checks": ["reachability"], "direction": "egress"}
        ping_run, port_run = doctor_many(run_playbook, request_log, [dict(ask, peer=dict(peer, protocol="ICMP")),
                                                                     dict(ask, peer=dict(peer, port=5432))])
        report = vm_report(ping_run, "app")
        ping = report["reachability"]["results"][0]
        # both ends refuse ICMP: the VM's egress names only TCP 5432, the database admits only its namespace
        assert ping["outcome"] == "denied"
        assert ping["deciding_policies"] == ["%s/app-egress" % namespace, "%s/db-ingress" % other]
        assert "ICMP is not a NetworkPolicy protocol" in " ".join(ping["reasons"])
        assert "data" in find(report, "secondary-networks-unfiltered")["message"]

        denied = find(vm_report(port_run, "app"), "peer-denied-egress")
        # the VM's egress allows 5432, but the database's ingress admits only its own namespace
        assert denied["deciding_policies"] == ["%s/db-ingress" % other]
        fix = denied["fix_policies"][0]
        assert fix["metadata"]["namespace"] == other and fix["spec"]["policyTypes"] == ["Ingress"]
        assert fix["spec"]["ingress"][0]["from"][0]["podSelector"] == {"matchLabels": {"app": "app"}}
        assert fix["spec"]["ingress"][0]["from"][0]["namespaceSelector"] == {
            "matchLabels": {"kubernetes.io/metadata.name": namespace}}

        lab.request("PATCH", POLICY_PATH % other + "/db-ingress", {"spec": {"ingress": [{"from": [
            {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "app"}}}]}]}}, content_type=MERGE)
        res = doctor(run_playbook, request_log, **dict(ask, peer=dict(peer, port=5432)))
        allowed = vm_report(res, "app")["reachability"]["results"][0]
        assert allowed["outcome"] == "allowed"
        assert allowed["deciding_policies"] == ["%s/app-egress" % namespace, "%s/db-ingress" % other]
    finally:
        lab.request("DELETE", "/api/v1/namespaces/" + other)


def test_q3_hotplug_network_not_found_and_pending_plug(lab, namespace, run_playbook, request_log):
    """Seed question 3: hot-plug fails with "network not found".  The NAD
    lives in another namespace; the plug waits for a migration that cannot
    come (no dynamic-networks controller, LiveMigrate off); an interface with
    a binding plugin was added too, which KubeVirt applies only at the next start,
    and the model of an existing interface changed, which needs a restart."""
    other = new_namespace(lab)
    before = lab.get_config()
    try:
        nad(lab, other, "storage-net")
        vm, _vmi, _pod = launch(lab, namespace, "db")
        lab.set_config(workload_update_methods=[], dynamic_networks=False)
        wait_for(lambda: not lab.request("GET", "/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts/kubevirt")[
            "spec"].get("workloadUpdateStrategy", {}).get("workloadUpdateMethods"), timeout=120,
            message="LiveMigrate removed from the KubeVirt CR")
        wait_for(lambda: not lab.request("GET", "/apis/apps/v1/daemonsets?labelSelector=app%3Ddynamic-networks-"
                                                "controller")["items"], timeout=120,
                 message="the dynamic-networks controller gone")
        template = vm["spec"]["template"]["spec"]
        lab.request("PATCH", VM_PATH % namespace + "/db", [
            {"op": "test", "path": "/spec/template/spec/networks", "value": template["networks"]},
            {"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/-",
             "value": {"name": "storage", "bridge": {}}},
            {"op": "add", "path": "/spec/template/spec/networks/-",
             "value": {"name": "storage", "multus": {"networkName": "storage-net"}}},
            # an interface KubeVirt cannot hot-plug (binding plugin): it waits for the next start
            {"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/-",
             "value": {"name": "tap", "binding": {"name": "macvtap"}}},
            {"op": "add", "path": "/spec/template/spec/networks/-",
             "value": {"name": "tap", "multus": {"networkName": "%s/storage-net" % other}}},
            # a change to an existing interface is not live-updatable: RestartRequired
            {"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/0/model", "value": "e1000"}],
            content_type=JSON_PATCH)
        wait_for(lambda: [c for c in lab.request("GET", VMI_PATH % namespace + "/db")["status"].get("conditions", [])
                          if c["type"] == "MigrationRequired" and c["status"] == "True"], timeout=120,
                 message="MigrationRequired on the VMI")
        wait_for(lambda: [c for c in lab.request("GET", VM_PATH % namespace + "/db")["status"].get("conditions", [])
                          if c["type"] == "RestartRequired"], timeout=120, message="RestartRequired on the VM")

        res = doctor(run_playbook, request_log, namespace=namespace, vm="db", checks=["interfaces", "hotplug"])
        report = vm_report(res, "db")
        missing = [f for f in report["findings"] if f["code"] == "nad-missing"]
        assert len(missing) == 1 and missing[0]["nad"] == "%s/storage-net" % namespace
        assert "network not found" in missing[0]["message"] and missing[0]["elsewhere"] == ["%s/storage-net" % other]
        assert "networkName: %s/storage-net" % other in missing[0]["fix"]
        assert "storage" in find(report, "hotplug-not-finished")["message"]
        assert "AutoMigrationDueToLiveUpdate" in find(report, "migration-required")["message"]
        assert "workloadUpdateMethods" in find(report, "hotplug-blocked")["fix"]
        assert "tap" in find(report, "restart-to-apply")["message"]
        assert "non-live-updatable" in find(report, "restart-required")["message"]
        hotplug = report["hotplug"]
        assert not hotplug["operations"]["plug_bridge"]["possible"]
        assert hotplug["dynamic_networks_controller"] is False and hotplug["kubevirt_version"] == "v1.9.0"
        assert hotplug["unpluggable"] == ["storage"]
    finally:
        lab.set_config(workload_update_methods=before["workload_update_methods"],
                       dynamic_networks=before["dynamic_networks"])
        lab.request("DELETE", "/api/v1/namespaces/" + other)


def test_q4_istio_requirements(lab, run_playbook, request_log):
    """Seed question 4: a VM outside the Istio mesh although its namespace is
    labelled.  Istio's injector webhook and CNI DaemonSet are created here
    (inert: the webhook selects no namespace); the lab injects istio-proxy
    into launcher pods of annotated VMIs when its istio capability is on.
    One VM has only the label, a bridge binding, an Istio port and no
    Service; the other meets all eight requirements and is in the mesh."""
    ns = new_namespace(lab, {"istio-injection": "enabled"})
    webhook = "istio-sidecar-injector-" + ns
    before = lab.get_config()["istio"]
    try:
        lab.set_config(istio=True)
        lab.request("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", {
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": webhook},
            "webhooks": [{"name": "namespace.sidecar-injector.istio.io", "admissionReviewVersions": ["v1"],
                          "sideEffects": "None", "failurePolicy": "Ignore",
                          "clientConfig": {"url": "https://127.0.0.1:9/inject"},
                          "namespaceSelector": {"matchLabels": {"never-match": ns}},
                          "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                     "resources": ["pods"]}]}]})
        lab.request("POST", "/apis/apps/v1/namespaces/%s/daemonsets" % ns, {
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "istio-cni-node", "labels": {"k8s-app": "istio-cni-node"}},
            "spec": {"selector": {"matchLabels": {"k8s-app": "istio-cni-node"}},
                     "template": {"metadata": {"labels": {"k8s-app": "istio-cni-node"}},
                                  "spec": {"containers": [{"name": "cni", "image": "istio/install-cni"}]}}}})
        launch(lab, ns, "mesh-bad", template_labels={"app": "bad", "sidecar.istio.io/inject": "true"},
               ifaces=[{"name": "default", "bridge": {}, "ports": [{"port": 8080}, {"port": 15001}]}])
        launch(lab, ns, "mesh-good", template_labels={"app": "good"},
               annotations={"sidecar.istio.io/inject": "true"},
               ifaces=[{"name": "default", "masquerade": {}, "ports": [{"name": "http", "port": 8080}]}])
        service(lab, ns, "good", {"app": "good"}, [{"port": 8080, "targetPort": "http", "name": "http"}])

        res = doctor(run_playbook, request_log, namespace=ns, checks=["istio"])
        bad = vm_report(res, "mesh-bad")
        passed = {r["id"]: r["passed"] for r in bad["istio"]["requirements"]}
        assert passed == {"istio_installed": True, "istio_cni": True, "namespace_injection": True,
                          "vm_annotation": False, "binding": False, "ipv4": True, "reserved_ports": False,
                          "service": False}
        assert codes(bad, "error") == {"istio-vm-annotation", "istio-binding", "istio-reserved-ports",
                                       "istio-service"}
        assert "only the label is set" in find(bad, "istio-vm-annotation")["message"]
        # Istio injects the pod anyway (labelled namespace), but KubeVirt skips its Istio network setup
        assert bad["istio"]["sidecar_injected"] is True and "in-mesh" not in codes(bad)
        good = vm_report(res, "mesh-good")
        assert good["istio"]["failed"] == [] and good["istio"]["sidecar_injected"] is True
        assert "in-mesh" in codes(good)
    finally:
        lab.set_config(istio=before)
        lab.request("DELETE", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/" + webhook)
        lab.request("DELETE", "/api/v1/namespaces/" + ns)


def test_q5_sriov_resource_and_migration_target(lab, namespace, run_playbook, request_log):
    """Seed question 5: "SR-IOV device not available".  The lab's node01
    offers 8 openshift.io/intelnics VFs, node02 none: a VM on them runs on
    node01 and has nowhere to migrate; a VM whose NAD names the seed's
    'kubevirt.io/sriov-net' cannot be scheduled at all."""
    nad(lab, namespace, "sriov-net", resource="openshift.io/intelnics")
    nad(lab, namespace, "seed-net", resource="kubevirt.io/sriov-net")
    sriov = {"ifaces": [{"name": "default", "masquerade": {}}, {"name": "vf", "sriov": {}}]}
    launch(lab, namespace, "fast", networks=[{"name": "default", "pod": {}},
                                             {"name": "vf", "multus": {"networkName": "sriov-net"}}], **sriov)
    create_vm(lab, namespace, "seed", networks=[{"name": "default", "pod": {}},
                                                {"name": "vf", "multus": {"networkName": "seed-net"}}], **sriov)
    wait_for(lambda: [c for c in (lab.request("GET", VMI_PATH % namespace + "/seed").get("status") or {}).get(
        "conditions", []) if c["type"] == "PodScheduled" and c["status"] == "False"], timeout=120,
        message="the seed VM unschedulable")

    res = doctor(run_playbook, request_log, namespace=namespace, checks=["interfaces", "sriov"])
    fast = vm_report(res, "fast")
    row = fast["sriov"]["interfaces"][0]
    assert row["resource_name"] == "openshift.io/intelnics" and fast["node"] == "node01"
    # the launcher pod requests a VF (the lab models network-resources-injector as deployed), so node01 has one less
    [node01] = row["nodes"]
    assert (node01["name"], node01["allocatable"]) == ("node01", 8) and node01["used"] >= 1
    assert node01["free"] == 8 - node01["used"]
    assert row["migration_targets"] == [] and "sriov-not-requested" not in codes(fast)
    assert "no node other than node01" in find(fast, "sriov-no-migration-target")["message"]
    seed = vm_report(res, "seed")
    offered = find(seed, "sriov-resource-not-offered")
    assert "no node offers kubevirt.io/sriov-net" in offered["message"]
    assert "openshift.io/intelnics" in offered["message"] and "no fixed 'kubevirt.io/sriov-net'" in offered["fix"]
    assert "Insufficient kubevirt.io/sriov-net" in find(seed, "vmi-unschedulable")["message"]
    # the reads stay bounded: node and pod usage are one cluster-wide LIST each
    assert sum(1 for r in res["reads"] if r.startswith("/api/v1/nodes")) == 1
    assert sum(1 for r in res["reads"] if r.startswith("/api/v1/pods")) == 1


def test_q6_dns_name_resolves_and_egress_policy_blocks_dns(lab, namespace, run_playbook, request_log):
    """Seed question 6: DNS fails.  The doctor's DNS name for the VM is the
    one the lab resolver answers (and <vm>.<ns>.svc is not a record); an
    egress policy that forgot port 53 is named as the cause, with a fix."""
    _vm, _vmi, pod = launch(lab, namespace, "www", subdomain="site", hostname="www1")
    service(lab, namespace, "site", {"app": "www"}, [{"port": 80}], clusterIP="None")
    policy(lab, namespace, "www-egress", {"matchLabels": {"app": "www"}}, types=["Egress"],
           egress=[{"ports": [{"protocol": "TCP", "port": 443}]}])
    wait_for(ready_endpoints(lab, namespace, "site"), timeout=120, message="endpoints of the headless Service")

    res = doctor(run_playbook, request_log, namespace=namespace, checks=["dns"])
    report = vm_report(res, "www")
    fqdn = report["dns"]["fqdn"]
    assert fqdn == "www1.site.%s.svc.cluster.local" % namespace

    def ask(name):
        return lab.request("GET", "/_lab/dns?name=%s&type=A" % name, direct=False)

    answer = wait_for(lambda: ask(fqdn)["answers"], timeout=120, message=fqdn)
    assert [a["data"] for a in answer] == [pod["status"]["podIP"]]
    assert ask("www.%s.svc.cluster.local" % namespace)["rcode"] == "NXDOMAIN"
    assert "is NOT a record" not in " ".join(f["message"] for f in report["findings"])   # it has a name
    blocked = find(report, "dns-egress-denied")
    assert blocked["deciding_policies"] == ["%s/www-egress" % namespace]
    assert blocked["fix_policies"][0]["spec"]["egress"][0]["ports"] == [
        {"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert report["dns"]["dns_policy"] == "ClusterFirst"
    assert report["dns"]["resolv_conf"]["searches"][0] == "%s.svc.cluster.local" % namespace


def test_stopped_vms_cost_no_extra_reads(lab, namespace, run_playbook, request_log):
    """Many VMs cost the same reads as one: one LIST per kind, no per-VM request."""
    for index in range(4):
        create_vm(lab, namespace, "vm-%d" % index, run_strategy="Halted")
    launch(lab, namespace, "live")
    # in check mode too: the module never writes, so it runs the same
    res, one = doctor_many(run_playbook, request_log, [{"namespace": namespace},
                                                       {"namespace": namespace, "vm": "vm-1"}], check=True)
    assert [r["name"] for r in res["vms"]] == ["live", "vm-0", "vm-1", "vm-2", "vm-3"]
    assert vm_report(res, "vm-0")["running"] is False and "vm-not-running" in codes(vm_report(res, "vm-0"))
    assert vm_report(res, "live")["running"] and vm_report(res, "live")["pod_ips"]
    paths = [e["path"] for e in request_log.entries()]
    assert not [p for p in paths if "/vm-" in p or p.endswith("/live")]
    # kubernetes.core's client reads discovery (/version, /apis) itself when its cache is cold: not the module's
    reads = [p for p in paths if p not in ("/apis", "/api")]
    assert len(reads) - 2 <= res["api_requests"]["total"] + one["api_requests"]["total"] <= len(reads), paths
    assert res["api_requests"]["total"] <= 20
    assert [r["name"] for r in one["vms"]] == ["vm-1"]


def test_all_namespaces_lists_each_kind_once(lab, namespace, run_playbook, request_log):
    launch(lab, namespace, "everywhere", labels={"doctor": namespace})
    res = doctor(run_playbook, request_log, vm_selector="doctor=%s" % namespace, checks=["interfaces", "services"])
    assert [(r["namespace"], r["name"]) for r in res["vms"]] == [(namespace, "everywhere")]
    assert vm_report(res, "everywhere")["running"]
    vmi_lists = [e for e in request_log.entries() if e["path"] == "/apis/kubevirt.io/v1/virtualmachineinstances"]
    assert len(vmi_lists) == 1


def test_policy_impact_preview_writes_nothing(lab, namespace, run_playbook, request_log):
    launch(lab, namespace, "a")
    launch(lab, namespace, "b")
    service(lab, namespace, "b", {"app": "b"}, [{"port": 80}])
    res = doctor(run_playbook, request_log, namespace=namespace, checks=["reachability"], policies=[
        {"metadata": {"name": "default-deny"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}])
    denied = {(f["source"], f["destination"], f["port"]) for f in res["impact"]["newly_denied"]}
    assert ("VM %s/a" % namespace, "VM %s/b" % namespace, 80) in denied
    assert res["impact"]["newly_allowed"] == []
    assert lab.request("GET", POLICY_PATH % namespace)["items"] == []


def test_bad_options_and_unknown_vm_fail_cleanly(namespace, run_playbook, request_log):
    bad_vm, bad_peer, ghost = doctor_many(run_playbook, request_log, [
        {"vm": "x"}, {"namespace": namespace, "peer": {"vm": "a"}}, {"namespace": namespace, "vm": "ghost"}])
    for res, text in ((bad_vm, "give namespace too"), (bad_peer, "peer.port: is required")):
        assert res["failed"] and text in res["msg"] and "nothing was read" in res["msg"]
        assert res["api_requests"]["total"] == 0
    assert ghost["failed"] and "VirtualMachine %s/ghost not found" % namespace in ghost["msg"]
    assert len(request_log.entries()) == ghost["api_requests"]["total"]


def test_api_faults_are_retried_or_fail_cleanly(lab, namespace, run_playbook, request_log):
    create_vm(lab, namespace, "flaky", run_strategy="Halted")
    lab.add_fault(method="GET", path="/namespaces/%s/services$" % namespace, action="status", code=503, count=1)
    # an optional read that is forbidden degrades to a note instead of failing
    lab.add_fault(method="GET", path="/mutatingwebhookconfigurations$", action="status", code=403, count=-1)
    res = doctor(run_playbook, request_log, namespace=namespace, checks=["services", "istio"])
    assert res["api_requests"]["retries"] >= 1 and vm_report(res, "flaky")
    assert res["unreadable"][0]["what"] == "mutating webhook configurations"
    assert vm_report(res, "flaky")["istio"]["requirements"][0]["passed"] is None
    lab.clear_faults()
    lab.add_fault(method="GET", path="/namespaces/%s/services$" % namespace, action="status", code=500, count=-1)
    failed = doctor(run_playbook, request_log, namespace=namespace, checks=["services"], api_retries=1)
    assert failed["failed"] and "reading the cluster failed" in failed["msg"] and "services" in failed["msg"]
    assert failed["api_requests"]["retries"] == 1


def test_reachability_per_network_with_multinetworkpolicy_and_admin_tier(lab, namespace, run_playbook, request_log):
    """The pod network answers through the cluster tiers, the storage network
    through its MultiNetworkPolicies; each answer names the deciding object."""
    nad(lab, namespace, "storage")
    on_storage = dict(ifaces=[{"name": "default", "masquerade": {}}, {"name": "storage", "bridge": {}}],
                      networks=[{"name": "default", "pod": {}}, {"name": "storage", "multus": {"networkName": "storage"}}])
    launch(lab, namespace, "client", **on_storage)
    launch(lab, namespace, "server", **on_storage)
    create(lab, "/apis/k8s.cni.cncf.io/v1beta1/namespaces/%s/multi-networkpolicies" % namespace, {
        "apiVersion": "k8s.cni.cncf.io/v1beta1", "kind": "MultiNetworkPolicy",
        "metadata": {"name": "storage-deny", "annotations": {"k8s.v1.cni.cncf.io/policy-for": "storage"}},
        "spec": {"podSelector": {"matchLabels": {"app": "server"}}, "policyTypes": ["Ingress"]}})
    cnp = "guard-" + namespace
    create(lab, "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies", {
        "apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
        "metadata": {"name": cnp}, "spec": {
            "tier": "Admin", "priority": 900, "subject": {"namespaces": {"matchLabels": {
                "kubernetes.io/metadata.name": namespace}}},
            "ingress": [{"name": "no-ssh", "action": "Deny", "from": [{"namespaces": {}}],
                         "protocols": [{"tcp": {"destinationPort": {"number": 22}}}]}]}})
    try:
        res = doctor(run_playbook, request_log, namespace=namespace, vm="server", checks=["reachability"],
                     peer={"vm": "client", "port": 22}, direction="ingress")
    finally:
        lab.request("DELETE", "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies/" + cnp)
    rows = dict((r["network"], r) for r in vm_report(res, "server")["reachability"]["networks"])
    assert set(rows) == {"pod", "%s/storage" % namespace}
    pod = rows["pod"]["results"][0]
    assert (pod["outcome"], pod["tier"]) == ("denied", "Admin")
    assert pod["deciding"] == ["ClusterNetworkPolicy %s ingress rule 0 'no-ssh' (Deny)" % cnp]
    storage = rows["%s/storage" % namespace]["results"][0]
    assert (storage["outcome"], storage["deciding"]) == ("denied", ["MultiNetworkPolicy %s/storage-deny" % namespace])
    # the reads stay one LIST per kind: MultiNetworkPolicies of the namespace, discovery, ClusterNetworkPolicies
    reads = res["reads"]
    assert reads.count("/apis/k8s.cni.cncf.io/v1beta1/namespaces/%s/multi-networkpolicies" % namespace) == 1
    assert reads.count("/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies") == 1
    assert request_log.writes() == []


def test_egress_on_a_multus_network_is_decided_by_the_senders_policy(lab, namespace, run_playbook, request_log):
    """Egress from a VM on a secondary network: the sender's MultiNetworkPolicy
    for that network decides (port 443 to the server allowed, 22 not), while
    the pod network, which no policy selects, stays open."""
    nad(lab, namespace, "storage")
    on_storage = dict(ifaces=[{"name": "default", "masquerade": {}}, {"name": "storage", "bridge": {}}],
                      networks=[{"name": "default", "pod": {}}, {"name": "storage", "multus": {"networkName": "storage"}}])
    launch(lab, namespace, "client", **on_storage)
    launch(lab, namespace, "server", **on_storage)
    create(lab, "/apis/k8s.cni.cncf.io/v1beta1/namespaces/%s/multi-networkpolicies" % namespace, {
        "apiVersion": "k8s.cni.cncf.io/v1beta1", "kind": "MultiNetworkPolicy",
        "metadata": {"name": "client-egress", "annotations": {"k8s.v1.cni.cncf.io/policy-for": "storage"}},
        "spec": {"podSelector": {"matchLabels": {"app": "client"}}, "policyTypes": ["Egress"],
                 "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "server"}}}],
                             "ports": [{"protocol": "TCP", "port": 443}]}]}})
    ssh, https = doctor_many(run_playbook, request_log, [
        dict(namespace=namespace, vm="client", checks=["reachability"], peer={"vm": "server", "port": port},
             direction="egress") for port in (22, 443)])
    storage = "%s/storage" % namespace
    for res, outcome in ((ssh, "denied"), (https, "allowed")):
        rows = dict((r["network"], r) for r in vm_report(res, "client")["reachability"]["networks"])
        assert set(rows) == {"pod", storage}, rows
        assert rows["pod"]["results"][0]["outcome"] == "allowed", rows["pod"]
        result = rows[storage]["results"][0]
        # denied: the isolating policy; allowed: its rule that selects the server by its pod labels
        assert result["outcome"] == outcome and result["tier"] == "MultiNetworkPolicy", json.dumps(result)
        assert result["deciding"] == ["MultiNetworkPolicy %s/client-egress%s" % (
            namespace, " rule 0 (pods app=server)" if outcome == "allowed" else "")], json.dumps(result)
