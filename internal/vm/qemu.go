package vm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	readyMarker = "PKTLIFE-VM-READY"
	exitMarker  = "PKTLIFE-VM-EXIT="
)

// exitRE finds the exit marker at the end of a line; text before it is the
// test's last line when that did not end in a newline.
var exitRE = regexp.MustCompile(`^(.*)` + exitMarker + `([0-9]+)$`)

// qemuArgs is the QEMU command line. ttyS0 is the kernel console (QEMU's
// stdout); ttyS1 carries the test's output to a unix socket.
func qemuArgs(k *Kernel, initrd, sock string, opts Options) []string {
	return []string{
		"-accel", opts.Accel,
		"-cpu", "max",
		"-m", strconv.Itoa(opts.MemoryMB),
		"-smp", strconv.Itoa(opts.CPUs),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-kernel", k.Vmlinuz(),
		"-initrd", initrd,
		"-append", "console=ttyS0 quiet panic=-1 mitigations=off",
		"-chardev", "stdio,id=con,signal=off",
		"-serial", "chardev:con",
		"-chardev", "socket,id=out,path=" + sock,
		"-serial", "chardev:out",
	}
}

// consoleExcerpt cuts the kernel console to what explains a failure: from
// the first panic, oops, BUG or warning on, else its last 40 lines.
func consoleExcerpt(console string) string {
	lines := strings.Split(strings.TrimSpace(console), "\n")
	for i, l := range lines {
		for _, m := range []string{"Kernel panic", "BUG:", "Oops:", "WARNING:", "general protection fault"} {
			if strings.Contains(l, m) {
				if len(lines)-i > 100 {
					return strings.Join(lines[i:i+100], "\n")
				}
				return strings.Join(lines[i:], "\n")
			}
		}
	}
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// streamed is what the output stream saw.
type streamed struct {
	exitCode  int // -1 until the marker arrives
	boot, run time.Duration
}

// boot runs QEMU until the test reports its exit status, the VM stops, or
// opts.Timeout passes.
func boot(ctx context.Context, dir, name string, k *Kernel, initrd string, opts Options, res *Result) error {
	qemu, err := findTool("qemu-system-x86_64")
	if err != nil {
		return err
	}
	sock := filepath.Join(dir, "out.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listen for vm output: %w", err)
	}
	defer ln.Close()

	console := &tail{max: 64 << 10}
	qerr := &tail{max: 16 << 10}
	cmd := exec.Command(qemu, qemuArgs(k, initrd, sock, opts)...)
	cmd.Stdout = console
	if opts.Console != nil {
		cmd.Stdout = io.MultiWriter(console, opts.Console)
	}
	cmd.Stderr = qerr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start qemu: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	conns := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			conns <- c
		}
	}()
	exitSeen := make(chan struct{})
	done := make(chan streamed, 1)
	var qemuErr error
	var qemuDone bool

	fail := func(why error) error {
		var b strings.Builder
		if qemuErr != nil {
			fmt.Fprintf(&b, "\nqemu: %v", qemuErr)
		}
		if e := strings.TrimSpace(qerr.lines(10)); e != "" {
			fmt.Fprintf(&b, "\n%s", e)
		}
		if c := consoleExcerpt(console.lines(200)); c != "" {
			fmt.Fprintf(&b, "\nkernel console:\n%s", c)
		} else {
			b.WriteString("\nkernel console: (nothing)")
		}
		return fmt.Errorf("run %s on %s: %w%s", name, k.Release, why, b.String())
	}

	var c net.Conn
	select {
	case c = <-conns:
	case qemuErr = <-exited:
		qemuDone = true
		select { // QEMU connects before the guest starts: the connection is there
		case c = <-conns:
		case <-time.After(2 * time.Second):
			return fail(ErrNoExitStatus)
		}
	case <-ctx.Done():
		cmd.Process.Kill()
		qemuErr = <-exited
		return fail(timeoutErr(ctx, opts.Timeout))
	}
	go func() { done <- stream(c, opts.Stdout, started, exitSeen) }()

	var why error
	if !qemuDone {
		select {
		case <-exitSeen:
			// The test is done; init powers off at once. Give it a moment.
			select {
			case qemuErr = <-exited:
				qemuDone = true
			case <-time.After(15 * time.Second):
			}
		case qemuErr = <-exited:
			qemuDone = true
		case <-ctx.Done():
			why = timeoutErr(ctx, opts.Timeout)
		}
	}
	if !qemuDone {
		cmd.Process.Kill()
		qemuErr = <-exited
	}
	s := <-done // the socket closes when QEMU exits
	res.Boot, res.Test, res.ExitCode = s.boot, s.run, s.exitCode
	if why != nil {
		return fail(why)
	}
	if s.exitCode < 0 {
		return fail(ErrNoExitStatus)
	}
	return nil
}

func timeoutErr(ctx context.Context, d time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w after %s", ErrTimeout, d)
	}
	return fmt.Errorf("stop vm: %w", ctx.Err())
}

// stream copies the test's output to w line by line, taking out the ready
// and exit markers, and closes exitSeen when the exit marker arrives.
func stream(c net.Conn, w io.Writer, started time.Time, exitSeen chan<- struct{}) streamed {
	defer c.Close()
	s := streamed{exitCode: -1}
	var testStart time.Time
	r := bufio.NewReaderSize(c, 64<<10)
	for {
		line, err := r.ReadString('\n')
		switch m := exitRE.FindStringSubmatch(strings.TrimSuffix(line, "\n")); {
		case line == "":
		case line == readyMarker+"\n" && testStart.IsZero():
			testStart = time.Now()
			s.boot = testStart.Sub(started)
		case m != nil && s.exitCode < 0:
			io.WriteString(w, m[1])
			s.exitCode, _ = strconv.Atoi(m[2])
			if !testStart.IsZero() {
				s.run = time.Since(testStart)
			}
			close(exitSeen)
		default:
			io.WriteString(w, line)
		}
		if err != nil {
			if s.exitCode < 0 && !testStart.IsZero() {
				s.run = time.Since(testStart)
			}
			return s
		}
	}
}
