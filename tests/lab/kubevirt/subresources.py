"""KubeVirt's aggregated API ``subresources.kubevirt.io/v1``, served by the lab
proxy (this kube-apiserver cannot route an APIService) and added to its
discovery.  Behaviour and messages of KubeVirt v1.9.0's virt-api
(``pkg/virt-api/rest/lifecycle.go``, ``subresource.go``):

- ``PUT .../virtualmachines/{name}/start|stop|restart|migrate`` -> 202.
  start: 409 ``VM is already running`` while a VMI is up; ``Halted`` becomes
  ``Always`` (or ``running: true``); ``Manual``/``RerunOnFailure`` get a Start
  state change request; ``Always``/``Once``: 409 ``<strategy> does not
  support manual start requests``.  stop: ``Always``/``Once`` become
  ``Halted`` (or ``running: false``); ``Manual``/``RerunOnFailure`` get a Stop
  request for the VMI; 409 ``VM is not running`` without one.  restart: a
  Stop+Start request pair (409 for ``Halted``/``Once`` or without a VMI).
  migrate: a VirtualMachineInstanceMigration ``kubevirt-migrate-vm-<random>``
  (409 ``VM is not running`` unless the VMI runs).  Status changes are JSON
  patches with a ``test`` of the current requests, as virt-api writes them.
- ``GET .../virtualmachineinstances/{name}/guestosinfo|interfacelist``: what
  the guest agent reports (409 unless the VMI runs with an agent).

Callers authenticate and are authorized the way the API server does it for
an aggregated API: the bearer token goes through a TokenReview, then a
SubjectAccessReview for verb ``update`` (``get`` for the VMI reads) on e.g.
``virtualmachines/start`` in group ``subresources.kubevirt.io`` - the lab's
read-only viewer gets 403.  The change itself is made with the emulator's own
identity, as virt-api uses its service account.
"""

import json
import re

from . import net_spec
from .kapi import KubeError, NotFound
from .net_base import condition_is
from .vm import run_strategy, vm_path, vmi_path


GROUP = "subresources.kubevirt.io"
PREFIX = "/apis/%s/v1/" % GROUP
VM_ACTIONS = ("start", "stop", "restart", "migrate")
VMI_READS = ("guestosinfo", "interfacelist")
ROUTE = re.compile(r"^/apis/subresources\.kubevirt\.io/v1/namespaces/([^/]+)/"
                   r"(virtualmachines|virtualmachineinstances)/([^/]+)/([a-z-]+)$")
JSON = {"Content-Type": "application/json"}


