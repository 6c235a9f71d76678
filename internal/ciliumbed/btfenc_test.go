package ciliumbed

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// TestEncode lays out a key like Cilium's policy_key: an LPM prefix in a
// nested struct, a bitfield, a __be16 and a __u16 written in network
// order on request.
func TestEncode(t *testing.T) {
	u8 := &btf.Int{Name: "__u8", Size: 1}
	u16 := &btf.Int{Name: "__u16", Size: 2}
	u32 := &btf.Int{Name: "__u32", Size: 4}
	be16 := &btf.Typedef{Name: "__be16", Type: u16}
	lpm := &btf.Struct{Name: "bpf_lpm_trie_key", Size: 4, Members: []btf.Member{{Name: "prefixlen", Type: u32}}}
	key := &btf.Struct{Name: "policy_key", Size: 16, Members: []btf.Member{
		{Name: "lpm_key", Type: lpm},
		{Name: "sec_label", Type: u32, Offset: 32},
		{Name: "egress", Type: u8, Offset: 64, BitfieldSize: 1},
		{Name: "pad", Type: u8, Offset: 65, BitfieldSize: 7},
		{Name: "protocol", Type: u8, Offset: 72},
		{Name: "dport", Type: be16, Offset: 80},
		{Name: "port", Type: u16, Offset: 96},
	}}
	got, err := encode(key, Fields{"lpm_key.prefixlen": 64, "sec_label": 0x01020304, "egress": 1,
		"protocol": 17, "dport": 8080, "port": BE16(80), "?absent": 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{64, 0, 0, 0, 4, 3, 2, 1, 1, 17, 0x1f, 0x90, 0, 80, 0, 0}
	if !bytes.Equal(got, want) {
		t.Errorf("encoded % x, want % x", got, want)
	}
	if _, err := encode(key, Fields{"dst_port": 1}); err == nil || !strings.Contains(err.Error(), "dst_port") {
		t.Errorf("a member the struct lacks: error %v, want one naming dst_port", err)
	}
}
