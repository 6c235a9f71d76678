package pcapng

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, "pktlife test")
	if err != nil {
		t.Fatal(err)
	}
	ifs := []Interface{
		{LinkType: LinkTypeRaw, SnapLen: 128, Name: "eth0@poda", Description: "eth0 (if 2) in netns poda"},
		{LinkType: LinkTypeRaw, SnapLen: 128, Name: "lxc-a"}, // no description, odd lengths
	}
	for i, ifc := range ifs {
		id, err := w.Interface(ifc)
		if err != nil || id != uint32(i) {
			t.Fatalf("Interface %d = %d, %v", i, id, err)
		}
	}
	at := time.Date(2026, 12, 3, 10, 0, 0, 123456789, time.UTC)
	pkts := []Packet{
		{Interface: 0, Time: at, Data: []byte{0x45, 0, 0, 33, 1}, Length: 33, Comment: "journey 1 hop 1"},
		{Interface: 1, Time: at.Add(1500 * time.Nanosecond), Data: nil, Length: 60, Comment: "no bytes"},
		{Interface: 1, Time: at.Add(time.Second), Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Length: 8},
	}
	for _, p := range pkts {
		if err := w.Packet(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Packet(Packet{Interface: 2}); err == nil {
		t.Error("a packet on an undeclared interface was written")
	}
	if buf.Len()%4 != 0 {
		t.Errorf("file length %d is not a multiple of 4", buf.Len())
	}
	f, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	checkRead(t, f, ifs, pkts)
}

// checkRead compares what Read found with what was written.
func checkRead(t *testing.T, f *File, ifs []Interface, pkts []Packet) {
	t.Helper()
	if f.App != "pktlife test" {
		t.Errorf("app = %q", f.App)
	}
	if !reflect.DeepEqual(f.Interfaces, ifs) {
		t.Errorf("interfaces = %+v, want %+v", f.Interfaces, ifs)
	}
	if len(f.Packets) != len(pkts) {
		t.Fatalf("%d packets, want %d", len(f.Packets), len(pkts))
	}
	for i, p := range f.Packets {
		want := pkts[i]
		if !p.Time.Equal(want.Time) || !bytes.Equal(p.Data, want.Data) || p.Length != want.Length ||
			p.Comment != want.Comment || p.Interface != want.Interface {
			t.Errorf("packet %d = %+v, want %+v", i, p, want)
		}
	}
}

func TestReadRejectsTruncated(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, "x")
	w.Interface(Interface{LinkType: LinkTypeRaw, Name: "a"})
	b := buf.Bytes()
	if _, err := Read(bytes.NewReader(b[:len(b)-3])); err == nil {
		t.Error("a truncated file was read without error")
	}
}
