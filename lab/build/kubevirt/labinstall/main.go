// Command labinstall prints, as one JSON document, the objects virt-operator
// v1.9.0 would install for a KubeVirt CR (read as JSON from stdin): CRDs,
// service accounts and RBAC, the virt-api webhook configurations, the
// subresources APIService and the ValidatingAdmissionPolicies.  It calls
// virt-operator's own generator (pkg/virt-operator/resource/generate/install,
// GenerateCurrentInstallStrategy), so the lab installs exactly what a cluster
// gets; the lab (lab/kubevirt_install.py) then points the webhooks and
// the APIService at virt-api running as a local process.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	v1 "kubevirt.io/api/core/v1"

	"kubevirt.io/kubevirt/pkg/virt-operator/resource/generate/components"
	"kubevirt.io/kubevirt/pkg/virt-operator/resource/generate/install"
	operatorutil "kubevirt.io/kubevirt/pkg/virt-operator/util"
)

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	kv := &v1.KubeVirt{}
	if err := json.Unmarshal(raw, kv); err != nil {
		fail(fmt.Errorf("stdin is not a KubeVirt CR: %w", err))
	}
	config := operatorutil.GetTargetConfigFromKV(kv)
	strategy, err := install.GenerateCurrentInstallStrategy(config, "", kv.Namespace)
	if err != nil {
		fail(err)
	}
	// the KubeVirt CRD itself ships with virt-operator's own manifests, not in the strategy
	kubevirtCRD, err := components.NewKubeVirtCrd()
	if err != nil {
		fail(err)
	}
	out := map[string]interface{}{
		"customResourceDefinitions":         append(strategy.CRDs(), kubevirtCRD),
		"serviceAccounts":                   strategy.ServiceAccounts(),
		"clusterRoles":                      strategy.ClusterRoles(),
		"clusterRoleBindings":               strategy.ClusterRoleBindings(),
		"roles":                             strategy.Roles(),
		"roleBindings":                      strategy.RoleBindings(),
		"validatingWebhookConfigurations":   strategy.ValidatingWebhookConfigurations(),
		"mutatingWebhookConfigurations":     strategy.MutatingWebhookConfigurations(),
		"apiServices":                       strategy.APIServices(),
		"validatingAdmissionPolicies":       strategy.ValidatingAdmissionPolicies(),
		"validatingAdmissionPolicyBindings": strategy.ValidatingAdmissionPolicyBindings(),
		"deployments":                       strategy.Deployments(),
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "labinstall:", err)
	os.Exit(1)
}
