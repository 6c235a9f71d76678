package filtertest

import (
	"encoding/binary"
	"io"
)

// WritePcap writes frames as a classic pcap file of Ethernet frames; frame
// i is stamped i seconds after the epoch, so that `tcpdump -tt` names it.
func WritePcap(w io.Writer, frames [][]byte) error {
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535) // snap length
	binary.LittleEndian.PutUint32(hdr[20:], 1)     // LINKTYPE_ETHERNET
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for i, f := range frames {
		rec := make([]byte, 16, 16+len(f))
		binary.LittleEndian.PutUint32(rec[0:], uint32(i))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(f)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(f)))
		if _, err := w.Write(append(rec, f...)); err != nil {
			return err
		}
	}
	return nil
}
