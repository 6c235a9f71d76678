package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// floodCPU is this process's CPU time plus that of the kernel's ksoftirqd
// threads, which run the softirq work a busy CPU defers.
func floodCPU() time.Duration {
	return cpuTime() + ksoftirqdCPU()
}

// ksoftirqdCPU sums utime and stime of every ksoftirqd thread.
func ksoftirqdCPU() time.Duration {
	tick := clockTick()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var ticks uint64
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid … utime stime: fields 14 and 15
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open || !strings.HasPrefix(s[open+1:close], "ksoftirqd/") {
			continue
		}
		f := strings.Fields(s[close+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseUint(f[11], 10, 64)
		st, _ := strconv.ParseUint(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * tick
}

// clockTick is the length of one USER_HZ tick (/proc's time unit): 10 ms
// on Linux everywhere.
func clockTick() time.Duration { return 10 * time.Millisecond }

// cpuTime is the CPU time the process has used, user and system, all
// threads (the garbage collector's included).
func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
