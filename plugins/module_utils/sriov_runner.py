# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The vfio_sriov module: arguments, validation before any write, check mode,
--diff, and a failure message that says what state the host is left in.
The argument spec lives in plugins/modules/vfio_sriov.py."""


from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import sriov_hostnet, sriov_sysfs
from ansible_collections.kubevirt_net.core.plugins.module_utils.args import option_error
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems


class ModuleRunner(sriov_sysfs.CommandRunner):
    """Commands through AnsibleModule.run_command (logged, no shell)."""

    def __init__(self, module: Any) -> None:
        super(ModuleRunner, self).__init__()
        self.module = module

    def find(self, name: str) -> Optional[str]:
        return self.module.get_bin_path(name)

    def run(self, argv: List[str]) -> Tuple[int, str, str]:
        binary = self.find(argv[0])
        if binary is None:
            return 127, "", "%s: command not found" % argv[0]
        return self.module.run_command([binary] + list(argv[1:]))


def pf_result(pf: Dict[str, Any], numvfs: Optional[int] = None) -> Dict[str, Any]:
    return {
        "name": pf["name"], "pci": pf["pci"], "vendor_id": pf["vendor_id"], "device_id": pf["device_id"],
        "vf_device_id": pf["vf_device_id"], "driver": pf["driver"], "totalvfs": pf["totalvfs"],
        "numvfs": pf["numvfs"] if numvfs is None else numvfs, "drivers_autoprobe": pf["drivers_autoprobe"],
    }


def make_host(module: Any) -> sriov_sysfs.Host:
    params = module.params
    return sriov_sysfs.Host(params["sysfs_root"], runner=ModuleRunner(module),
                            write_timeout=params["write_timeout"], wait_timeout=params["wait_timeout"])


def check_before_writes(module: Any, host: sriov_sysfs.Host,
                        desired: sriov_sysfs.Desired) -> Tuple[Problems, Optional[str]]:
    """The input, the host and (with num_vfs) the management-PF rule, before any
    write, also in check mode and for gathered: (problems, the PF's PCI address)."""
    params, state = module.params, desired.state
    problems = Problems()
    sriov_sysfs.validate_input(desired, problems)
    address = None
    if not problems:
        address = sriov_sysfs.validate_host(host, desired, problems, gathered=state == "gathered")
    if address and not problems and not params["allow_management_pf"] and desired.num_vfs is not None:
        # before any write (and in check mode and gathered with num_vfs too): a VF count change on the PF
        # that carries this host's network resets it on some drivers
        pf = host.pf(address)
        problem = sriov_hostnet.management_problem(host.runner, pf["name"], address, pf["numvfs"],
                                                   desired.num_vfs)
        if problem:
            problems.add(desired.label, "num_vfs", problem)
    return problems, address


def run(module: Any) -> None:
    """The flow of vfio_sriov, on the module built by the module file."""
    if option_error(module.params):
        module.fail_json(msg=option_error(module.params))
    params = module.params
    state = params["state"]
    desired = sriov_sysfs.Desired(pf=params["pf"], pf_pci_address=params["pf_pci_address"],
                                  num_vfs=params["num_vfs"], driver=params["driver"], vfs=params["vfs"],
                                  state=state)
    host = make_host(module)

    problems, address = check_before_writes(module, host, desired)
    if problems:
        module.fail_json(msg=problems.render(), problems=problems.items, changed=False, changed_steps=[],
                         host=host.facts())
    if address is None:
        raise AssertionError("validate_host returns None only with a problem")

    pf = host.pf(address)
    if state == "gathered":
        module.exit_json(changed=False, pf=pf_result(pf),
                         vfs=sriov_sysfs.result_vfs(host, address, pf["name"]), changed_steps=[],
                         host=host.facts())

    reconciler = sriov_sysfs.Reconciler(host, desired, address)
    vfs_before = host.vfs(address)
    before_text = sriov_sysfs.render_state(pf, vfs_before)
    pf_now, predicted, steps = reconciler.plan()
    teardown = reconciler.teardown(pf)
    blockers = reconciler.teardown_blockers(pf)

    if module.check_mode or not steps:
        result = dict(changed=bool(steps), changed_steps=steps, host=host.facts(), teardown=teardown,
                      teardown_blockers=blockers,
                      pf=pf_result(pf_now, numvfs=desired.num_vfs if steps else None),
                      vfs=sriov_sysfs.result_vfs(host, address, pf["name"], vfs=planned_vfs(predicted, desired))
                      if steps else sriov_sysfs.result_vfs(host, address, pf["name"]),
                      sysfs_writes=0)
        if steps and module._diff:
            after = dict(pf_now, numvfs=desired.num_vfs)
            result["diff"] = diff(pf["pci"], before_text,
                                  sriov_sysfs.render_state(after, planned_vfs(predicted, desired), desired, steps))
        module.exit_json(**result)

    if blockers and not params["force"]:
        module.fail_json(
            msg="%s: changing sriov_numvfs from %d to %d destroys every VF, and %s. Drain the node first (the "
                "sriov_host role does: cordon, evict the virt-launcher pods so the VMs live-migrate away, apply, "
                "uncordon), or set force=true to destroy them anyway. Nothing was changed." % (
                    desired.label, pf["numvfs"], desired.num_vfs or 0, "; ".join(blockers)),
            changed=False, changed_steps=[], teardown=teardown, teardown_blockers=blockers, sysfs_writes=0,
            host=host.facts())

    try:
        reconciler.apply()
    except sriov_sysfs.SriovError as err:
        done = reconciler.steps
        module.fail_json(
            msg="%s: %s. The host is left in this state: %s. Steps completed before the failure: %s. Fix the "
                "cause and re-run the task; it continues from this state." % (
                    desired.label, err.message, err.state or "(unknown)",
                    "; ".join(done) if done else "none (nothing was changed)"),
            changed=bool(done), changed_steps=done, failed_step=err.step, host_state=err.state, teardown=teardown,
            sysfs_writes=len(host.writes), host=host.facts())

    pf_after = host.pf(address)
    vfs_after = sriov_sysfs.result_vfs(host, address, pf_after["name"])
    result = dict(changed=True, changed_steps=reconciler.steps, pf=pf_result(pf_after), vfs=vfs_after,
                  host=host.facts(), sysfs_writes=len(host.writes), teardown=teardown, teardown_blockers=blockers)
    if module._diff:
        result["diff"] = diff(pf["pci"], before_text,
                              sriov_sysfs.render_state(pf_after, host.vfs(address), desired, reconciler.steps))
    module.exit_json(**result)


def planned_vfs(vfs: List[Dict[str, Any]], desired: sriov_sysfs.Desired) -> List[Dict[str, Any]]:
    """The VFs as they will be: the wanted driver on every one."""
    out = []
    for vf in vfs:
        item = dict(vf)
        if desired.driver == sriov_sysfs.VFIO:
            item["driver"] = sriov_sysfs.VFIO
        elif item["driver"] in (None, sriov_sysfs.VFIO):
            item["driver"] = "(kernel default)"
        out.append(item)
    return out


def diff(address: str, before: str, after: str) -> Dict[str, str]:
    return {"before": before, "after": after,
            "before_header": "%s (sysfs)" % address, "after_header": "%s (sysfs)" % address}
