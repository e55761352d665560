# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The kubevirt_vm_service module's flow.

1. Check the options (no cluster).
2. Read the KubeVirt CR, the namespace's VMs and VMIs (one LIST each) and the
   Service (one GET); pick the VMs; derive the selector (common template labels,
   an explicit one, or ``vmi.kubevirt.io/id``); check it selects no other VM and
   that every target port reaches the guests.  Problems fail before any write.
3. Write the Service through the reconcile engine (recreated when switching
   between headless and not, as clusterIP is immutable); with ``dns`` set the
   VMs' ``subdomain`` through the shared template writer, follow KubeVirt's
   RestartRequired and restart on request.
4. Wait for endpoints (one GET per poll); on timeout fail with a diagnosis.
"""


from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import vm_service as svc
from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError, ApiSession
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import Run
from ansible_collections.kubevirt_net.core.plugins.module_utils.reconcile import (
    CREATE, DELETE, UNCHANGED, Action, Executor, plan)
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import ENDPOINTS, POD, SERVICE, VM, VMI
from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import Deadline
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import DNS1123_SUBDOMAIN, Problems
from ansible_collections.kubevirt_net.core.plugins.module_utils.vm_network import port_name_problem
from ansible_collections.kubevirt_net.core.plugins.module_utils.waits import poll
from ansible_collections.kubevirt_net.core.plugins.module_utils.writes import (
    TemplateWriter, generation_test, restart_required, vmi_running)


class VmService:
    def __init__(self, module: Any) -> None:
        self.module = module
        self.params = dict(module.params)
        self.namespace = self.params["namespace"]
        self.runner = Run(module)
        if not self.params.get("type"):
            self.params["type"] = svc.HEADLESS if self.params["dns"] else "ClusterIP"

    @property
    def session(self) -> ApiSession:
        return self.runner.session

    def fail_problems(self, problems: Problems, **extra: Any) -> None:
        self.runner.fail_problems(problems, **extra)

    # ------------------------------------------------------------ checks
    def check_options(self) -> Problems:
        p = self.params
        problems = Problems()
        name = p["name"]
        if not name or len(name) > 63 or not svc.DNS1035_LABEL.match(name):
            problems.add("task", "name", "%r is not a Service name: a DNS-1035 label (lowercase letters, digits and "
                         "'-', starting with a letter, at most 63)" % (name,))
        problems.dns_label("task", "namespace", self.namespace)
        if p["state"] == "absent":
            return problems
        given = [k for k in ("vm", "vms", "selector") if p.get(k)]
        if len(given) != 1:
            problems.add("task", "vm", "give exactly one of vm, vms (a VM group) or selector (template labels); got %s"
                         % (", ".join(given) or "none"))
        if p["selector_from"] == svc.VMI_ID and not p.get("vm"):
            problems.add("task", "selector_from", "vmi_id selects exactly one VM: use it with vm")
        # label keys and values as the API server checks them, before the first write (issue 19)
        problems.labels("task", "selector", p.get("selector"))
        problems.labels("task", "labels", p.get("labels"))
        problems.labels("task", "annotations", p.get("annotations"), values=False)
        kind = p["type"]
        if p["dns"] and kind != svc.HEADLESS:
            problems.add("task", "type", "dns=true makes this Service the VMs' subdomain, which must be a headless "
                         "Service; drop type or set type=headless (create a second Service for %s)" % kind)
        ports = p.get("ports") or []
        if not ports and kind != svc.HEADLESS:
            problems.add("task", "ports", "a %s Service needs at least one port" % kind)
        names = [q.get("name") for q in ports]
        if len(ports) > 1 and not all(names):
            problems.add("task", "ports", "every port needs a name when a Service has several ports")
        for index, port in enumerate(ports):
            field = "ports[%d]" % index
            problems.int_range("task", field + ".port", port.get("port"), 1, 65535)
            target = port.get("target_port")
            if target not in (None, ""):
                if isinstance(target, int) or str(target).isdigit():
                    problems.int_range("task", field + ".target_port", int(target), 1, 65535)
                elif port_name_problem(str(target)):
                    problems.add("task", field + ".target_port", "%r is neither a port number nor a port name (%s)"
                                 % (target, port_name_problem(str(target))))
            if port.get("name") and port_name_problem(port["name"]):
                problems.add("task", field + ".name", "%r %s" % (port["name"], port_name_problem(port["name"])))
            if port.get("node_port") is not None:
                if kind not in ("NodePort", "LoadBalancer"):
                    problems.add("task", field + ".node_port", "is only for NodePort and LoadBalancer Services")
                problems.int_range("task", field + ".node_port", port["node_port"], 30000, 32767,
                                   " (the default service-node-port-range)")
        for name in sorted(set(n for n in names if n and names.count(n) > 1)):
            problems.add("task", "ports", "port name %r is used twice" % name)
        keys = [(q.get("protocol") or "TCP", q.get("port")) for q in ports]
        if len(set(keys)) < len(keys):
            problems.add("task", "ports", "the same port and protocol are listed twice")
        if p.get("external_traffic_policy") and kind not in ("NodePort", "LoadBalancer"):
            problems.add("task", "external_traffic_policy", "applies to NodePort and LoadBalancer Services only")
        if p.get("session_affinity_timeout") is not None:
            if p["session_affinity"] != "ClientIP":
                problems.add("task", "session_affinity_timeout", "needs session_affinity=ClientIP")
            problems.int_range("task", "session_affinity_timeout", p["session_affinity_timeout"], 1, 86400)
        if not DNS1123_SUBDOMAIN.match(p["cluster_domain"].strip(".")):
            problems.add("task", "cluster_domain", "%r is not a DNS domain" % p["cluster_domain"])
        if p["restart"] and not p["wait"]:
            problems.add("task", "restart", "needs wait=true (the module restarts when KubeVirt reports "
                         "RestartRequired)")
        return problems

    def pick(self, problems: Problems, vms: List[Dict[str, Any]],
             kv: KubeVirtInfo) -> Tuple[List[Dict[str, Any]], Dict[str, str]]:
        """(group of VMs, selector)."""
        p = self.params
        by_name = dict((v["metadata"]["name"], v) for v in vms)
        names = [p["vm"]] if p.get("vm") else list(p.get("vms") or [])
        for name in names:
            if name not in by_name:
                problems.add("task", "vm" if p.get("vm") else "vms", "VirtualMachine %s/%s not found"
                             % (self.namespace, name))
        if problems:
            return [], {}
        if p.get("selector"):
            selector = dict(p["selector"])
            group = [v for v in vms if svc.matches(selector, svc.template_labels(v))]
            return group, selector
        group = [by_name[n] for n in names]
        if p["selector_from"] == svc.VMI_ID:
            if not kv.at_least(1, 7):
                problems.add("task", "selector_from", "the vmi.kubevirt.io/id pod label exists from KubeVirt 1.7; "
                             "this cluster runs %s: use template labels" % kv.version_text)
            return group, {svc.VMI_ID_LABEL: svc.vmi_id(names[0])}
        selector = svc.common_labels(group)
        if not selector:
            problems.add("task", "vms" if p.get("vms") else "vm", "%s no label in spec.template.metadata.labels "
                         "(KubeVirt copies only those to the pod); add one, e.g. app: <name>, or use "
                         "selector_from=vmi_id for a single VM" % ("the VMs share" if len(group) > 1 else "the VM has"))
            return group, {}
        extra = [v["metadata"]["name"] for v in vms if v not in group and svc.matches(selector, svc.template_labels(v))]
        if extra:
            problems.add("task", "vms" if p.get("vms") else "vm", "the selector %s (the template labels %s) also "
                         "selects VirtualMachine %s; give these VMs a label of their own and pass it as selector%s" % (
                             svc.selector_text(selector), "they share" if len(group) > 1 else "of the VM",
                             ", ".join(sorted(extra)), ", or use selector_from=vmi_id" if p.get("vm") else ""))
        return group, selector

    # ------------------------------------------------------------ main
    def run(self) -> None:
        problems = self.check_options()
        if problems:
            self.fail_problems(problems)
        try:
            if self.params["state"] == "absent":
                self.absent()
            self.present()
        except ApiError as err:
            self.runner.fail_api(err)

    def absent(self) -> None:
        current = self.session.get(SERVICE.path(self.namespace, self.params["name"]))
        vms_changed = []
        if self.params["dns"]:
            for vm in self.session.list(VM.path(self.namespace)):
                if vmspec.template_spec(vm).get("subdomain") == self.params["name"]:
                    vms_changed.append(vm)
        changed = current is not None or bool(vms_changed)
        out = dict(changed=changed, method=DELETE if current is not None else UNCHANGED,
                   vms=[{"name": v["metadata"]["name"], "subdomain": None} for v in vms_changed])
        if self.module._diff and current is not None:  # pylint: disable=protected-access
            out["diff"] = {"before": svc.ServiceKind().view(current), "after": {}}
        if not self.module.check_mode:
            if current is not None:
                result = Executor(self.session, svc.ServiceKind()).run([Action(DELETE, None, current)])[0]
                if result.get("error"):
                    raise result["error"]
            writer = TemplateWriter(self.session, self.namespace)
            for vm in vms_changed:
                writer.patch(vm, lambda fresh: subdomain_patch(fresh, None, self.params["name"]))
        self.runner.exit(**out)

    def present(self) -> None:
        p = self.params
        kv = KubeVirtInfo.read(self.session)
        vms = self.session.list(VM.path(self.namespace))
        vmis = self.session.list(VMI.path(self.namespace))
        current = self.session.get(SERVICE.path(self.namespace, p["name"]))
        problems = Problems()
        group, selector = self.pick(problems, vms, kv)
        running = dict((v["metadata"]["name"], v) for v in vmis if vmi_running(v))
        for vm in group:
            svc.check_ports(problems, vm, p.get("ports") or [])
        if problems:
            self.fail_problems(problems)
        desired = svc.manifest(p, selector)
        kind = svc.ServiceKind()
        recreate = svc.needs_recreate(desired, current)
        if recreate:
            actions = [Action(DELETE, None, current), Action(CREATE, desired)]
        else:
            actions = plan(kind, [desired], {(self.namespace, p["name"]): current} if current else {})
        subdomain_vms = [v for v in group if p["dns"] and vmspec.template_spec(v).get("subdomain") != p["name"]]
        svc_changed = any(a.method != UNCHANGED for a in actions)
        # running VMs whose instance lacks the subdomain: their pod has no DNS name until a restart
        stale = [v for v in group if p["dns"] and v["metadata"]["name"] in running
                 and (running[v["metadata"]["name"]].get("spec") or {}).get("subdomain") != p["name"]]
        changed = svc_changed or bool(subdomain_vms) or bool(p["restart"] and stale)
        out: Dict[str, Any] = dict(changed=changed, selector=selector, kubevirt=kv.as_dict(),
                                   method="recreated" if recreate else actions[0].method)
        out["vms"] = [self.vm_entry(v, running, v in subdomain_vms, v in stale) for v in group]
        if p["dns"]:
            out["dns_names"] = [e["dns_name"] for e in out["vms"]]
        if self.module._diff and svc_changed:  # pylint: disable=protected-access
            out["diff"] = {"before": kind.view(current) if current else {}, "after": kind.view(desired)}
        if self.module.check_mode:
            out["service"] = desired if current is None or recreate else kind.expected(desired, current)
            self.runner.exit(**out)
        results = Executor(self.session, kind).run(actions[:1])
        if recreate:
            results += Executor(self.session, kind).run(actions[1:])
        for result in results:
            if result.get("error"):
                # what the server confirmed: the failed write changed nothing (a recreate's delete did)
                out.update(method=result["method"], changed=any(r["method"] != UNCHANGED and not r.get("error")
                                                                for r in results))
                self.runner.fail("Service %s/%s: %s" % (self.namespace, p["name"], result["error"]), **out)
        service = results[-1].get("object") or current
        if not recreate:
            out["method"] = results[0]["method"]
        out["service"] = service
        # one deadline for every wait of the task (restarts, generations, endpoints): wait_timeout
        # bounds the task's waiting as a whole, not each wait on its own
        deadline = Deadline(p["wait_timeout"])
        self.set_subdomains(subdomain_vms, stale, running, out, deadline)
        wait = p["wait_for_endpoints"]
        if wait is None:
            wait = any(v["metadata"]["name"] in running for v in vms
                       if v in group or svc.matches(selector, svc.metadata_labels(v)))
        if wait:
            self.wait_endpoints(selector, group, vms, out, running, deadline)
        self.runner.exit(**out)

    def vm_entry(self, vm: Dict[str, Any], running: Dict[str, Dict[str, Any]], subdomain_change: bool,
                 stale: bool) -> Dict[str, Any]:
        name = vm["metadata"]["name"]
        entry = {"name": name, "running": name in running, "forwarded_ports": svc.forwarded_ports(vm)}
        if self.params["dns"]:
            entry["dns_name"] = svc.dns_name(vm, self.params["name"], self.namespace, self.params["cluster_domain"])
            entry["subdomain_changed"] = subdomain_change
            entry["restart_required"] = stale
        return entry

    def set_subdomains(self, vms: List[Dict[str, Any]], stale: List[Dict[str, Any]], running: Dict[str, Dict[str, Any]],
                       out: Dict[str, Any], deadline: Deadline) -> None:
        """Patch the subdomain into the templates of ``vms``.  A running VM's pod
        keeps the hostname and subdomain it was created with (``stale``: its VMI
        lacks the subdomain), so its DNS name needs a restart - KubeVirt reports
        RestartRequired for the template change; with ``restart`` the module
        restarts it and waits for the new VMI."""
        p = self.params
        writer = TemplateWriter(self.session, self.namespace, p["wait_timeout"], p["wait_sleep"])
        entries = dict((e["name"], e) for e in out["vms"])
        patched = {}
        for vm in vms:
            patched[vm["metadata"]["name"]], _ops = writer.patch(
                vm, lambda fresh: subdomain_patch(fresh, p["name"], None))
        for vm in stale:
            name = vm["metadata"]["name"]
            if p["restart"]:
                writer.restart(name)
                entries[name]["restarted"] = True
                if writer.wait_restarted(name, running[name]["metadata"].get("uid"), deadline) is None:
                    self.runner.fail("VirtualMachine %s/%s was restarted but no new running VMI appeared within %ss"
                                     % (self.namespace, name, p["wait_timeout"]), **out)
                entries[name]["restart_required"] = False
                continue
            after = patched.get(name, vm)
            if p["wait"] and "desiredGeneration" in (after.get("status") or {}):
                seen = writer.observe(name, after["metadata"]["generation"], deadline)
                entries[name]["restart_condition"] = restart_required(seen)
            else:
                entries[name]["restart_condition"] = restart_required(after)

    def wait_endpoints(self, selector: Dict[str, str], group: List[Dict[str, Any]], vms: List[Dict[str, Any]],
                       out: Dict[str, Any], running: Dict[str, Dict[str, Any]], deadline: Deadline) -> None:
        """Wait, within the task's ``deadline`` (reads and sleeps are cut to it), for the endpoints."""
        p = self.params
        expected = max(1, len([v for v in group if v["metadata"]["name"] in running]))
        seen = {"endpoints": None, "ready": []}  # type: Dict[str, Any]

        def probe() -> Optional[bool]:
            try:
                endpoints = self.session.get(ENDPOINTS.path(self.namespace, p["name"]))
            except ApiError:
                endpoints = None
            seen["endpoints"] = endpoints
            seen["ready"] = [a for s in (endpoints or {}).get("subsets") or [] for a in s.get("addresses") or []]
            return True if len(seen["ready"]) >= expected else None

        if poll(probe, deadline, p["wait_sleep"], session=self.session):
            out["endpoints"] = [{"ip": a.get("ip"), "hostname": a.get("hostname"),
                                 "pod": (a.get("targetRef") or {}).get("name"), "node": a.get("nodeName")}
                                for a in seen["ready"]]
            return
        endpoints, ready = seen["endpoints"], seen["ready"]
        out["endpoints"] = [{"ip": a.get("ip"), "pod": (a.get("targetRef") or {}).get("name")} for a in ready]
        pods = self.session.list(POD.path(self.namespace), label_selector=svc.selector_text(selector)) \
            if selector else []
        vms = self.session.list(VM.path(self.namespace))
        vmis = self.session.list(VMI.path(self.namespace))
        reasons = svc.diagnose(selector, vms, vmis, pods, endpoints, p.get("ports") or []) or [
            "only %d of %d expected endpoints are ready" % (len(ready), expected)]
        out["diagnosis"] = reasons
        self.runner.fail("Service %s/%s has %s after %ss: %s" % (
            self.namespace, p["name"], "no ready endpoint" if not ready else "%d of %d endpoints" % (
                len(ready), expected), p["wait_timeout"], "; ".join(reasons)), **out)


def subdomain_patch(vm: Dict[str, Any], subdomain: Optional[str], only_if: Optional[str]) -> List[Dict[str, Any]]:
    """JSON Patch setting (or, with None, removing) the template's subdomain."""
    spec = vmspec.template_spec(vm)
    current = spec.get("subdomain")
    if current == subdomain or (only_if is not None and current != only_if):
        return []
    ops = [generation_test(vm)]
    if subdomain is None:
        ops.append({"op": "remove", "path": "/spec/template/spec/subdomain"})
    else:
        ops.append({"op": "add", "path": "/spec/template/spec/subdomain", "value": subdomain})
    return ops
