package trace

import (
	"bytes"
	"encoding/binary"
	"maps"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"

	"github.com/pktlife/pktlife/bpf"
)

func TestParseKallsyms(t *testing.T) {
	in := strings.Join([]string{
		"ffffffff81000000 T _stext",
		"ffffffff81a00000 T ip_rcv",
		"ffffffff81a00100 t ip_rcv",     // a second symbol of the name: the first wins
		"ffffffff81b00000 d ip_forward", // data, not text
		"ffffffff81c00000 t ip6_forward",
		"ffffffffc0a01000 t bond_handle_frame\t[bonding]",
		"ffffffffc0b01000 T ipvlan_queue_xmit\t[ipvlan]",
		"ffffffffc0c01000 t veth_xmit\t[veth]", // not wanted
		"short line",
		"",
	}, "\n")
	want := map[string]bool{"ip_rcv": true, "ip_forward": true, "ip6_forward": true, "bond_handle_frame": true, "ipvlan_queue_xmit": true}
	got, err := parseKallsyms(strings.NewReader(in), want)
	if err != nil {
		t.Fatal(err)
	}
	exp := map[string]string{"ip_rcv": "", "ip6_forward": "", "bond_handle_frame": "bonding", "ipvlan_queue_xmit": "ipvlan"}
	if !maps.Equal(got, exp) {
		t.Errorf("parseKallsyms = %v, want %v", got, exp)
	}
}

// TestKallsymsHasCatalogFunctions reads this kernel's /proc/kallsyms: it
// has ip_rcv (built in, never a module) and nothing outside the catalog.
func TestKallsymsHasCatalogFunctions(t *testing.T) {
	syms, err := kallsyms()
	if err != nil {
		t.Skipf("no /proc/kallsyms: %v", err)
	}
	if mod, ok := syms["ip_rcv"]; !ok || mod != "" {
		t.Errorf("ip_rcv: module %q, found %v; want vmlinux", mod, ok)
	}
	names := map[string]bool{}
	for _, h := range kfuncHops {
		for _, fn := range h.kfunc.funcs {
			names[fn] = true
		}
	}
	for fn := range syms {
		if !names[fn] {
			t.Errorf("%s: not a catalog function", fn)
		}
	}
}

// TestAtomicsOnlyInCASProgram: kernels before 5.12 refuse a program that
// contains a BPF atomic compare-and-exchange, even where it is dead code,
// so only the socket-send observer loaded where the kernel has them may
// contain one.
func TestAtomicsOnlyInCASProgram(t *testing.T) {
	spec, err := bpf.LoadPktlife()
	if err != nil {
		t.Fatal(err)
	}
	cmpxchg := asm.CmpXchg.OpCode(asm.DWord)
	for name, p := range spec.Programs {
		var n int
		for _, ins := range p.Instructions {
			if ins.OpCode == cmpxchg || ins.OpCode == asm.CmpXchg.OpCode(asm.Word) {
				n++
			}
		}
		want := 0
		if name == bpf.PktlifeProgPlSockEgressCas {
			want = 1
		}
		if n != want {
			t.Errorf("%s: %d compare-and-exchange instructions, want %d", name, n, want)
		}
	}
}

// TestAtomicsProbeEncoding: the probe's instruction must reach the kernel
// as a compare-and-exchange (immediate 0xf1), not as the atomic add that
// an immediate of 0 means, which every kernel since 5.10 takes.
func TestAtomicsProbeEncoding(t *testing.T) {
	var b bytes.Buffer
	if err := atomicsProbe().Marshal(&b, binary.LittleEndian); err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	for i := 0; i+asm.InstructionSize <= len(raw); i += asm.InstructionSize {
		if raw[i] != 0xdb { // BPF_STX | BPF_DW | BPF_ATOMIC
			continue
		}
		if imm := binary.LittleEndian.Uint32(raw[i+4:]); imm != 0xf1 {
			t.Fatalf("atomic instruction's immediate %#x, want 0xf1 (BPF_CMPXCHG)", imm)
		}
		return
	}
	t.Fatalf("no atomic instruction in % x", raw)
}
