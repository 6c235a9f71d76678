package render

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// floatDur is appendSigned as it was written with AppendFloat.
func floatDur(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e3, 'f', 1, 64) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(float64(d)/1e9, 'f', 2, 64) + "s"
	}
	return d.Round(100 * time.Millisecond).String()
}

// TestAppendFixed checks the integer formatting against AppendFloat at
// every unit's edges, halves and at random.
func TestAppendFixed(t *testing.T) {
	var ds []time.Duration
	for _, u := range []time.Duration{time.Microsecond, time.Millisecond, time.Second} {
		for _, k := range []time.Duration{1, 2, 5, 10, 99, 100, 999} {
			for off := time.Duration(-60); off <= 60; off++ {
				ds = append(ds, k*u+off, k*u+u/20+off, k*u+u/200+off)
			}
		}
	}
	for i := 0; i < 200000; i++ {
		ds = append(ds, time.Duration(rand.Int64N(int64(time.Minute))))
		ds = append(ds, time.Duration(rand.Int64N(int64(time.Millisecond))))
		ds = append(ds, time.Duration(rand.Int64N(1e4)*100+50))
	}
	for _, d := range ds {
		if d < 0 {
			continue
		}
		if got, want := string(appendSigned(nil, d)), floatDur(d); got != want {
			t.Fatalf("appendSigned(%d) = %q, want %q", int64(d), got, want)
		}
	}
}
