package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestKrewTemplate renders deploy/krew's template the way krew-release-bot
// does (tag, uri and sha256) and checks the manifest krew would read.
func TestKrewTemplate(t *testing.T) {
	b, err := os.ReadFile("../../deploy/krew/pktlife.yaml")
	if err != nil {
		t.Fatal(err)
	}
	addURI := regexp.MustCompile(`\{\{addURIAndSha "([^"]+)" \.TagName \}\}`)
	s := addURI.ReplaceAllString(string(b), "uri: $1\n    sha256: "+strings.Repeat("ab", 32))
	s = strings.ReplaceAll(s, "{{ .TagName }}", "v1.2.3")
	if strings.Contains(s, "{{") {
		t.Fatalf("template placeholders left after rendering:\n%s", s)
	}
	var m struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Version          string `json:"version"`
			ShortDescription string `json:"shortDescription"`
			Platforms        []struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
				URI    string `json:"uri"`
				Sha256 string `json:"sha256"`
				Bin    string `json:"bin"`
			} `json:"platforms"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("manifest is not YAML: %v", err)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "pktlife" {
		t.Errorf("header %s %s %s", m.APIVersion, m.Kind, m.Metadata.Name)
	}
	if m.Spec.Version != "v1.2.3" || m.Spec.ShortDescription == "" || len(m.Spec.Platforms) == 0 {
		t.Errorf("spec %+v", m.Spec)
	}
	for _, p := range m.Spec.Platforms {
		osName, arch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
		wantBin := "kubectl-pktlife"
		if osName == "windows" {
			wantBin += ".exe"
		}
		wantURI := "https://github.com/pktlife/pktlife/releases/download/v1.2.3/kubectl-pktlife_v1.2.3_" + osName + "_" + arch + ".tar.gz"
		if p.Bin != wantBin || p.URI != wantURI || len(p.Sha256) != 64 {
			t.Errorf("platform %s/%s: bin %q uri %q", osName, arch, p.Bin, p.URI)
		}
	}
}
