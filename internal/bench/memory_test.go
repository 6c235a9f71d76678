package bench

import "testing"

// TestMemoryBoundedByCap feeds ten times the in-flight cap and checks that
// the correlator holds the cap's worth of journeys, not what was fed.
func TestMemoryBoundedByCap(t *testing.T) {
	const capN, hops = 20000, 4
	atCap := MeasureMemory(capN, capN, hops)
	over := MeasureMemory(10*capN, capN, hops)
	t.Logf("at cap: %v", atCap)
	t.Logf("10× cap: %v", over)
	if atCap.InFlight != capN || atCap.Evicted != 0 {
		t.Errorf("fed %d with cap %d: %d in flight, %d evicted; want all in flight", capN, capN, atCap.InFlight, atCap.Evicted)
	}
	if over.InFlight != capN || over.Evicted != 9*capN {
		t.Errorf("fed %d with cap %d: %d in flight, %d evicted; want %d and %d", 10*capN, capN, over.InFlight, over.Evicted, capN, 9*capN)
	}
	if over.HeapInuse > atCap.HeapInuse*3/2 {
		t.Errorf("heap with 10× the cap fed is %d B, with the cap fed %d B: not bounded by the cap", over.HeapInuse, atCap.HeapInuse)
	}
}
