"""KubeVirt 1.9 emulated through the API: controllers, admission webhooks and
the aggregated subresources API, for the lab cluster."""
