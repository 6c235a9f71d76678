package main

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestReleaseConfig checks that goreleaser builds and names an archive for
// every platform the krew template lists, with the plugin's version
// stamped in (it picks the node image's tag).
func TestReleaseConfig(t *testing.T) {
	b, err := os.ReadFile("../../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Builds []struct {
			ID      string   `json:"id"`
			Goos    []string `json:"goos"`
			Goarch  []string `json:"goarch"`
			Ldflags []string `json:"ldflags"`
		} `json:"builds"`
		Archives []struct {
			IDs          []string `json:"ids"`
			NameTemplate string   `json:"name_template"`
		} `json:"archives"`
		Krews []struct {
			IDs []string `json:"ids"`
		} `json:"krews"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile("../../deploy/krew/pktlife.yaml")
	if err != nil {
		t.Fatal(err)
	}
	platforms := regexp.MustCompile(`kubectl-pktlife_\{\{ \.TagName \}\}_(\w+)_(\w+)\.tar\.gz`).FindAllStringSubmatch(string(tmpl), -1)
	if len(platforms) == 0 {
		t.Fatal("no archive in the krew template")
	}
	found := false
	for _, bd := range cfg.Builds {
		if bd.ID != "kubectl-pktlife" {
			continue
		}
		found = true
		for _, p := range platforms {
			if !slices.Contains(bd.Goos, p[1]) || !slices.Contains(bd.Goarch, p[2]) {
				t.Errorf("krew lists %s/%s, goreleaser does not build it", p[1], p[2])
			}
		}
		if len(bd.Ldflags) != 1 || !regexp.MustCompile(`-X github.com/pktlife/pktlife/kube.Version=\{\{ \.Tag \}\}`).MatchString(bd.Ldflags[0]) {
			t.Errorf("ldflags %q do not stamp the version", bd.Ldflags)
		}
	}
	if !found {
		t.Fatal("no kubectl-pktlife build")
	}
	named := false
	for _, a := range cfg.Archives {
		if slices.Equal(a.IDs, []string{"kubectl-pktlife"}) {
			named = a.NameTemplate == "kubectl-pktlife_{{ .Tag }}_{{ .Os }}_{{ .Arch }}"
		}
	}
	if !named {
		t.Error("the plugin's archives are not named as the krew template expects")
	}
	if len(cfg.Krews) != 1 || !slices.Equal(cfg.Krews[0].IDs, []string{"kubectl-pktlife"}) {
		t.Errorf("krews %+v: want one manifest of the plugin's archives", cfg.Krews)
	}
}
