package filter

import "fmt"

// ErrTooLong is returned for an expression with more tests than the
// in-kernel filter holds.
var ErrTooLong = fmt.Errorf("filter expression has more than %d tests", MaxInsns)

// Compile parses an expression and compiles it into a program of at most
// MaxInsns tests with forward jumps: each and, or and not becomes jump
// targets, never a test, so a program has one test per primitive and no
// expression grows when it is compiled.
func Compile(expr string) (Program, error) {
	n, err := Parse(expr)
	if err != nil || n == nil {
		return nil, err
	}
	var c compiler
	c.gen(n, Accept, Reject)
	if len(c.rev) > MaxInsns {
		return nil, fmt.Errorf("compile filter %q: %w (%d): use fewer primitives", expr, ErrTooLong, len(c.rev))
	}
	// c.rev holds the tests last first; jump targets are indices into it.
	prog := make(Program, len(c.rev))
	last := uint8(len(c.rev) - 1)
	fix := func(t uint8) uint8 {
		if t >= Accept {
			return t
		}
		return last - t
	}
	for i, in := range c.rev {
		in.JT, in.JF = fix(in.JT), fix(in.JF)
		prog[int(last)-i] = in
	}
	return prog, nil
}

type compiler struct {
	rev []Insn
}

// gen emits n so that it continues at t when n holds and at f when not,
// and returns where n starts. The second operand of and/or is emitted
// first, so that every jump goes forward once the list is reversed.
func (c *compiler) gen(n *node, t, f uint8) uint8 {
	switch n.op {
	case '&':
		b := c.gen(n.b, t, f)
		return c.gen(n.a, b, f)
	case '|':
		b := c.gen(n.b, t, f)
		return c.gen(n.a, t, b)
	case '!':
		return c.gen(n.a, f, t)
	}
	in := n.test
	in.JT, in.JF = t, f
	c.rev = append(c.rev, in)
	// indices beyond the limit are refused by Compile before they are used
	return uint8(min(len(c.rev)-1, int(Accept)-1))
}
