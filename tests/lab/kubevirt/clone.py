"""The VirtualMachineClone controller (clone.kubevirt.io/v1beta1).

Mirrors KubeVirt v1.9.0 ``pkg/virt-controller/watch/clone/{clone,util,
vm-target}.go`` and, for what a clone's restore does to the target VM,
``pkg/storage/snapshot/restore.go``.  The lab has no snapshot API: the
VirtualMachineSnapshot is the source VM captured in memory and the
VirtualMachineRestore is run in-process, under the names KubeVirt gives them
(``tmp-snapshot-<clone uid>``, ``tmp-restore-<clone uid>``); their events are
recorded against those names as KubeVirt's snapshot/restore controllers would.

What KubeVirt does, and so the lab (each step after ``reconcile_delay``):

- source VM missing: no phase; Progressing=False "Pending", Ready=False with
  reason ``Source doesnt exist: VirtualMachine <ns>/<name>``; the clone goes on
  once the VM appears.  A ``VirtualMachineSnapshot`` source is never found here.
- "" -> SnapshotInProgress (status.snapshotName) -> RestoreInProgress
  (status.restoreName) -> CreatingTargetVM (status.targetName; the target VM
  was created) -> Succeeded (Ready=True; snapshotName/restoreName cleared);
- the restore webhook refuses the restore (``pkg/storage/admitters/
  vmrestore.go validatePatches``: every patch string, KubeVirt's own MAC,
  serial and filter patches included, split on ',' into pieces with exactly
  one ':', paths only under /spec/ or a key under /metadata/labels/ or
  /metadata/annotations/): the restore is never created, so the clone stays
  RestoreInProgress without a restoreName, with a ``RestoreCreationFailed``
  Warning event (clone.go createRestoreFromVm), retried for ever;
- the restore cannot finish (target VM already exists, a patch does not
  apply, the API refuses the VM): the clone stays RestoreInProgress, the
  restore's error is recorded as a Warning event, and it is retried;
- Failed only where KubeVirt fails a clone: the source needs backend storage
  (persistent TPM or EFI);
- the Snapshot feature gate is checked at admission (tests/lab/kubevirt/admission.py);
- a Succeeded clone whose target VM is deleted is deleted too.

The target VM is the captured source: labels/annotations per filters, every
interface MAC replaced by ``newMacAddresses`` or blanked, firmware serial and
UUID replaced/blanked (the VM mutating webhook then generates new ones),
volumes renamed per ``volumeNamePolicy``, ``runStrategy: Halted`` (or
``running: false``), then ``patches`` (JSON Patch with evanphx/json-patch v4's
lenient ``replace``).  Volumes are assumed snapshot-capable unless the source
VM's status.volumeSnapshotStatuses says otherwise.
"""

import copy
import datetime
import json
import logging
import re
import time
import uuid

import jsonpatch
import jsonpointer

from .capabilities import KUBEVIRT_PATH, feature_gate_enabled
from .kapi import Conflict, KubeError, NotFound, resource_path
from .runtime import Controller, key_of

log = logging.getLogger("lab.kubevirt.clone")

CLONES = "/apis/clone.kubevirt.io/v1beta1/virtualmachineclones"
VMS = "/apis/kubevirt.io/v1/virtualmachines"
LAST_RESTORE_ANNOTATION = "restore.kubevirt.io/lastRestoreUID"
SUCCEEDED, FAILED = "Succeeded", "Failed"


# ------------------------------------------------------------ pure: names
def snapshot_name(clone_uid):
    return "tmp-snapshot-%s" % clone_uid


def restore_name(clone_uid):
    return "tmp-restore-%s" % clone_uid


