// Command kindconfig checks a kind cluster config with kind's own v1alpha4 types, without Docker:
//
//	kindconfig FILE
//
// It prints a one-line summary, or the error and exits 1. kind's full validation (pkg/internal/apis/config)
// is internal to kind's module, so the node-role and control-plane rules are repeated here with kind's
// exported constants and kind's wording.
package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

func check(raw []byte) (string, error) {
	var c v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		return "", fmt.Errorf("unable to decode config: %w", err)
	}
	// Also the decoder `kind create cluster --config` uses (encoding.Parse): yaml.v3 with known fields
	// only, which runs the types' UnmarshalYAML checks (mount propagation, port protocol).
	d := yamlv3.NewDecoder(bytes.NewReader(raw))
	d.KnownFields(true)
	if err := d.Decode(&v1alpha4.Cluster{}); err != nil {
		return "", fmt.Errorf("unable to decode config: %w", err)
	}
	if c.Kind != "Cluster" || c.APIVersion != "kind.x-k8s.io/v1alpha4" {
		return "", fmt.Errorf("kind/apiVersion %q/%q, want \"Cluster\"/\"kind.x-k8s.io/v1alpha4\"", c.Kind, c.APIVersion)
	}
	v1alpha4.SetDefaultsCluster(&c)
	roles := make([]string, 0, len(c.Nodes))
	control := 0
	for i, n := range c.Nodes {
		switch n.Role {
		case v1alpha4.ControlPlaneRole:
			control++
		case v1alpha4.WorkerRole:
		default:
			return "", fmt.Errorf("invalid configuration for node %d: %q is not a valid node role", i, n.Role)
		}
		roles = append(roles, string(n.Role))
	}
	if control == 0 {
		return "", fmt.Errorf("must have at least one %s node", v1alpha4.ControlPlaneRole)
	}
	return fmt.Sprintf("name=%s nodes=%s image=%s ipFamily=%s podSubnet=%s serviceSubnet=%s kubeProxyMode=%s",
		c.Name, strings.Join(roles, ","), c.Nodes[0].Image, c.Networking.IPFamily, c.Networking.PodSubnet,
		c.Networking.ServiceSubnet, c.Networking.KubeProxyMode), nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kindconfig FILE")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err == nil {
		var summary string
		if summary, err = check(raw); err == nil {
			fmt.Println(summary)
			return
		}
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
	os.Exit(1)
}
