package trace_test

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// TestCapturePacketBytes sends UDP datagrams between two namespaces with
// capture on and checks the bytes of every hop that reads the packet: its
// IPv4 header and payload as sent, cut at the snap length or at the packet's
// end, whichever comes first; hops that never read the packet
// (net_dev_xmit) carry none. With capture off no hop carries bytes.
func TestCapturePacketBytes(t *testing.T) {
	const snap = 48
	payload := []byte("pktlife-capture-payload-0123456789") // 20+8+34 > snap
	for _, tc := range []struct {
		name    string
		snaplen int
		port    uint16
		data    []byte
		want    int // bytes per reading hop
	}{
		{"long", snap, 7781, payload, snap},
		{"short", snap, 7782, []byte("hi"), 20 + 8 + 2},
		{"off", 0, 7783, payload, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pair(t)
			_, journeys := start(t, trace.Options{
				Filter:  trace.Filter{Proto: 17, Dport: tc.port},
				Netns:   []string{a.Path, b.Path},
				Snaplen: tc.snaplen,
			})
			addr := "10.99.0.2:" + strconv.Itoa(int(tc.port))
			srv := b.ListenUDP(t, addr)
			cli := a.DialUDP(t, "", addr)
			if _, err := cli.Write(tc.data); err != nil {
				t.Fatal(err)
			}
			srv.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := srv.ReadFrom(make([]byte, 64)); err != nil {
				t.Fatalf("server read: %v", err)
			}
			j := waitJourney(t, journeys, func(j *journey.Journey) bool { return j.Tuple.Dst.Port() == tc.port && len(j.Hops) > 2 })
			reading := 0
			for _, h := range j.Hops {
				p := h.Packet()
				if h.Hook == journey.HookNetDevXmit || tc.want == 0 {
					if len(p) != 0 {
						t.Errorf("hop %d %s: %d bytes, want none", h.Index, h.Hook, len(p))
					}
					continue
				}
				reading++
				if len(p) != tc.want {
					t.Errorf("hop %d %s@%s: %d bytes, want %d", h.Index, h.Hook, h.Device.Name, len(p), tc.want)
					continue
				}
				if p[0] != 0x45 || !bytes.Equal(p[12:16], []byte{10, 99, 0, 1}) || !bytes.Equal(p[16:20], []byte{10, 99, 0, 2}) || p[9] != 17 {
					t.Errorf("hop %d %s: not the datagram's IPv4 header: % x", h.Index, h.Hook, p[:20])
				}
				if n := len(p) - 28; !bytes.Equal(p[28:], tc.data[:n]) {
					t.Errorf("hop %d %s: payload %q, want %q", h.Index, h.Hook, p[28:], tc.data[:n])
				}
			}
			if tc.want > 0 && reading < 4 {
				t.Errorf("only %d hops with bytes in %s", reading, hookSeq(j))
			}
		})
	}
}
