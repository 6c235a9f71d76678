package journey

import (
	"fmt"
	"strconv"
	"strings"
)

// Ptr is a kernel address, such as a struct sk_buff's. In JSON it is a hex
// string ("0xffff888004d2a900"): addresses exceed 2^53 and would lose
// precision in JSON tools that read numbers as doubles. Reading accepts a
// number as well.
type Ptr uint64

// String formats the address as 0x-prefixed hex.
func (p Ptr) String() string { return "0x" + strconv.FormatUint(uint64(p), 16) }

// MarshalText implements encoding.TextMarshaler.
func (p Ptr) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Ptr) UnmarshalText(b []byte) error {
	s := strings.TrimPrefix(strings.TrimPrefix(string(b), "0x"), "0X")
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return fmt.Errorf("parse address %q: %w", b, err)
	}
	*p = Ptr(v)
	return nil
}

// UnmarshalJSON accepts a hex string or a number.
func (p *Ptr) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return p.UnmarshalText(b[1 : len(b)-1])
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("parse address %s: %w", b, err)
	}
	*p = Ptr(v)
	return nil
}
