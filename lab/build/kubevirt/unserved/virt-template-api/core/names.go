// Package core declares the VirtualMachineTemplate API group names KubeVirt
// v1.9.0 refers to (see ../../README.md).
package core

const (
	GroupName            = "template.kubevirt.io"
	SingularResourceName = "virtualmachinetemplate"
	PluralResourceName   = "virtualmachinetemplates"
)
