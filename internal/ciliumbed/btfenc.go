package ciliumbed

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// BE16 is a value written in network byte order whatever the field's BTF
// type says (Cilium 1.14 types some port fields __u16 but stores them as
// they come in the packet).
type BE16 uint16

// Fields names the members of a map key or value, by dotted path, and the
// values to write there; members not named stay zero. A name starting
// with "?" is left out where the struct has no such member: Cilium's
// structs differ between releases.
type Fields map[string]any

// encode lays out fields in a buffer of typ's size, using typ's BTF: member
// offsets, bitfields, and byte order (types named __be16/__be32 are
// written in network byte order).
func encode(typ btf.Type, fields Fields) ([]byte, error) {
	size, err := btf.Sizeof(typ)
	if err != nil {
		return nil, fmt.Errorf("size %s: %w", typ, err)
	}
	buf := make([]byte, size)
	used := map[string]bool{}
	if err := encodeInto(buf, typ, "", 0, 0, fields, used); err != nil {
		return nil, err
	}
	var unknown []string
	for name := range fields {
		if !used[name] && !strings.HasPrefix(name, "?") {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("encode %s: no member %s", typ.TypeName(), strings.Join(unknown, ", "))
	}
	return buf, nil
}

func encodeInto(buf []byte, typ btf.Type, path string, off, bits btf.Bits, fields Fields, used map[string]bool) error {
	var members []btf.Member
	switch t := typ.(type) {
	case *btf.Struct:
		members = t.Members
	case *btf.Union:
		members = t.Members
	case *btf.Typedef, *btf.Volatile, *btf.Const:
		if v, name, ok := lookup(fields, path); ok && path != "" {
			used[name] = true
			return put(buf, typ, off, bits, v)
		}
		return encodeInto(buf, btf.UnderlyingType(typ), path, off, bits, fields, used)
	default:
		if v, name, ok := lookup(fields, path); ok {
			used[name] = true
			return put(buf, typ, off, bits, v)
		}
		return nil
	}
	for _, m := range members {
		p := m.Name
		if path != "" && m.Name != "" {
			p = path + "." + m.Name
		} else if m.Name == "" {
			p = path
		}
		if err := encodeInto(buf, m.Type, p, off+m.Offset, m.BitfieldSize, fields, used); err != nil {
			return err
		}
	}
	return nil
}

func lookup(fields Fields, path string) (any, string, bool) {
	if v, ok := fields[path]; ok {
		return v, path, true
	}
	if v, ok := fields["?"+path]; ok {
		return v, "?" + path, true
	}
	return nil, "", false
}

// put writes v at bit offset off, bits wide (0: the whole type).
func put(buf []byte, typ btf.Type, off, bits btf.Bits, v any) error {
	size, err := btf.Sizeof(typ)
	if err != nil {
		return err
	}
	var x uint64
	be := false
	switch v := v.(type) {
	case BE16:
		x, be = uint64(v), true
	case int:
		x = uint64(v)
	case uint64:
		x = v
	case uint32:
		x = uint64(v)
	case uint16:
		x = uint64(v)
	case uint8:
		x = uint64(v)
	case [4]byte:
		copy(buf[off/8:], v[:])
		return nil
	default:
		return fmt.Errorf("encode %T", v)
	}
	if bits != 0 {
		for i := btf.Bits(0); i < bits; i++ {
			if x&(1<<i) != 0 {
				b := off + i
				buf[b/8] |= 1 << (b % 8)
			}
		}
		return nil
	}
	if n := typeName(typ); strings.HasPrefix(n, "__be") {
		be = true
	}
	var order binary.ByteOrder = binary.LittleEndian
	if be {
		order = binary.BigEndian
	}
	at := buf[off/8:]
	switch size {
	case 1:
		at[0] = byte(x)
	case 2:
		order.PutUint16(at, uint16(x))
	case 4:
		order.PutUint32(at, uint32(x))
	case 8:
		order.PutUint64(at, x)
	default:
		return fmt.Errorf("encode %d-byte %s", size, typ)
	}
	return nil
}

// typeName is the first name on a chain of typedefs and qualifiers.
func typeName(t btf.Type) string {
	for {
		if n := t.TypeName(); n != "" {
			return n
		}
		switch q := t.(type) {
		case *btf.Volatile:
			t = q.Type
		case *btf.Const:
			t = q.Type
		default:
			return ""
		}
	}
}
