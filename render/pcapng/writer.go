package pcapng

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Block types and option codes used here.
const (
	blockSHB = 0x0A0D0D0A
	blockIDB = 0x00000001
	blockEPB = 0x00000006

	byteOrderMagic = 0x1A2B3C4D

	optEnd         = 0
	optComment     = 1
	optShbUserAppl = 4
	optIfName      = 2
	optIfDesc      = 3
	optIfTsresol   = 9
)

// Link types (https://www.tcpdump.org/linktypes.html).
const (
	LinkTypeEthernet = 1
	LinkTypeRaw      = 101 // the packet starts with its IPv4 or IPv6 header
)

// Interface is one capture interface: its link type, the most bytes a
// packet on it carries, and its name and description.
type Interface struct {
	LinkType    uint16
	SnapLen     uint32
	Name        string
	Description string
}

// Packet is one captured packet on an interface Writer.Interface returned.
type Packet struct {
	Interface uint32
	Time      time.Time
	Data      []byte // the captured bytes
	Length    int    // the packet's length on the wire; len(Data) when smaller
	Comment   string
}

// Writer writes one pcapng section. It is not safe for concurrent use.
type Writer struct {
	w      io.Writer
	nIf    uint32
	buf    []byte
	closed bool
}

// NewWriter writes a section header naming app to w and returns a Writer.
func NewWriter(w io.Writer, app string) (*Writer, error) {
	pw := &Writer{w: w}
	b := pw.begin(blockSHB)
	b = binary.LittleEndian.AppendUint32(b, byteOrderMagic)
	b = binary.LittleEndian.AppendUint16(b, 1) // major
	b = binary.LittleEndian.AppendUint16(b, 0) // minor
	b = binary.LittleEndian.AppendUint64(b, ^uint64(0))
	b = appendOpt(b, optShbUserAppl, []byte(app))
	b = binary.LittleEndian.AppendUint32(b, optEnd)
	if err := pw.end(b); err != nil {
		return nil, fmt.Errorf("write section header: %w", err)
	}
	return pw, nil
}

// Interface writes an interface description block and returns the
// interface's id for Packet.Interface. Timestamps are in nanoseconds.
func (pw *Writer) Interface(i Interface) (uint32, error) {
	if pw.closed {
		return 0, errClosed
	}
	b := pw.begin(blockIDB)
	b = binary.LittleEndian.AppendUint16(b, i.LinkType)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, i.SnapLen)
	if i.Name != "" {
		b = appendOpt(b, optIfName, []byte(i.Name))
	}
	if i.Description != "" {
		b = appendOpt(b, optIfDesc, []byte(i.Description))
	}
	b = appendOpt(b, optIfTsresol, []byte{9})
	b = binary.LittleEndian.AppendUint32(b, optEnd)
	if err := pw.end(b); err != nil {
		return 0, fmt.Errorf("write interface %q: %w", i.Name, err)
	}
	pw.nIf++
	return pw.nIf - 1, nil
}

var errClosed = errors.New("pcapng writer closed")

// Packet writes an enhanced packet block.
func (pw *Writer) Packet(p Packet) error {
	if pw.closed {
		return errClosed
	}
	if p.Interface >= pw.nIf {
		return fmt.Errorf("write packet: no interface %d", p.Interface)
	}
	ts := uint64(p.Time.UnixNano())
	length := max(p.Length, len(p.Data))
	b := pw.begin(blockEPB)
	b = binary.LittleEndian.AppendUint32(b, p.Interface)
	b = binary.LittleEndian.AppendUint32(b, uint32(ts>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Data)))
	b = binary.LittleEndian.AppendUint32(b, uint32(length))
	b = append(b, p.Data...)
	b = pad(b, len(p.Data))
	if p.Comment != "" {
		b = appendOpt(b, optComment, []byte(p.Comment))
	}
	b = binary.LittleEndian.AppendUint32(b, optEnd)
	if err := pw.end(b); err != nil {
		return fmt.Errorf("write packet: %w", err)
	}
	return nil
}

// Close marks the writer closed; it does not close the underlying writer.
func (pw *Writer) Close() error {
	pw.closed = true
	return nil
}

// begin starts a block in the reused buffer: type and a length to fill in.
func (pw *Writer) begin(typ uint32) []byte {
	b := binary.LittleEndian.AppendUint32(pw.buf[:0], typ)
	return binary.LittleEndian.AppendUint32(b, 0)
}

// end fills in the block's total length, repeats it at the end and writes
// the block.
func (pw *Writer) end(b []byte) error {
	n := uint32(len(b) + 4)
	binary.LittleEndian.PutUint32(b[4:], n)
	b = binary.LittleEndian.AppendUint32(b, n)
	pw.buf = b
	_, err := pw.w.Write(b)
	return err
}

// appendOpt appends one option, its value padded to 32 bits. Values longer
// than an option can hold are cut.
func appendOpt(b []byte, code uint16, v []byte) []byte {
	if len(v) > 0xfff0 {
		v = v[:0xfff0]
	}
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	return pad(b, len(v))
}

func pad(b []byte, n int) []byte {
	for ; n%4 != 0; n++ {
		b = append(b, 0)
	}
	return b
}
