package journey

import (
	"encoding/json"
	"net/netip"
	"testing"
	"unsafe"
)

// TestHopJSONRoundTrip checks that a hop with every field set reads back
// as it was written, the rarely set ones included.
func TestHopJSONRoundTrip(t *testing.T) {
	nat := Tuple{Proto: 17, Src: netip.MustParseAddrPort("10.0.0.1:5"), Dst: netip.MustParseAddrPort("10.96.0.10:53"), IPID: 7}
	ret := int64(-22)
	h := Hop{Index: 3, At: 5, Delta: 2, Time: 99, Hook: HookKfuncRet,
		Device: Device{Name: "eth0", Ifindex: 2, Netns: 4026531840, NetnsName: "host"},
		Skb:    0xffff888000001000, CPU: 1, Len: 84, Mark: 0x10, NATFrom: &nat,
		Tuple: Tuple{Proto: 17, Src: netip.MustParseAddrPort("10.0.0.1:5"), Dst: netip.MustParseAddrPort("10.0.1.2:53"), IPID: 7, TCPFlags: 2},
		Progs: []Prog{{ID: 4, Name: "p"}}, TailCalls: []TailCall{{MapID: 1, Slot: 2, Prog: Prog{ID: 5}}},
		Verdict: "TC_ACT_OK", VerdictInferred: true, DropReason: "NO_SOCKET", Ret: &ret}
	h.SetNode("node-a")
	h.SetKfunc("ip_rcv")
	h.SetVerdictFrom("tc-egress x")
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"index":3,"node":"node-a","at_ns":5,"delta_ns":2,"ts":99,"hook":"kfunc_ret","kfunc":"ip_rcv",` +
		`"device":{"name":"eth0","ifindex":2,"netns":4026531840,"netns_name":"host"},"skb":"0xffff888000001000","cpu":1,"len":84,"mark":16,` +
		`"tuple":{"proto":17,"src":"10.0.0.1:5","dst":"10.0.1.2:53","ip_id":7,"tcp_flags":2},` +
		`"nat_from":{"proto":17,"src":"10.0.0.1:5","dst":"10.96.0.10:53","ip_id":7},"progs":[{"id":4,"name":"p"}],` +
		`"tail_calls":[{"at_ns":0,"map_id":1,"slot":2,"prog":{"id":5}}],"verdict":"TC_ACT_OK","verdict_inferred":true,` +
		`"verdict_from":"tc-egress x","drop_reason":"NO_SOCKET","ret":-22}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back Hop
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if string(b2) != string(b) || back.Node() != "node-a" || back.Kfunc() != "ip_rcv" || back.VerdictFrom() != "tc-egress x" {
		t.Errorf("read back as %s", b2)
	}
}

// TestHopSetters checks that setting one rare field keeps the others and
// does not change a copy of the hop.
func TestHopSetters(t *testing.T) {
	var h Hop
	h.SetKfunc("f")
	c := h
	h.SetPacket([]byte{0x45})
	h.SetNode("n")
	if h.Kfunc() != "f" || h.Node() != "n" || len(h.Packet()) != 1 || c.Node() != "" || c.Packet() != nil {
		t.Errorf("hop %q %q %x, copy %q %x", h.Kfunc(), h.Node(), h.Packet(), c.Node(), c.Packet())
	}
	h.SetNode("")
	h.SetKfunc("")
	h.SetPacket(nil)
	if h.rare != nil {
		t.Error("a hop with no rare field set still holds them")
	}
}

// TestHopSize keeps the hop small: it is most of what the pipeline
// allocates (one per event).
func TestHopSize(t *testing.T) {
	if n := unsafe.Sizeof(Hop{}); n > 272 {
		t.Errorf("a Hop is %d bytes, want at most 272", n)
	}
}
