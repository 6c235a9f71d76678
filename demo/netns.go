package demo

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named network namespaces are bind-mounted, as
// `ip netns` expects them.
const NetnsDir = "/run/netns"

// Netns names a network namespace created by this package.
type Netns struct {
	Name string // name under NetnsDir, as `ip netns` lists it
	Path string // NetnsDir/Name
}

// Inode returns the namespace's inode number: what BPF programs read as
// net->ns.inum and what /proc/PID/ns/net links to.
func (n Netns) Inode() (uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat(n.Path, &st); err != nil {
		return 0, fmt.Errorf("stat netns %s: %w", n.Path, err)
	}
	return uint32(st.Ino), nil
}

// Do runs fn on an OS thread switched into the namespace. See DoInNetns.
func (n Netns) Do(fn func() error) error { return DoInNetns(n.Path, fn) }

// DoInNetns runs fn on an OS thread switched into the network namespace at
// path, and switches back afterwards. Sockets fn opens stay in that
// namespace when used from other goroutines later. fn runs on a goroutine of
// its own: if switching back fails, the thread is discarded rather than
// returned to the scheduler in the wrong namespace.
func DoInNetns(path string, fn func() error) error {
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", path, err)
	}
	defer target.Close()
	return doInNetns(target, fn)
}

func doInNetns(target netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// The thread stays locked and dies with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("restore netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// createNetns creates the named network namespace, bind-mounted under
// NetnsDir, and returns an open handle to it. The calling thread's own
// namespace is left as it was.
func createNetns(name string) (netns.NsHandle, error) {
	type result struct {
		h   netns.NsHandle
		err error
	}
	resc := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			resc <- result{netns.None(), fmt.Errorf("get current netns: %w", err)}
			return
		}
		defer orig.Close()
		h, err := netns.NewNamed(name)
		if rerr := netns.Set(orig); rerr != nil {
			// The thread stays locked and dies with this goroutine.
			if err == nil {
				h.Close()
				_ = deleteNetns(name)
			}
			resc <- result{netns.None(), fmt.Errorf("restore netns: %w", rerr)}
			return
		}
		runtime.UnlockOSThread()
		if err != nil {
			resc <- result{netns.None(), fmt.Errorf("create netns %s: %w", name, err)}
			return
		}
		resc <- result{h, nil}
	}()
	res := <-resc
	return res.h, res.err
}

// deleteNetns unmounts and removes a named namespace. One that is already
// gone is not an error.
func deleteNetns(name string) error {
	err := netns.DeleteNamed(name)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	// Unmounted already but the file is left (or never mounted): remove it.
	if rerr := os.Remove(filepath.Join(NetnsDir, name)); rerr == nil || errors.Is(rerr, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("delete netns %s: %w", name, err)
}

// ListNetns returns the names under NetnsDir that start with prefix.
func ListNetns(prefix string) ([]string, error) {
	entries, err := os.ReadDir(NetnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list netns: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// randomID returns n random bytes in hex.
func randomID(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// writeSysctl writes value to a file under /proc/sys. Run inside a
// namespace, net.* sysctls apply to that namespace.
func writeSysctl(name, value string) error {
	p := filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/"))
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("write sysctl %s: %w", name, err)
	}
	return nil
}

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqData is struct ifreq with the ifr_data member of its union.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

// setChecksumOffload turns transmit and receive checksum offload of the
// named device on or off, in the calling thread's namespace (run it inside
// DoInNetns). With both off on a veth, senders compute full checksums and
// receivers verify them, so a datapath that rewrites packets must fix the
// checksums right or see its packets dropped.
func setChecksumOffload(ifname string, on bool) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open ethtool socket: %w", err)
	}
	defer unix.Close(fd)
	var data uint32
	if on {
		data = 1
	}
	for _, cmd := range []uint32{unix.ETHTOOL_STXCSUM, unix.ETHTOOL_SRXCSUM} {
		val := &ethtoolValue{cmd: cmd, data: data}
		req := &ifreqData{data: unsafe.Pointer(val)}
		copy(req.name[:unix.IFNAMSIZ-1], ifname)
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(req)))
		runtime.KeepAlive(val)
		if errno != 0 {
			return fmt.Errorf("set checksum offload (ethtool cmd %#x) of %s: %w", cmd, ifname, errno)
		}
	}
	return nil
}
