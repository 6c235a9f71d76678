package filter_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pktlife/pktlife/filter"
	"github.com/pktlife/pktlife/filter/filtertest"
)

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct{ expr, want string }{
		{"udp and", `parse filter "udp and": missing a primitive at the end`},
		{"(tcp", "missing ) at the end"},
		{"tcp)", `unexpected ")" at offset 3`},
		{"host", "host needs a value at the end"},
		{"port and tcp", "port needs a value at offset 5"},
		{"10.0.0.1", `"10.0.0.1" needs a qualifier (say host 10.0.0.1) at offset 0`},
		{"foo", `unknown word "foo"`},
		{"host example.com", "host example.com: want an IPv4 or IPv6 address (host names are not resolved)"},
		{"host fe80::1%eth0", `unexpected "%" at offset 12`},
		{"net 10.0.0.1/24", "net 10.0.0.1/24: non-network bits set"},
		{"net 10.0.0.0/33", `bad prefix length "33"`},
		{"net fd00:: mask ffff::", "mask applies to IPv4 networks only"},
		{"net 10.0.0.1 mask 255.0.0.0", "non-network bits set"},
		{"ip6 host 10.0.0.1", "an IPv4 address cannot be qualified by ip6"},
		{"tcp host 10.0.0.1", `"tcp" cannot qualify host`},
		{"icmp port 1", `"icmp" cannot qualify port (want tcp, udp or sctp)`},
		{"port 70000", "want a port number 0-65535"},
		{"portrange 10", "want a range such as 1000-2000"},
		{"proto 300", "want a protocol number 0-255"},
		{"src proto 6", "proto takes no direction"},
		{"tcp[0:2] = 80", "packet byte offsets (tcp[...]) are not supported; of them, only tcp[tcpflags] is at offset 4"},
		{"ip[6:2] & 0x1fff = 0", "packet byte offsets (ip[...]) are not supported"},
		{"tcp[tcpflags] & tcp-syn|tcp-ack != 0", "put a mask of several flags in parentheses: & (tcp-syn|tcp-ack) at offset 23"},
		{"tcp[tcpflags] & tcp-syn > 0", "tcp[tcpflags] is compared with =, == or != only at offset 24"},
		{"tcp[tcpflags] = tcp-bogus", "want a number 0-255 or TCP flag names"},
		{"tcp[tcpflags = 2", "missing ] at offset 13"},
		{"ether host 01:02:03:04:05:06", `"ether" is not supported (pktlife filters IP packets`},
		{"arp", `"arp" is not supported`},
		{"vlan and udp", `"vlan" is not supported`},
		{"less 100", `"less" is not supported (packet lengths differ from hook to hook)`},
		{"PORT 53", `unknown word "PORT"`},                // keywords are lower case, as in tcpdump
		{"(port 80) or 2000", `"2000" needs a qualifier`}, // tcpdump reads it otherwise
		{"port 80 and tcp or 2000", `"2000" needs a qualifier`},
		{"host 10.0.0.1 and (10.0.0.2)", `"10.0.0.2" needs a qualifier (say host 10.0.0.2)`},
		{"udp and $", `unexpected character '$' at offset 8`},
	} {
		_, err := filter.Compile(c.expr)
		if err == nil {
			t.Errorf("%q: compiled, want error %q", c.expr, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %q, want it to contain %q", c.expr, err, c.want)
		}
		if !errors.Is(err, filter.ErrSyntax) {
			t.Errorf("%q: error %q is not ErrSyntax", c.expr, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %q is not one line", c.expr, err)
		}
	}
}

// TestCompileTooLong refuses what the kernel cannot hold, and takes what
// it can: one test per primitive, whatever and/or/not around them.
func TestCompileTooLong(t *testing.T) {
	var ps []string
	for i := range filter.MaxInsns {
		ps = append(ps, "port "+string(rune('1'+i%9)))
	}
	prog, err := filter.Compile("not (" + strings.Join(ps, " or ") + ") and (" + strings.Join(ps[:0], "") + "tcp)")
	if err == nil || !errors.Is(err, filter.ErrTooLong) {
		t.Fatalf("17 primitives: %v, want ErrTooLong", err)
	}
	if prog, err = filter.Compile("not (" + strings.Join(ps, " or ") + ")"); err != nil || len(prog) != filter.MaxInsns {
		t.Fatalf("16 primitives: %d tests, %v", len(prog), err)
	}
}

// TestCompileSame checks spellings that must mean the same on every
// generated packet, without tcpdump.
func TestCompileSame(t *testing.T) {
	pkts := filtertest.Packets()
	for _, c := range [][2]string{
		{"port 53 or 80", "port 53 or port 80"},
		{"tcp dst port 80 or 443", "tcp dst port 80 or tcp dst port 443"},
		{"not host 10.0.0.1 and 10.0.0.2", "not host 10.0.0.1 and host 10.0.0.2"},
		{"tcp or udp and port 53", "(tcp or udp) and port 53"},
		{"udp && port 53 || icmp", "(udp and port 53) or icmp"},
		{"src or dst net 10.0.0.0/8", "net 10"},
		{"not (tcp or udp)", "!tcp && !udp"},
		{"src and dst host 10.0.0.1", "src host 10.0.0.1 and dst host 10.0.0.1"},
	} {
		a, err := filter.Compile(c[0])
		if err != nil {
			t.Fatalf("%q: %v", c[0], err)
		}
		b, err := filter.Compile(c[1])
		if err != nil {
			t.Fatalf("%q: %v", c[1], err)
		}
		var n int
		for i := range pkts {
			if a.Match(&pkts[i]) != b.Match(&pkts[i]) {
				t.Errorf("%q and %q differ on packet %d (%+v)", c[0], c[1], i, pkts[i])
				break
			}
			if a.Match(&pkts[i]) {
				n++
			}
		}
		if n == 0 || n == len(pkts) {
			t.Errorf("%q matches %d of %d packets: the comparison proves nothing", c[0], n, len(pkts))
		}
	}
}

func TestCompileEmpty(t *testing.T) {
	for _, e := range []string{"", "  "} {
		prog, err := filter.Compile(e)
		if err != nil || len(prog) != 0 {
			t.Errorf("%q: %v, %d tests; want the empty program", e, err, len(prog))
		}
		if !prog.Match(&filter.Packet{Family: 4}) {
			t.Errorf("%q: the empty program must match every packet", e)
		}
	}
}

// FuzzCompile: no input panics, and every program the compiler returns
// fits the kernel and only jumps forward (so the kernel's loop ends).
func FuzzCompile(f *testing.F) {
	for _, e := range filtertest.Exprs {
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		prog, err := filter.Compile(expr)
		if err != nil {
			if !errors.Is(err, filter.ErrSyntax) && !errors.Is(err, filter.ErrTooLong) {
				t.Fatalf("%q: error %v is neither ErrSyntax nor ErrTooLong", expr, err)
			}
			return
		}
		if len(prog) > filter.MaxInsns {
			t.Fatalf("%q: %d tests", expr, len(prog))
		}
		for i, in := range prog {
			for _, j := range []uint8{in.JT, in.JF} {
				if j != filter.Accept && j != filter.Reject && int(j) <= i || int(j) >= len(prog) && j < filter.Accept {
					t.Fatalf("%q: test %d jumps to %#x\n%s", expr, i, j, prog)
				}
			}
		}
	})
}