def restore_uid(clone_uid):
    """The (in-process) restore's UID, stable per clone."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "lab-restore/%s" % clone_uid))


def _fnv32a(text):
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "%08x" % value


def get_name(base, suffix, max_length):
    """openshift library-go naming.GetName: ``base-suffix``, shortened with a hash."""
    name = "%s-%s" % (base, suffix)
    if len(name) <= max_length:
        return name
    base_length = max_length - 10 - len(suffix)
    if base_length <= 0:
        prefix = base[:min(len(base), max(0, max_length - 9))]
        return ("%s-%s" % (prefix, _fnv32a(name)))[:max_length]
    return "%s-%s-%s" % (base[:base_length], _fnv32a(base), suffix)


def restored_volume_name(policy, restore_id, target_name, volume_name):
    """restore.go restoreVolumeName for a clone's restore."""
    if policy == "PrefixTargetName":
        return get_name(target_name, volume_name, 63)
    return "restore-%s-%s" % (restore_id, volume_name)


# ------------------------------------------------------------ pure: filters and patches
def escape_pointer(key):
    return key.replace("~", "~0").replace("/", "~1")


def _matches(pattern, key):
    try:
        return re.search(pattern, key) is not None
    except re.error:
        return False


def kept_keys(mapping, filters):
    """vm-target.go addRemovePatchesFromFilter: no filters keep everything;
    otherwise a key stays when a filter matches it as an (unanchored) regular
    expression (``*`` alone: everything) and no ``!`` filter does."""
    if filters is None:
        return set(mapping or {})
    regular = [".*" if f == "*" else f for f in filters if f == "*" or not f.startswith("!")]
    negation = [f[1:] for f in filters if f != "*" and f.startswith("!")]
    return {key for key in mapping or {}
            if any(_matches(f, key) for f in regular) and not any(_matches(f, key) for f in negation)}


def _removals(mapping, filters, base):
    keep = kept_keys(mapping, filters)
    return [{"op": "remove", "path": "%s/%s" % (base, escape_pointer(key))}
            for key in sorted(mapping or {}) if key not in keep]


def generate_patches(source_vm, clone_spec):
    """vm-target.go generatePatches: KubeVirt's own JSON Patch operations
    (as strings), then the clone's ``patches``."""
    meta = source_vm.get("metadata") or {}
    template = (source_vm.get("spec") or {}).get("template") or {}
    tmeta, tspec = template.get("metadata") or {}, template.get("spec") or {}
    domain = tspec.get("domain") or {}
    filters = clone_spec.get("template") or {}
    macs = clone_spec.get("newMacAddresses") or {}
    ops = [{"op": "replace", "path": "/spec/template/spec/domain/devices/interfaces/%d/macAddress" % idx,
            "value": macs.get(iface.get("name"), "")}
           for idx, iface in enumerate((domain.get("devices") or {}).get("interfaces") or [])]
    if domain.get("firmware") is not None:
        ops.append({"op": "replace", "path": "/spec/template/spec/domain/firmware/serial",
                    "value": clone_spec.get("newSMBiosSerial") or ""})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_RESTORE_ANNOTATION}
    ops += _removals(meta.get("labels"), clone_spec.get("labelFilters"), "/metadata/labels")
    ops += _removals(annotations, clone_spec.get("annotationFilters"), "/metadata/annotations")
    ops += _removals(tmeta.get("labels"), filters.get("labelFilters"), "/spec/template/metadata/labels")
    ops += _removals(tmeta.get("annotations"), filters.get("annotationFilters"), "/spec/template/metadata/annotations")
    if domain.get("firmware") is not None:
        ops.append({"op": "replace", "path": "/spec/template/spec/domain/firmware/uuid", "value": ""})
    return [json.dumps(op, separators=(",", ":")) for op in ops] + list(clone_spec.get("patches") or [])


