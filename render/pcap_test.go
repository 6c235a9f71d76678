package render

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/pktlife/pktlife/render/pcapng"
	"github.com/pktlife/pktlife/trace/journey"
)

// ipv4UDP builds the first bytes of an IPv4/UDP packet of total length n.
func ipv4UDP(n int, dst [4]byte) []byte {
	b := make([]byte, 28)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	b[9] = 17
	copy(b[12:], []byte{10, 244, 1, 2})
	copy(b[16:], dst[:])
	return b
}

func writePcap(t *testing.T, js ...*journey.Journey) *pcapng.File {
	t.Helper()
	var buf bytes.Buffer
	p, err := NewPcap(&buf, 128)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range js {
		if err := p.Journey(j); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Journey(js[0]); err == nil {
		t.Error("Journey after Close succeeded")
	}
	f, err := pcapng.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// checkPcapInterfaces checks the interfaces of the dnatTailCallDrop and
// udpDelivered capture: one per device and namespace, described.
func checkPcapInterfaces(t *testing.T, f *pcapng.File) {
	t.Helper()
	names := map[string]bool{}
	for _, i := range f.Interfaces {
		names[i.Name] = true
		if i.LinkType != pcapng.LinkTypeRaw || i.SnapLen != 128 {
			t.Errorf("interface %+v: want RAW, snap length 128", i)
		}
		if !strings.Contains(i.Description, "network namespace") {
			t.Errorf("interface %q: description %q names no namespace", i.Name, i.Description)
		}
	}
	for _, n := range []string{"eth0@pod-a", "veth-a@host", "lxc-b@host", "eth0@pod-b", "nodev@pod-a"} {
		if !names[n] {
			t.Errorf("no interface %q among %v", n, names)
		}
	}
	if len(f.Interfaces) != 6 { // pod-a eth0 and pod-a's socket hop (no device) count apart
		t.Errorf("%d interfaces, want 6 (one per device and namespace): %v", len(f.Interfaces), names)
	}
}

func TestPcapHopsCommentsInterfaces(t *testing.T) {
	j := dnatTailCallDrop()
	pre := ipv4UDP(60, [4]byte{10, 96, 0, 10})
	post := ipv4UDP(60, [4]byte{10, 244, 2, 2})
	j.Hops[0].SetPacket(pre)
	j.Hops[2].SetPacket(pre)
	j.Hops[3].SetPacket(post)
	// hop 2 has no bytes of its own: it gets hop 1's (nearest, earlier first)
	f := writePcap(t, j, udpDelivered())

	if want := len(j.Hops) + len(udpDelivered().Hops); len(f.Packets) != want {
		t.Fatalf("%d packets, want one per hop: %d", len(f.Packets), want)
	}
	checkPcapInterfaces(t, f)

	checks := []struct {
		pkt  int
		data []byte
		want []string
	}{
		{0, pre, []string{"pktlife journey 3 hop 1/4: net_dev_queue", "dev eth0 (if 2)", "netns pod-a"}},
		{1, pre, []string{"hop 2/4", "bytes from hop 1"}},
		{2, pre, []string{"tc-ingress", "verdict TC_ACT_SHOT (inferred)", "progs demo_from_pod (id 71)",
			"chain [demo_calls/0] demo_nat (id 80) → [demo_calls/1] demo_policy (id 81)"}},
		{3, post, []string{"kfree_skb", "drop TC_INGRESS", "dnat dst 10.96.0.10:80 ⇒ 10.244.2.2:8080"}},
		{4, nil, []string{"journey 1 hop 1/8: sock_send", "no packet bytes captured"}},
	}
	for _, c := range checks {
		p := f.Packets[c.pkt]
		if !bytes.Equal(p.Data, c.data) {
			t.Errorf("packet %d: data % x, want % x", c.pkt, p.Data, c.data)
		}
		for _, w := range c.want {
			if !strings.Contains(p.Comment, w) {
				t.Errorf("packet %d: comment %q lacks %q", c.pkt, p.Comment, w)
			}
		}
	}
	if f.Packets[0].Length != 60 {
		t.Errorf("packet 0: length %d, want the IP total length 60", f.Packets[0].Length)
	}
	if f.Packets[4].Length != 41 {
		t.Errorf("packet 4 (no bytes): length %d, want the skb length 41", f.Packets[4].Length)
	}
	if got, want := f.Packets[2].Time, j.StartWall.Add(j.Hops[2].At); !got.Equal(want) {
		t.Errorf("packet 2 at %v, want %v", got, want)
	}
}
