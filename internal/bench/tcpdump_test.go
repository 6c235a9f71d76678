package bench

import "testing"

func TestParseTcpdumpStats(t *testing.T) {
	st, err := parseTcpdumpStats([]string{"1 packet captured", "12 packets received by filter", "3 packets dropped by kernel"})
	if err != nil || st != (TcpdumpStats{Captured: 1, Received: 12, Dropped: 3}) {
		t.Errorf("parse: %+v, %v", st, err)
	}
	if _, err := parseTcpdumpStats([]string{"tcpdump: pcap_loop: something"}); err == nil {
		t.Error("no statistics: want an error")
	}
}
