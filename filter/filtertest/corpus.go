package filtertest

// Exprs are expressions pktlife and tcpdump must agree on.
var Exprs = []string{
	"",
	"ip", "ip6", "tcp", "udp", "sctp", "icmp", "icmp6", "not ip",
	"proto 47", "ip proto 1", "ip6 proto 1", "ip proto 58", "ip6 proto 58", "proto \\udp",
	"host 10.0.0.1", "src host 10.0.0.1", "dst host 10.0.0.2",
	"src or dst host 10.0.0.1", "src and dst host 10.0.0.1", "dst and src host 10.0.0.2",
	"host fd00::1", "src fd00::2", "ip6 host fd00::1", "ip host 10.1.2.3",
	"net 10.0.0.0/8", "net 10", "net 10.0", "src net 10.0.0.0/16", "dst net 192.168.0.0/16",
	"net 10.0.0.0 mask 255.0.0.0", "net 10.0.0.0 mask 255.0.255.0", "src net 172.16.0.0 mask 255.255.0.0",
	"net fd00::/16", "src net fd00:1::/32", "net 2001:db8::/32", "net fe80::/10",
	"port 53", "src port 53", "dst port 80", "tcp port 80", "udp dst port 53", "sctp port 22",
	"port domain", "tcp dst port http or https", "port 53 or 80", "src or dst port 1000",
	"src and dst port 1500", "portrange 1000-2000", "tcp portrange 1000-2000", "dst portrange 2001-3000",
	"src portrange 2000-1000", "not port 22", "! tcp", "udp and dst port 53",
	"udp && port 53 || tcp && port 80", "host 10.0.0.1 and not port 22",
	"not (host 10.0.0.1 or host 10.0.0.2)", "not host 10.0.0.1 and 10.0.0.2",
	"(tcp or udp) and (port 22 or port 443) and not net 192.168.0.0/16",
	"tcp or udp and port 53", "ip and (udp or icmp) and src net 10.0.0.0/16",
	"ip6 and not icmp6 and dst host fd00::2", "host 10.0.0.1 or fd00::1",
	"src host 10.0.0.1 and dst host 10.0.0.2 or src host 10.0.0.2 and dst host 10.0.0.1",
	"not not tcp", "not (tcp and port 80) and not (udp and port 53)", "(((udp)))",
	"tcp src port 1000 or 2000 or 3000", "sctp or proto 47 or icmp or icmp6",
}
