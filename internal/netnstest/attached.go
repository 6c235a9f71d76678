package netnstest

import (
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// PktlifeAttachments lists pktlife's programs still attached to tc hooks of
// the devices of the namespace do runs in: tcx programs named pl_* and
// cls_bpf filters named pktlife*. Tests use it to show nothing is left.
func PktlifeAttachments(do func(func() error) error) ([]string, error) {
	var found []string
	err := do(func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			for _, att := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
				res, err := link.QueryPrograms(link.QueryOptions{Target: l.Attrs().Index, Attach: att})
				if err != nil {
					continue
				}
				for _, p := range res.Programs {
					prog, err := ebpf.NewProgramFromID(p.ID)
					if err != nil {
						continue // gone meanwhile
					}
					if info, err := prog.Info(); err == nil && strings.HasPrefix(info.Name, "pl_") {
						found = append(found, "tcx "+info.Name+" on "+l.Attrs().Name)
					}
					prog.Close()
				}
			}
			for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
				fs, _ := netlink.FilterList(l, parent)
				for _, f := range fs {
					if bf, ok := f.(*netlink.BpfFilter); ok && strings.HasPrefix(bf.Name, "pktlife") {
						found = append(found, "filter "+bf.Name+" on "+l.Attrs().Name)
					}
				}
			}
		}
		return nil
	})
	return found, err
}

// SkipIfNoTCX skips the test when err says the kernel has no tcx and the
// kernel is older than 6.6, as Debian's 6.1 in the VM tests: tests that
// attach with tcx also run their clsact variant, which still covers such a
// kernel. On 6.6 and later the test fails instead.
func SkipIfNoTCX(t testing.TB, err error) {
	t.Helper()
	SkipIfNotSupported(t, err, "6.6")
}