def restored_vm(snapshot_vm, target_name, restore, policy):
    """restore.go generateRestoredVMSpec for a new target: the snapshot's
    metadata labels/annotations and spec, volumes renamed, halted."""
    meta = snapshot_vm.get("metadata") or {}
    spec = copy.deepcopy(snapshot_vm.get("spec") or {})
    templates = spec.get("dataVolumeTemplates") or []
    template_index = {((t.get("metadata") or {}).get("name")): i for i, t in enumerate(templates)}
    tspec = (spec.get("template") or {}).get("spec") or {}
    volumes = []
    for volume in tspec.get("volumes") or []:
        if volume.get("memoryDump") is not None:
            continue
        if volume.get("persistentVolumeClaim") is not None or volume.get("dataVolume") is not None:
            new = restored_volume_name(policy, restore["uid"], target_name, volume["name"])
            if volume.get("persistentVolumeClaim") is not None:
                volume["persistentVolumeClaim"]["claimName"] = new
            elif volume["dataVolume"].get("name") in template_index:
                templates[template_index[volume["dataVolume"]["name"]]]["metadata"]["name"] = new
                volume["dataVolume"]["name"] = new
            else:
                volume = {"name": volume["name"], "persistentVolumeClaim": {"claimName": new}}
        volumes.append(volume)
    if tspec.get("volumes") is not None:
        tspec["volumes"] = volumes
    if spec.get("running") is not None:
        spec["running"] = False
    else:
        spec["runStrategy"] = "Halted"
    metadata = {"name": target_name, "namespace": meta.get("namespace"),
                "annotations": dict(meta.get("annotations") or {})}
    metadata["annotations"][LAST_RESTORE_ANNOTATION] = "%s-%s" % (restore["name"], restore["uid"])
    if meta.get("labels"):
        metadata["labels"] = dict(meta["labels"])
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": metadata, "spec": spec}


RESTORE_WEBHOOK = "virtualmachinerestore-validator.snapshot.kubevirt.io"


def restore_webhook_causes(patches):
    """pkg/storage/admitters/vmrestore.go validatePatches, over every patch
    string of the restore: a colon-form MAC value, an object value or any
    value with ',' or ':' breaks the naive split."""
    causes = []
    for text in patches:
        body = text
        while body[:1] in ("{", "}") and body:
            body = body[1:]
        while body[-1:] in ("{", "}") and body:
            body = body[:-1]
        for pair in body.split(","):
            halves = pair.split(":")
            if len(halves) != 2:
                causes.append('patch format is not valid - one ":" expected in a single key-value json patch: %s'
                              % pair)
            elif halves[0].strip() == '"path"':
                value = halves[1].strip()
                if not value.startswith(('"/metadata/labels/', '"/metadata/annotations/', '"/spec/')):
                    causes.append("patching is valid only for elements under /spec/ only: %s" % pair)
    return causes


def webhook_denial(webhook, causes):
    """The API server's message for a denial (webhookutils.ToAdmissionResponse
    joins at most ten causes)."""
    message = ", ".join(causes[:10])
    if len(causes) > 10:
        message += ", and %d more validation errors" % (len(causes) - 10)
    return 'admission webhook "%s" denied the request: %s' % (webhook, message)


class PatchError(Exception):
    pass


def _lenient(op, doc):
    """evanphx/json-patch v4 lets ``replace`` set a missing object member."""
    if op.get("op") != "replace":
        return op
    try:
        parent, last = jsonpointer.JsonPointer(op.get("path", "")).to_last(doc)
    except jsonpointer.JsonPointerException:
        return op
    if isinstance(parent, dict) and last not in parent:
        return dict(op, op="add")
    return op


def apply_patches(vm, patches):
    """restore.go patchVM; raises PatchError with KubeVirt's wording."""
    text = "[\n" + ",\n".join(patches) + "\n]"
    try:
        ops = json.loads(text)
        if not all(isinstance(op, dict) for op in ops):
            raise ValueError("every patch must be a JSON object")
    except ValueError as exc:
        raise PatchError("cannot decode vm patches %s: %s" % (text, exc)) from exc
    doc = copy.deepcopy(vm)
    try:
        for op in ops:
            doc = jsonpatch.JsonPatch([_lenient(op, doc)]).apply(doc)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError,
            IndexError, ValueError) as exc:
        raise PatchError("failed to apply patch for VM %s: %s" % (text, exc)) from exc
    return _omit_empty(doc)


