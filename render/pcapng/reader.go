package pcapng

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// File is what Read found in a pcapng section written by Writer (or any
// little-endian section with nanosecond interfaces).
type File struct {
	App        string
	Interfaces []Interface
	Packets    []Packet
}

// Read parses a little-endian pcapng stream: the blocks Writer writes;
// other block types are skipped. It is meant for tests and tools, not for
// captures of unknown origin in bulk.
func Read(r io.Reader) (*File, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read pcapng: %w", err)
	}
	f := &File{}
	for off := 0; off < len(data); {
		if len(data)-off < 12 {
			return nil, errors.New("read pcapng: truncated block")
		}
		typ := binary.LittleEndian.Uint32(data[off:])
		n := int(binary.LittleEndian.Uint32(data[off+4:]))
		if n < 12 || n%4 != 0 || off+n > len(data) || binary.LittleEndian.Uint32(data[off+n-4:]) != uint32(n) {
			return nil, fmt.Errorf("read pcapng: bad block length %d at offset %d", n, off)
		}
		body := data[off+8 : off+n-4]
		if err := f.block(typ, body); err != nil {
			return nil, fmt.Errorf("read pcapng: block at offset %d: %w", off, err)
		}
		off += n
	}
	return f, nil
}

func (f *File) block(typ uint32, body []byte) error {
	switch typ {
	case blockSHB:
		if len(body) < 16 || binary.LittleEndian.Uint32(body) != byteOrderMagic {
			return errors.New("not a little-endian section header")
		}
		return options(body[16:], func(code uint16, v []byte) {
			if code == optShbUserAppl {
				f.App = string(v)
			}
		})
	case blockIDB:
		if len(body) < 8 {
			return errors.New("short interface block")
		}
		i := Interface{LinkType: binary.LittleEndian.Uint16(body), SnapLen: binary.LittleEndian.Uint32(body[4:])}
		err := options(body[8:], func(code uint16, v []byte) {
			switch code {
			case optIfName:
				i.Name = string(v)
			case optIfDesc:
				i.Description = string(v)
			}
		})
		f.Interfaces = append(f.Interfaces, i)
		return err
	case blockEPB:
		if len(body) < 20 {
			return errors.New("short packet block")
		}
		capLen := int(binary.LittleEndian.Uint32(body[12:]))
		if 20+capLen > len(body) {
			return errors.New("packet longer than its block")
		}
		ts := uint64(binary.LittleEndian.Uint32(body[4:]))<<32 | uint64(binary.LittleEndian.Uint32(body[8:]))
		p := Packet{
			Interface: binary.LittleEndian.Uint32(body),
			Time:      time.Unix(0, int64(ts)),
			Data:      append([]byte(nil), body[20:20+capLen]...),
			Length:    int(binary.LittleEndian.Uint32(body[16:])),
		}
		if p.Interface >= uint32(len(f.Interfaces)) {
			return fmt.Errorf("packet on undeclared interface %d", p.Interface)
		}
		err := options(body[20+(capLen+3)/4*4:], func(code uint16, v []byte) {
			if code == optComment {
				p.Comment = string(v)
			}
		})
		f.Packets = append(f.Packets, p)
		return err
	}
	return nil
}

// options calls fn for each option in b up to opt_endofopt.
func options(b []byte, fn func(code uint16, v []byte)) error {
	for len(b) >= 4 {
		code := binary.LittleEndian.Uint16(b)
		n := int(binary.LittleEndian.Uint16(b[2:]))
		if code == optEnd {
			return nil
		}
		if 4+n > len(b) {
			return errors.New("option longer than its block")
		}
		fn(code, b[4:4+n])
		b = b[4+(n+3)/4*4:]
	}
	return nil
}
