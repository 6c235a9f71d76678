// Command vmexec runs a static Go test binary inside a QEMU VM on one of
// Debian's kernels. It is meant as go test's -exec program:
//
//	CGO_ENABLED=0 go test -exec "$PWD/bin/vmexec -kernel 6.1" ./trace/...
//
// and exits with the test binary's exit status.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pktlife/pktlife/internal/vm"
)

func main() {
	code, err := run()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmexec: %v\n", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run() (int, error) {
	fs := flag.NewFlagSet("vmexec", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: vmexec [flags] TEST-BINARY [ARGS...]\n       vmexec -prepare [flags]\n")
		fs.PrintDefaults()
	}
	kernel := fs.String("kernel", envOr("PKTLIFE_VM_KERNEL", "6.12"), `kernel series ("6.12", "6.1") or exact release; env PKTLIFE_VM_KERNEL`)
	cache := fs.String("cache", "", "cache directory (default $PKTLIFE_VM_CACHE or ${XDG_CACHE_HOME:-$HOME/.cache}/pktlife/vm)")
	mem := fs.Int("mem", 1024, "VM memory in MiB")
	cpus := fs.Int("cpus", 2, "VM CPUs")
	accel := fs.String("accel", envOr("PKTLIFE_VM_ACCEL", "tcg,thread=multi"), "QEMU accelerator (kvm where it works); env PKTLIFE_VM_ACCEL")
	timeout := fs.Duration("timeout", 0, "deadline for boot and test (default: the binary's -test.timeout plus 50s, or 30m)")
	modules := fs.String("modules", "", "comma-separated kernel modules to load besides the defaults")
	verbose := fs.Bool("v", os.Getenv("PKTLIFE_VM_VERBOSE") != "", "report timings on stderr; env PKTLIFE_VM_VERBOSE")
	console := fs.Bool("console", false, "copy the kernel console to stderr")
	prepareOnly := fs.Bool("prepare", false, "only fetch the kernel and build the initramfs, then exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 2, nil
		}
		return 2, err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT)
	defer stop()

	opts := vm.Options{
		Kernel:   *kernel,
		CacheDir: *cache,
		MemoryMB: *mem,
		CPUs:     *cpus,
		Accel:    *accel,
		Timeout:  *timeout,
		Env:      forwardedEnv(),
		Stdout:   os.Stdout,
		Log:      os.Stderr,
	}
	if *modules != "" {
		opts.Modules = strings.Split(*modules, ",")
	}
	if *console {
		opts.Console = os.Stderr
	}

	if *prepareOnly {
		start := time.Now()
		k, err := vm.Prepare(ctx, opts)
		if err != nil {
			return 1, err
		}
		fmt.Fprintf(os.Stderr, "vmexec: %s (%s %s) ready in %s\n", k.Release, k.Package, k.Version, time.Since(start).Round(100*time.Millisecond))
		return 0, nil
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2, errors.New("missing test binary")
	}
	bin, args := fs.Arg(0), fs.Args()[1:]
	if opts.Timeout == 0 {
		opts.Timeout = testTimeout(args)
	}
	if wd, err := os.Getwd(); err == nil {
		opts.Dir = wd // go test runs -exec in the package directory
	}

	res, err := vm.Run(ctx, bin, args, opts)
	if res != nil && (*verbose || err != nil) {
		d := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
		fmt.Fprintf(os.Stderr, "vmexec: %s: prepare %s, boot %s, test %s, total %s, exit status %d\n",
			res.Kernel.Release, d(res.Prepare), d(res.Boot), d(res.Test), d(res.Total), res.ExitCode)
	}
	if err != nil {
		return 1, err
	}
	return res.ExitCode, nil
}

// testTimeout gives the VM the test binary's own -test.timeout plus time to
// boot, so the test's panic with its goroutine dump arrives before we kill
// the VM (and go test kills us one minute after the timeout).
func testTimeout(args []string) time.Duration {
	for i, a := range args {
		v, ok := strings.CutPrefix(a, "-test.timeout=")
		if !ok && a == "-test.timeout" && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if ok {
			if d, err := time.ParseDuration(v); err == nil && d > 0 {
				return d + 50*time.Second
			}
		}
	}
	return 30 * time.Minute
}

// forwardedEnv passes the host's PKTLIFE_* settings for tests (not vmexec's
// own) and the Go runtime's debugging knobs into the VM.
func forwardedEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == vm.EnvRelease || strings.HasPrefix(k, "PKTLIFE_VM_"):
		case strings.HasPrefix(k, "PKTLIFE_"), k == "GOTRACEBACK", k == "GODEBUG":
			env = append(env, kv)
		}
	}
	return env
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
