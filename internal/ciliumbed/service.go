package ciliumbed

import (
	"fmt"
	"net/netip"
)

// AddService makes vip a ClusterIP service of one backend, as the agent
// writes it: the service's master entry (slot 0, the backend count), the
// backend's slot, the backend, and the reverse NAT entry, all with the
// service's ID as rev_nat_index. Protocol 0 (any) matches every release's
// lookup. The backend's ID is the service's: one backend per service.
func (b *Bed) AddService(id uint16, vip, backend netip.AddrPort) error {
	svcs := b.Map("test_cilium_lb4_services", "cilium_lb4_services")
	backends := b.Map("test_cilium_lb4_backends", "cilium_lb4_backends")
	revnat := b.Map("test_cilium_lb4_reverse_nat", "cilium_lb4_reverse_nat")
	if svcs == "" || backends == "" || revnat == "" {
		return fmt.Errorf("add service: the object has no service maps")
	}
	vaddr, baddr := vip.Addr().As4(), backend.Addr().As4()
	key := func(slot uint16) Fields {
		return Fields{"address": vaddr, "dport": vip.Port(), "backend_slot": slot}
	}
	backendID := uint32(id)
	steps := []struct {
		m          string
		key, value Fields
	}{
		{svcs, key(0), Fields{"count": 1, "rev_nat_index": id}},
		{svcs, key(1), Fields{"backend_id": backendID, "rev_nat_index": id}},
		{backends, Fields{"": backendID}, Fields{"address": baddr, "port": backend.Port(), "proto": 17}},
		{revnat, Fields{"": id}, Fields{"address": vaddr, "port": vip.Port()}},
	}
	for _, s := range steps {
		if err := b.Put(s.m, s.key, s.value); err != nil {
			return fmt.Errorf("add service %s: %w", vip, err)
		}
	}
	return nil
}

// AllowEgress lets the endpoint send proto to port at any destination: an
// L4-only entry (identity 0, "ANY") in its policy map, which both
// releases look up after the identity's own entry. Everything else the
// endpoint sends is denied: Cilium drops it with "Policy denied".
func (b *Bed) AllowEgress(proto uint8, port uint16) error {
	if err := b.allow(1, proto, port); err != nil {
		return fmt.Errorf("allow egress: %w", err)
	}
	return nil
}

// AllowIngress lets the endpoint receive proto at port from anyone, as
// AllowEgress lets it send.
func (b *Bed) AllowIngress(proto uint8, port uint16) error {
	if err := b.allow(0, proto, port); err != nil {
		return fmt.Errorf("allow ingress: %w", err)
	}
	return nil
}

func (b *Bed) allow(egress uint8, proto uint8, port uint16) error {
	m := b.Map("test_cilium_policy_", "cilium_policy_v2")
	if m == "" {
		return fmt.Errorf("the object has no policy map")
	}
	key := Fields{
		"lpm_key.prefixlen": 64, // sec_label, egress, protocol, dport: a full match
		"sec_label":         0,
		"egress":            egress,
		"protocol":          proto,
		"dport":             BE16(port), // network order, though 1.14 types it __u16
	}
	// 1.18 says how much of protocol and port the entry matches (8+16
	// bits); 1.14 has no such field and wildcard flags left off instead.
	value := Fields{"?lpm_prefix_length": 24}
	return b.Put(m, key, value)
}

// AddIdentity maps prefix to a security identity in the bed's ipcache, as
// the agent writes a remote pod's address: an IPv4 key (family 1) whose
// prefix length counts the 32 bits before the address.
func (b *Bed) AddIdentity(prefix netip.Prefix, identity uint32) error {
	m := b.Map("test_cilium_ipcache", "cilium_ipcache")
	if m == "" {
		return fmt.Errorf("add identity: the object has no ipcache")
	}
	key := Fields{
		"lpm_key.prefixlen": 32 + prefix.Bits(),
		"family":            1,
		"ip4":               prefix.Addr().As4(),
	}
	if err := b.Put(m, key, Fields{"sec_identity": identity}); err != nil {
		return fmt.Errorf("add identity %s: %w", prefix, err)
	}
	return nil
}