def _omit_empty(vm):
    """The Go round trip drops what the patches emptied (``omitempty``):
    MACs, firmware serial/UUID, label and annotation maps."""
    template = (vm.get("spec") or {}).get("template") or {}
    for meta in (vm.get("metadata") or {}, template.get("metadata") or {}):
        for key in ("labels", "annotations"):
            if meta.get(key) == {}:
                del meta[key]
    tspec = template.get("spec") or {}
    domain = tspec.get("domain") or {}
    for iface in (domain.get("devices") or {}).get("interfaces") or []:
        if iface.get("macAddress") == "":
            del iface["macAddress"]
    firmware = domain.get("firmware")
    for key in ("serial", "uuid"):
        if isinstance(firmware, dict) and firmware.get(key) == "":
            del firmware[key]
    return vm


def target_vm(snapshot_vm, clone, restore):
    """The VM a clone's restore creates (raises PatchError)."""
    spec = clone.get("spec") or {}
    vm = restored_vm(snapshot_vm, spec["target"]["name"], restore, spec.get("volumeNamePolicy"))
    return apply_patches(vm, generate_patches(snapshot_vm, spec))


def backend_storage_needed(vm):
    """backendstorage.IsBackendStorageNeeded: persistent TPM or EFI."""
    tspec = ((vm.get("spec") or {}).get("template") or {}).get("spec") or {}
    domain = tspec.get("domain") or {}
    tpm = (domain.get("devices") or {}).get("tpm") or {}
    efi = ((domain.get("firmware") or {}).get("bootloader") or {}).get("efi") or {}
    return bool(tpm.get("persistent")) or bool(efi.get("persistent"))


def volume_snapshot_errors(vm):
    """clone.go validateVolumeSnapshotStatus, for volumes the VM reports as
    not snapshot-capable (unreported volumes count as capable in the lab)."""
    statuses = {s.get("name"): s for s in (vm.get("status") or {}).get("volumeSnapshotStatuses") or []}
    tspec = ((vm.get("spec") or {}).get("template") or {}).get("spec") or {}
    return ["Virtual Machine volume %s does not support snapshots" % v["name"]
            for v in tspec.get("volumes") or []
            if (v.get("persistentVolumeClaim") is not None or v.get("dataVolume") is not None)
            and v["name"] in statuses and not statuses[v["name"]].get("enabled")]


# ------------------------------------------------------------ pure: status
def now_text():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def with_conditions(conditions, progressing, ready, now):
    """util.go updateCloneConditions: a condition is replaced (new transition
    time) when its status or reason changes."""
    result = [dict(c) for c in conditions or []]
    for kind, (status, reason) in (("Progressing", progressing), ("Ready", ready)):
        new = {"type": kind, "status": status, "reason": reason, "lastTransitionTime": now}
        for idx, old in enumerate(result):
            if old.get("type") == kind:
                if old.get("status") != status or old.get("reason") != reason:
                    result[idx] = new
                break
        else:
            result.append(new)
    return result


def pending_conditions(reason):
    return ("False", "Pending"), ("False", reason)


def failed_conditions(reason):
    return ("False", "Failed"), ("False", reason)


PROCESSING = (("True", "Still processing"), ("False", "Still processing"))
READY = (("False", "Ready"), ("True", "Ready"))


