# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Action plugin of kubevirt_vm_istio: in a play over several cluster hosts, refuse a host
whose connection would come from the shared environment (plugin_utils/cluster_scope.py)."""


from ansible_collections.kubevirt_net.core.plugins.plugin_utils.cluster_scope import ClusterScopedAction


class ActionModule(ClusterScopedAction):
    pass
