package bench

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/pktlife/pktlife/trace/journey"
)

// MemoryResult is the memory the correlator holds for journeys in flight.
type MemoryResult struct {
	Fed         int    // journeys fed (none finished: no free, no idle timeout)
	Cap         int    // MaxInFlight
	HopsEach    int    // events per journey
	InFlight    int    // journeys open at the end
	Evicted     uint64 // journeys closed by the cap
	HeapInuse   uint64 // bytes, after a collection, with the journeys open
	PeakHeap    uint64 // largest HeapInuse seen while feeding
	PeakRSS     uint64 // the process's peak resident set (VmHWM)
	PerJourney  uint64 // HeapInuse growth over the empty correlator, per open journey
	BaseHeapUse uint64 // HeapInuse of the empty correlator
}

// MeasureMemory feeds a correlator fed journeys of hops events each, all
// open at once (nothing frees the skbs and kernel time moves too little
// for the idle timeout), with the in-flight cap maxInFlight, and reports
// the heap and the process's peak RSS. Run it in a fresh process for a
// meaningful peak RSS (plbench does).
func MeasureMemory(fed, maxInFlight, hops int) MemoryResult {
	res := MemoryResult{Fed: fed, Cap: maxInFlight, HopsEach: hops}
	names := &journey.Static{Devices: []journey.Device{
		{Name: "eth0", Ifindex: 2, Netns: 1, NetnsName: "pod-a"},
		{Name: "lxc-poda", Ifindex: 7, Netns: 2, NetnsName: "node"},
	}}
	emitted := 0
	c := journey.New(journey.Options{MaxInFlight: maxInFlight, Resolver: names,
		Emit: func(*journey.Journey) { emitted++ }})
	res.BaseHeapUse = heapInuse()
	hooks := []journey.Hook{journey.HookNetDevQueue, journey.HookNetifReceiveSkb, journey.HookTCIngress,
		journey.HookTCEgress, journey.HookNetDevStartXmit, journey.HookNetDevXmit}
	dst := netip.MustParseAddr("10.96.0.10")
	var ev journey.Event
	ts := uint64(1_000_000_000)
	for i := 0; i < fed; i++ {
		src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) // one flow per journey
		for h := 0; h < hops; h++ {
			ts += 10 // 10 ns per event: 1M journeys × 6 hops stay well inside the idle timeout
			ev = journey.Event{
				Time: ts, Skb: journey.Ptr(0xffff888000000000 + uint64(i)<<8), Hook: hooks[h%len(hooks)],
				Netns: uint32(1 + h%2), Ifindex: uint32(2 + 5*(h%2)), Len: 64,
				Flags: journey.FlagTuple | journey.FlagL4,
				Tuple: journey.Tuple{Proto: 17, Src: netip.AddrPortFrom(src, 40000), Dst: netip.AddrPortFrom(dst, 80),
					IPID: uint16(i) | 1},
			}
			c.Add(&ev)
		}
		if i%50000 == 0 {
			res.PeakHeap = max(res.PeakHeap, heapInuse())
		}
	}
	res.HeapInuse = heapInuse()
	res.PeakHeap = max(res.PeakHeap, res.HeapInuse)
	st := c.Stats()
	res.InFlight, res.Evicted = st.InFlight, st.Evicted
	if res.InFlight > 0 && res.HeapInuse > res.BaseHeapUse {
		res.PerJourney = (res.HeapInuse - res.BaseHeapUse) / uint64(res.InFlight)
	}
	res.PeakRSS = peakRSS()
	runtime.KeepAlive(c)
	return res
}

func heapInuse() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// peakRSS reads VmHWM from /proc/self/status, in bytes.
func peakRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// String is one line for reports.
func (m MemoryResult) String() string {
	return fmt.Sprintf("fed %d journeys × %d hops, cap %d: %d in flight, %d evicted, heap %.1f MiB (peak %.1f), %d B/journey, peak RSS %.1f MiB",
		m.Fed, m.HopsEach, m.Cap, m.InFlight, m.Evicted, mib(m.HeapInuse), mib(m.PeakHeap), m.PerJourney, mib(m.PeakRSS))
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
