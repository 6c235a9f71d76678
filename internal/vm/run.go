package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ErrTimeout is returned when the VM did not finish before its deadline.
var ErrTimeout = errors.New("vm timed out")

// ErrNoExitStatus is returned when the VM stopped without reporting the test
// binary's exit status (a kernel panic, say).
var ErrNoExitStatus = errors.New("vm stopped without reporting an exit status")

// Options says how to run a test binary in a VM.
type Options struct {
	Kernel   string        // "6.12", "6.1" or an exact release; default "6.12"
	CacheDir string        // default DefaultCacheDir()
	MemoryMB int           // default 1024
	CPUs     int           // default 2
	Accel    string        // QEMU -accel; default "tcg,thread=multi" (KVM fails on pktlife's machines)
	Timeout  time.Duration // boot and test together; default 30 minutes
	Modules  []string      // loaded at boot besides DefaultModules
	Env      []string      // KEY=VALUE for the test; PKTLIFE_VM is always set
	Dir      string        // host directory whose testdata/ becomes the VM's /work/testdata
	Stdout   io.Writer     // the test binary's output (stdout and stderr); default os.Stdout
	Log      io.Writer     // progress (downloads, builds, timings); default io.Discard
	Console  io.Writer     // the kernel console, live; nil keeps only its tail for errors
}

// Result is what a finished run reports.
type Result struct {
	ExitCode int
	Kernel   *Kernel
	Prepare  time.Duration // fetching the kernel and building the initramfs
	Boot     time.Duration // QEMU start until init is about to run the test
	Test     time.Duration // the test binary
	Total    time.Duration
}

func (o *Options) defaults() error {
	if o.Kernel == "" {
		o.Kernel = "6.12"
	}
	if o.CacheDir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return err
		}
		o.CacheDir = d
	}
	if o.MemoryMB == 0 {
		o.MemoryMB = 1024
	}
	if o.CPUs == 0 {
		o.CPUs = 2
	}
	if o.Accel == "" {
		o.Accel = "tcg,thread=multi"
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Minute
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return nil
}

// Run boots a VM on opts.Kernel and runs the static binary bin with args in
// it, streaming its output to opts.Stdout. A test that fails is not an
// error: its exit status is in Result.ExitCode. Errors are for runs that
// could not tell: a missing tool, a timeout, a crash.
func Run(ctx context.Context, bin string, args []string, opts Options) (*Result, error) {
	start := time.Now()
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if err := checkStatic(bin); err != nil {
		return nil, err
	}
	k, base, err := prepare(ctx, opts)
	if err != nil {
		return nil, err
	}
	res := &Result{ExitCode: -1, Kernel: k}

	tmp, err := os.MkdirTemp("", "pktlife-vm-")
	if err != nil {
		return res, fmt.Errorf("create run directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	initrd := filepath.Join(tmp, "initrd.cpio")
	env := append([]string{EnvRelease + "=" + k.Release}, opts.Env...)
	if err := buildInitrd(initrd, base, bin, args, env, opts.Dir); err != nil {
		return res, err
	}
	res.Prepare = time.Since(start)

	err = boot(ctx, tmp, filepath.Base(bin), k, initrd, opts, res)
	res.Total = time.Since(start)
	return res, err
}

// Prepare fetches the kernel and builds the base initramfs, so that a later
// Run starts at once; CI calls it (vmexec -prepare) before the tests.
func Prepare(ctx context.Context, opts Options) (*Kernel, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	k, _, err := prepare(ctx, opts)
	return k, err
}

func prepare(ctx context.Context, opts Options) (k *Kernel, base string, err error) {
	k, err = FetchKernel(ctx, opts.CacheDir, opts.Kernel, opts.Log)
	if err != nil {
		return nil, "", err
	}
	modules := append(slices.Clone(DefaultModules), opts.Modules...)
	base, err = baseInitramfs(ctx, opts.CacheDir, k, modules, opts.Log)
	if err != nil {
		return nil, "", err
	}
	return k, base, nil
}

// buildInitrd writes the cached base archive followed by this run's payload
// into one file, as QEMU takes a single -initrd.
func buildInitrd(dst, base, bin string, args, env []string, dir string) (err error) {
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("create initrd: %w", err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write initrd: %w", cerr)
		}
	}()
	in, err := os.Open(base)
	if err != nil {
		return fmt.Errorf("open base initramfs: %w", err)
	}
	defer in.Close()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copy base initramfs: %w", err)
	}
	return writePayload(out, bin, args, env, dir)
}

// tail keeps the last lines written to it, for error messages.
type tail struct {
	buf []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tail) lines(n int) string {
	ls := strings.Split(strings.TrimRight(string(t.buf), "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}
