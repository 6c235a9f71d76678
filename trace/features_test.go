package trace

import (
	"maps"
	"strings"
	"testing"
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