class StatusError(Exception):
    """A Kubernetes Status answer."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def response(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return self.code, JSON, json.dumps(body).encode()


def conflict(kind, name, why):
    return StatusError(409, "Conflict", 'Operation cannot be fulfilled on %s.kubevirt.io "%s": %s' % (kind, name, why),
                       {"name": name, "group": "kubevirt.io", "kind": kind})


def not_found(kind, name):
    return StatusError(404, "NotFound", '%s.kubevirt.io "%s" not found' % (kind, name),
                       {"name": name, "group": "kubevirt.io", "kind": kind})


def bad_request(message):
    return StatusError(400, "BadRequest", message)


def change_request_patch(vm, *changes):
    """getChangeRequestJson: append to empty requests, or replace a lone Stop."""
    status = vm.get("status") or {}
    current = status.get("stateChangeRequests") or []
    if not status:
        return [{"op": "add", "path": "/status", "value": {"stateChangeRequests": list(changes)}}]
    if not current:
        ops = [{"op": "add", "path": "/status/stateChangeRequests", "value": list(changes)}]
    elif len(changes) == 1 and changes[0]["action"] == "Stop":
        ops = [{"op": "test", "path": "/status/stateChangeRequests", "value": current},
               {"op": "replace", "path": "/status/stateChangeRequests", "value": list(changes)}]
    else:
        raise StatusError(500, "InternalError", "Internal error occurred: unable to complete request: "
                                                "stop/start already underway")
    if status.get("startFailure"):
        ops.append({"op": "remove", "path": "/status/startFailure"})
    return ops


def running_patch(vm, running):
    """getRunningPatch."""
    spec = vm.get("spec") or {}
    if spec.get("runStrategy") is not None:
        return [{"op": "test", "path": "/spec/runStrategy", "value": spec["runStrategy"]},
                {"op": "replace", "path": "/spec/runStrategy", "value": "Always" if running else "Halted"}]
    return [{"op": "test", "path": "/spec/running", "value": spec.get("running")},
            {"op": "replace", "path": "/spec/running", "value": running}]


def _final(vmi):
    return ((vmi or {}).get("status") or {}).get("phase") in ("Succeeded", "Failed")


class SubresourceAPI:
    def __init__(self, kube):
        self.kube = kube

    # ------------------------------------------------------------ serving
    def handle(self, method, path, query, headers, body):  # pylint: disable=unused-argument
        try:
            match = ROUTE.match(path)
            if not match or (match.group(2) == "virtualmachines" and match.group(4) not in VM_ACTIONS) or \
                    (match.group(2) == "virtualmachineinstances" and match.group(4) not in VMI_READS):
                raise StatusError(404, "NotFound", "the server could not find the requested resource")
            namespace, resource, name, action = match.groups()
            verb = "update" if resource == "virtualmachines" else "get"
            if method != ("PUT" if verb == "update" else "GET"):
                raise StatusError(405, "MethodNotAllowed", "the server does not allow this method on the "
                                                           "requested resource")
            self._authorize(headers, verb, resource, action, namespace, name)
            options = json.loads(body or b"null") or {}
            if resource == "virtualmachineinstances":
                return 200, JSON, json.dumps(self._read_vmi(namespace, name, action)).encode()
            getattr(self, "_" + action)(namespace, name, options)
            return 202, JSON, b""
        except StatusError as err:
            return err.response()
        except ValueError as exc:
            return bad_request("unable to decode the request body: %s" % exc).response()

    def _authorize(self, headers, verb, resource, action, namespace, name):
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if not auth.lower().startswith("bearer "):
            raise StatusError(401, "Unauthorized", "Unauthorized")
        review = self.kube.create("/apis/authentication.k8s.io/v1/tokenreviews", {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": auth[7:].strip()}})
        user = (review.get("status") or {}).get("user") or {}
        if not (review.get("status") or {}).get("authenticated"):
            raise StatusError(401, "Unauthorized", "Unauthorized")
        access = self.kube.create("/apis/authorization.k8s.io/v1/subjectaccessreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user.get("username"), "groups": user.get("groups") or [], "uid": user.get("uid"),
                     "resourceAttributes": {"namespace": namespace, "verb": verb, "group": GROUP,
                                            "resource": resource, "subresource": action, "name": name}}})
        if not (access.get("status") or {}).get("allowed"):
            raise StatusError(403, "Forbidden", '%s.%s "%s" is forbidden: User "%s" cannot %s resource "%s/%s" in '
                                                'API group "%s" in the namespace "%s"' % (
                                                    resource, GROUP, name, user.get("username"), verb, resource,
                                                    action, GROUP, namespace),
                              {"name": name, "group": GROUP, "kind": resource})

    # ----------------------------------------------------------- reading
    def _vm(self, namespace, name):
        vm = self.kube.get_or_none(vm_path(namespace, name))
        if vm is None:
            raise not_found("virtualmachine", name)
        return vm, self.kube.get_or_none(vmi_path(namespace, name))

    def _patch(self, path, ops, name):
        try:
            self.kube.json_patch(path, ops)
        except (KubeError, NotFound) as exc:
            status = getattr(exc, "status", 404)
            if status in (409, 422) or "test" in str(exc):
                raise conflict("virtualmachine", name, "the server rejected our request due to an error in our "
                                                       "request") from exc
            raise StatusError(500, "InternalError", "Internal error occurred: %s" % exc) from exc

    # ------------------------------------------------------------ actions
    def _start(self, namespace, name, options):  # pylint: disable=unused-argument
        vm, vmi = self._vm(namespace, name)
        phase = ((vmi or {}).get("status") or {}).get("phase") or ""
        if vmi is not None and not _final(vmi) and phase not in ("", "Unknown"):
            raise conflict("virtualmachine", name, "VM is already running")
        strategy = run_strategy(vm)
        if strategy == "Halted":
            self._patch(vm_path(namespace, name), running_patch(vm, True), name)
        elif strategy in ("RerunOnFailure", "Manual"):
            if strategy == "RerunOnFailure" and phase == "Failed":
                raise conflict("virtualmachine", name, "RerunOnFailure does not support starting VM from failed "
                                                       "state")
            restart = (strategy == "RerunOnFailure" and phase == "Succeeded") or (strategy == "Manual" and _final(vmi))
            changes = ([{"action": "Stop", "uid": vmi["metadata"]["uid"]}] if restart else []) + [{"action": "Start"}]
            self._patch(vm_path(namespace, name, "/status"), change_request_patch(vm, *changes), name)
        else:
            raise conflict("virtualmachine", name, "%s does not support manual start requests" % strategy)

    def _stop(self, namespace, name, options):
        vm, vmi = self._vm(namespace, name)
        strategy = run_strategy(vm)
        running = vmi is not None and not _final(vmi)
        grace = options.get("gracePeriod")
        if running and grace is not None:
            self.kube.merge_patch(vmi_path(namespace, name), {"spec": {"terminationGracePeriodSeconds": grace}})
        if strategy == "Halted":
            if not running:
                raise conflict("virtualmachine", name, "VM is not running")
            if grace is None:
                raise conflict("virtualmachine", name, "Halted only supports manual stop requests with a shorter "
                                                       "graceperiod")
            self._patch(vm_path(namespace, name, "/status"),
                        change_request_patch(vm, {"action": "Stop", "uid": vmi["metadata"]["uid"]}), name)
        elif strategy in ("RerunOnFailure", "Manual"):
            if not running:
                raise conflict("virtualmachine", name, "VM is not running")
            self._patch(vm_path(namespace, name, "/status"),
                        change_request_patch(vm, {"action": "Stop", "uid": vmi["metadata"]["uid"]}), name)
        else:
            self._patch(vm_path(namespace, name), running_patch(vm, False), name)

    def _restart(self, namespace, name, options):
        grace = options.get("gracePeriodSeconds")
        if grace is not None and grace > 0:
            raise bad_request("For force restart, only gracePeriod=0 is supported for now")
        if grace is not None and grace < 0:
            raise bad_request("gracePeriod has to be greater or equal to 0")
        vm, vmi = self._vm(namespace, name)
        strategy = run_strategy(vm)
        if strategy in ("Halted", "Once"):
            raise conflict("virtualmachine", name, "RunStategy %s does not support manual restart requests"
                           % strategy)
        if vmi is None:
            raise conflict("virtualmachine", name, "VM is not running: Halted")
        self._patch(vm_path(namespace, name, "/status"), change_request_patch(
            vm, {"action": "Stop", "uid": vmi["metadata"]["uid"]}, {"action": "Start"}), name)

    def _migrate(self, namespace, name, options):
        self._vm(namespace, name)
        vmi = self.kube.get_or_none(vmi_path(namespace, name))
        if vmi is None:
            raise not_found("virtualmachineinstance", name)
        if (vmi.get("status") or {}).get("phase") != "Running":
            raise conflict("virtualmachine", name, "VM is not running")
        spec = {"vmiName": name}
        if options.get("addedNodeSelector"):
            spec["addedNodeSelector"] = options["addedNodeSelector"]
        self.kube.create("/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstancemigrations" % namespace, {
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
            "metadata": {"generateName": "kubevirt-migrate-vm-"}, "spec": spec})

    def _read_vmi(self, namespace, name, action):
        vmi = self.kube.get_or_none(vmi_path(namespace, name))
        if vmi is None:
            raise not_found("virtualmachineinstance", name)
        if (vmi.get("status") or {}).get("phase") != "Running":
            raise conflict("virtualmachineinstance", name, "VMI is not running")
        if not condition_is(vmi, "AgentConnected"):
            raise conflict("virtualmachineinstance", name, "VMI does not have guest agent connected")
        status = vmi.get("status") or {}
        if action == "interfacelist":
            return {"items": [{k: i[k] for k in ("interfaceName", "mac", "ipAddress", "ipAddresses") if k in i}
                              for i in status.get("interfaces") or [] if net_spec.INFO_GUEST_AGENT in net_spec.info_sources(i)]}
        return {"guestAgentVersion": "9.0.0", "hostname": (vmi.get("spec") or {}).get("hostname") or name,
                "os": status.get("guestOSInfo") or {}, "timezone": {"zone": "UTC", "offset": 0}}


def discovery():
    """The group and its APIResourceList (names as virt-api registers them)."""
    resources = [{"name": "virtualmachines/%s" % action, "singularName": "", "namespaced": True, "kind": "",
                  "verbs": ["update"]} for action in VM_ACTIONS]
    resources += [{"name": "virtualmachineinstances/%s" % read, "singularName": "", "namespaced": True, "kind": "",
                   "verbs": ["get"]} for read in VMI_READS]
    version = {"groupVersion": GROUP + "/v1", "version": "v1"}
    return ({"name": GROUP, "versions": [version], "preferredVersion": version},
            {"v1": {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP + "/v1",
                    "resources": resources}})


def start(ctx):
    api = SubresourceAPI(ctx.kube)
    ctx.proxy.add_route(PREFIX, api.handle)
    ctx.proxy.add_discovery_group(*discovery())
    return api
