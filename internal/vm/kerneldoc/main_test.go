package main

import (
	"strings"
	"testing"
)

const old = `vmexec: booting
{"name":"5.10.0-46-amd64","kind":"kernel","default":false,"supported":true,"what":"this kernel's release"}
{"name":"tc-ingress","kind":"tc","default":true,"supported":true,"mechanism":"clsact","what":"tc ingress"}
{"name":"bond_start_xmit","kind":"kfunc","default":true,"supported":true,"mechanism":"kprobe","what":"bond"}
{"name":"kfree_skb reason","kind":"feature","default":false,"supported":false,"what":"drops carry no reason (the tracepoint passes none)"}
`

const young = `{"name":"7.2.13+deb14-amd64","kind":"kernel","default":false,"supported":true,"what":"this kernel's release"}
{"name":"tc-ingress","kind":"tc","default":true,"supported":true,"mechanism":"tcx","what":"tc ingress"}
{"name":"bond_start_xmit","kind":"kfunc","default":true,"supported":false,"reason":"fentry: refused\nlog line","what":"bond"}
{"name":"kfree_skb reason","kind":"feature","default":false,"supported":true,"what":"drops carry the kernel's reason"}
`

func TestRender(t *testing.T) {
	var ks []*facts
	for _, in := range []string{old, young} {
		k, err := parse(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	var b strings.Builder
	if err := render(&b, ks); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	for _, want := range []string{
		"| | 5.10.0-46-amd64 | 7.2.13+deb14-amd64 |",
		"| tc-ingress | clsact | tcx |",
		"| bond_start_xmit | kprobe | no ¹ |",
		"| kfree_skb reason | no ¹ | yes |",
		"- bond_start_xmit on 7.2.13+deb14-amd64: fentry: refused\n",
		"- kfree_skb reason on 5.10.0-46-amd64: drops carry no reason (the tracepoint passes none)",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("missing %q in:\n%s", want, doc)
		}
	}
}

func TestParseNeedsKernelRow(t *testing.T) {
	if _, err := parse(strings.NewReader(`{"name":"tc-ingress","kind":"tc"}`)); err == nil {
		t.Error("facts without a kernel row accepted")
	}
}