# ------------------------------------------------------------ the controller
class CloneController(Controller):
    """One step of a clone per reconcile, ``reconcile_delay`` apart."""

    name = "clone-controller"

    def __init__(self, kube, config, clones, vms):
        super().__init__(kube, config)
        self.clones = clones
        self.snapshots = {}      # clone uid -> the source VM as the snapshot holds it
        self.next_step = {}      # clone key -> monotonic time of its next step
        self.retries = {}        # clone key -> failed restore attempts
        self.recorded = set()
        clones.add_handler(self._on_clone)
        vms.add_handler(self._on_vm)

    # ---- events in
    def _on_clone(self, _event, clone):
        self.enqueue(key_of(clone))

    def _on_vm(self, _event, vm):
        meta = vm["metadata"]
        for clone in self.clones.items():
            spec, cmeta = clone.get("spec") or {}, clone["metadata"]
            if cmeta.get("namespace") != meta.get("namespace"):
                continue
            names = {(spec.get("source") or {}).get("name"), (spec.get("target") or {}).get("name")}
            if meta["name"] in names:
                self.enqueue(key_of(clone))

    # ---- helpers
    def _path(self, namespace, name=None, subresource=None):
        return resource_path("clone.kubevirt.io", "v1beta1", "virtualmachineclones", namespace, name, subresource)

    def _vm(self, namespace, name):
        return self.kube.get_or_none(resource_path("kubevirt.io", "v1", "virtualmachines", namespace, name))

    def _write_status(self, clone, status):
        if status != (clone.get("status") or {}):
            body = dict(clone, status=status)
            self.kube.replace(self._path(clone["metadata"]["namespace"], clone["metadata"]["name"], "status"), body)

    def _record(self, involved, kind, reason, message, event_type="Normal", component="clone-controller"):
        """An Event as KubeVirt's recorders write them (once per message)."""
        key = (involved.get("uid") or involved["name"], reason, message)
        if key in self.recorded:
            return
        self.recorded.add(key)
        now = now_text()
        namespace = involved["namespace"]
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "%s.%x" % (involved["name"], time.time_ns()), "namespace": namespace},
            "involvedObject": dict(involved, kind=kind),
            "reason": reason, "message": message, "type": event_type,
            "source": {"component": component}, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            self.kube.create("/api/v1/namespaces/%s/events" % namespace, event)
        except (KubeError, NotFound, Conflict) as exc:
            log.warning("event %s for %s not recorded: %s", reason, involved["name"], exc)

    def _clone_ref(self, clone):
        meta = clone["metadata"]
        return {"apiVersion": "clone.kubevirt.io/v1beta1", "name": meta["name"], "namespace": meta["namespace"],
                "uid": meta["uid"]}

    def _restore_ref(self, clone):
        meta = clone["metadata"]
        return {"apiVersion": "snapshot.kubevirt.io/v1beta1", "name": restore_name(meta["uid"]),
                "namespace": meta["namespace"], "uid": restore_uid(meta["uid"])}

    def _snapshot_enabled(self):
        kubevirt = self.kube.get_or_none(KUBEVIRT_PATH)
        return feature_gate_enabled(kubevirt, self.config.get("kubevirt_version"), "Snapshot")

    # ---- the state machine
    def reconcile(self, key):
        namespace, name = key.split("/", 1)
        clone = self.kube.get_or_none(self._path(namespace, name))
        if clone is None:
            self._forget(key)
            return None
        status = copy.deepcopy(clone.get("status") or {})
        phase = status.get("phase") or ""
        if phase == SUCCEEDED:
            return self._succeeded(clone, status)
        if phase == FAILED:
            return None
        wait = self.next_step.get(key, 0) - time.monotonic()
        if wait > 0:
            return wait
        source = self._source(clone)
        if source is None:
            return None
        if phase == "":
            return self._snapshot(clone, status, source)
        if phase == "SnapshotInProgress":
            return self._snapshot(clone, status, source) if not status.get("snapshotName") \
                else self._snapshot_ready(clone, status)
        if phase == "RestoreInProgress":
            return self._restore(clone, status)
        if phase == "CreatingTargetVM":
            return self._target_created(clone, status)
        return None

    def _step_done(self, clone, status):
        self._write_status(clone, status)
        delay = float(self.config.get("reconcile_delay") or 0)
        self.next_step[key_of(clone)] = time.monotonic() + delay
        return delay

    def _source(self, clone):
        """The source VM, or None after writing the Pending/Failed status."""
        meta, spec = clone["metadata"], clone.get("spec") or {}
        source = spec.get("source") or {}
        status = copy.deepcopy(clone.get("status") or {})
        vm = self._vm(meta["namespace"], source.get("name")) if source.get("kind") == "VirtualMachine" else None
        if vm is None:
            reason = "Source doesnt exist: %s %s/%s" % (source.get("kind"), meta["namespace"], source.get("name"))
            self._record(self._clone_ref(clone), "VirtualMachineClone", "SourceDoesNotExist", reason)
            status["conditions"] = with_conditions(status.get("conditions"), *pending_conditions(reason),
                                                   now=now_text())
            self._write_status(clone, status)
            return None
        if backend_storage_needed(vm):
            return self._fail(clone, status, "SourceVMWithBackendStorageInvalid",
                              "Clone of source with backendstorage is not supported: VM %s/%s"
                              % (meta["namespace"], source.get("name")))
        return vm

    def _snapshot(self, clone, status, source):
        errors = volume_snapshot_errors(source)
        if errors:
            reason = "\n".join(errors)
            self._record(self._clone_ref(clone), "VirtualMachineClone", "VMVolumeSnapshotsInvalid", reason)
            status["conditions"] = with_conditions(status.get("conditions"), *pending_conditions(reason),
                                                   now=now_text())
            self._write_status(clone, status)
            return None
        status["phase"] = "SnapshotInProgress"
        status["conditions"] = with_conditions(status.get("conditions"), *PROCESSING, now=now_text())
        uid, name = clone["metadata"]["uid"], clone["metadata"]["name"]
        if not self._snapshot_enabled():
            # the snapshot admission webhook refuses it; the clone controller retries
            self._write_status(clone, status)
            return 1.0
        self.snapshots[uid] = copy.deepcopy(source)
        status["snapshotName"] = snapshot_name(uid)
        self._record(self._clone_ref(clone), "VirtualMachineClone", "SnapshotCreated",
                     "created snapshot %s for clone %s" % (snapshot_name(uid), name))
        return self._step_done(clone, status)

    def _snapshot_ready(self, clone, status):
        uid, name = clone["metadata"]["uid"], clone["metadata"]["name"]
        self._record(self._clone_ref(clone), "VirtualMachineClone", "SnapshotReady",
                     "snapshot %s for clone %s is ready to use" % (status["snapshotName"], name))
        status["phase"] = "RestoreInProgress"
        status["conditions"] = with_conditions(status.get("conditions"), *PROCESSING, now=now_text())
        return self._create_restore(clone, status)

    def _create_restore(self, clone, status):
        """clone.go createRestoreFromVm: the VirtualMachineRestore carries
        generatePatches' strings; the restore webhook may refuse it."""
        uid, name = clone["metadata"]["uid"], clone["metadata"]["name"]
        causes = restore_webhook_causes(generate_patches(self.snapshots[uid], clone.get("spec") or {}))
        if causes:
            self._record(self._clone_ref(clone), "VirtualMachineClone", "RestoreCreationFailed",
                         "failed creating restore %s for clone %s: %s"
                         % (restore_name(uid), name, webhook_denial(RESTORE_WEBHOOK, causes)), event_type="Warning")
            self._write_status(clone, status)
            attempts = self.retries.get(key_of(clone), 0) + 1
            self.retries[key_of(clone)] = attempts
            return min(0.2 * 2 ** attempts, 5.0)
        self.retries.pop(key_of(clone), None)
        status["restoreName"] = restore_name(uid)
        self._record(self._clone_ref(clone), "VirtualMachineClone", "RestoreCreated",
                     "created restore %s for clone %s" % (restore_name(uid), name))
        return self._step_done(clone, status)

    def _restore(self, clone, status):
        """The clone's restore: the target VM is created, or the restore's
        error is recorded and the restore retried."""
        meta = clone["metadata"]
        restore = {"name": restore_name(meta["uid"]), "uid": restore_uid(meta["uid"])}
        if meta["uid"] not in self.snapshots:  # only after a daemon restart
            return self._fail(clone, status, "SnapshotDeleted",
                              "snapshot %s does not exist anymore" % status.get("snapshotName"))
        if not status.get("restoreName"):  # the restore webhook refused it: clone.go tries again
            return self._create_restore(clone, status)
        problem = self._restore_problem(clone, restore)
        if problem:
            self._record(self._restore_ref(clone), "VirtualMachineRestore", "VirtualMachineRestoreError",
                         "VirtualMachineRestore encountered error %s" % problem, event_type="Warning",
                         component="restore-controller")
            attempts = self.retries.get(key_of(clone), 0) + 1
            self.retries[key_of(clone)] = attempts
            return min(0.2 * 2 ** attempts, 5.0)
        self.retries.pop(key_of(clone), None)
        self._record(self._restore_ref(clone), "VirtualMachineRestore", "VirtualMachineRestoreComplete",
                     "Successfully completed VirtualMachineRestore %s" % restore["name"],
                     component="restore-controller")
        self._record(self._clone_ref(clone), "VirtualMachineClone", "RestoreReady",
                     "restore %s for clone %s is ready to use" % (restore["name"], meta["name"]))
        status["phase"] = "CreatingTargetVM"
        status["targetName"] = clone["spec"]["target"]["name"]
        status["conditions"] = with_conditions(status.get("conditions"), *PROCESSING, now=now_text())
        return self._step_done(clone, status)

    def _restore_problem(self, clone, restore):
        """restore.go for a new target: None once the VM exists, else the error."""
        meta = clone["metadata"]
        target = clone["spec"]["target"]["name"]
        existing = self._vm(meta["namespace"], target)
        if existing is not None:
            marker = "%s-%s" % (restore["name"], restore["uid"])
            if (existing["metadata"].get("annotations") or {}).get(LAST_RESTORE_ANNOTATION) == marker:
                return None
            return "restore source and restore target are different but restore target already exists"
        try:
            vm = target_vm(self.snapshots[meta["uid"]], clone, restore)
        except PatchError as exc:
            return "error patching VM %s: %s" % (target, exc)
        try:
            self.kube.create(resource_path("kubevirt.io", "v1", "virtualmachines", meta["namespace"]), vm)
        except (KubeError, Conflict) as exc:
            return _api_message(exc)
        return None

    def _fail(self, clone, status, event, reason):
        self._record(self._clone_ref(clone), "VirtualMachineClone", event, reason)
        status["phase"] = FAILED
        status["conditions"] = with_conditions(status.get("conditions"), *failed_conditions(reason), now=now_text())
        self._write_status(clone, status)
        return None

    def _target_created(self, clone, status):
        meta = clone["metadata"]
        if self._vm(meta["namespace"], status["targetName"]) is None:
            return 0.5  # "target VM is not created yet": retried
        self._record(self._clone_ref(clone), "VirtualMachineClone", "TargetVMCreated",
                     "created target VM %s for clone %s" % (status["targetName"], meta["name"]))
        self._record(self._clone_ref(clone), "VirtualMachineClone", "PVCBound",
                     "all PVC for clone %s are bound" % meta["name"])
        status["phase"] = SUCCEEDED
        status["conditions"] = with_conditions(status.get("conditions"), *READY, now=now_text())
        status.pop("snapshotName", None)
        status.pop("restoreName", None)
        self.snapshots.pop(meta["uid"], None)
        return self._step_done(clone, status)

    def _succeeded(self, clone, status):
        meta = clone["metadata"]
        if self._vm(meta["namespace"], status.get("targetName")) is None and not meta.get("deletionTimestamp"):
            self.kube.delete(self._path(meta["namespace"], meta["name"]))
        return None

    def _forget(self, key):
        self.next_step.pop(key, None)
        self.retries.pop(key, None)


def _api_message(exc):
    """The Status message of a refused API request."""
    body = getattr(exc, "body", None) or str(exc)
    try:
        return json.loads(body).get("message") or body
    except (ValueError, AttributeError):
        return body


def start(ctx):
    controller = CloneController(ctx.kube, ctx.config, ctx.informer(CLONES), ctx.informer(VMS))
    controller.start()
    return controller
