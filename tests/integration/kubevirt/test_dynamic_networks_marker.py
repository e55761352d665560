"""The dynamic-networks capability is observable the way it is on a real
cluster: the controller's DaemonSet exists in kube-system or not."""

from tests.integration.helpers import wait_for

DS = "/apis/apps/v1/namespaces/kube-system/daemonsets?labelSelector=app%3Ddynamic-networks-controller"


def test_daemonset_follows_the_capability(lab):
    saved = lab.get_config()["dynamic_networks"]
    try:
        lab.set_config(dynamic_networks=True)
        assert wait_for(lambda: len(lab.request("GET", DS)["items"]) == 1, timeout=120, message="DaemonSet")
        lab.set_config(dynamic_networks=False)
        assert wait_for(lambda: lab.request("GET", DS)["items"] == [], timeout=120, message="DaemonSet gone")
    finally:
        lab.set_config(dynamic_networks=saved)
