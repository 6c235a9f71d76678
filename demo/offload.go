package demo

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

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
