package filter

import (
	"errors"
	"fmt"
)

// ErrSyntax is what every error Parse returns is (errors.Is).
var ErrSyntax = errors.New("bad filter expression")

// syntaxError says what is wrong; it is ErrSyntax.
type syntaxError struct{ err error }

func (e syntaxError) Error() string        { return e.err.Error() }
func (e syntaxError) Unwrap() error        { return e.err }
func (e syntaxError) Is(target error) bool { return target == ErrSyntax }

// node is the parsed expression: a test, or and/or/not of nodes.
type node struct {
	op   byte // 't' test, '&' and, '|' or, '!' not
	a, b *node
	test Insn
}

// quals are a primitive's qualifiers: protocol, direction and type.
type quals struct {
	proto string // ip, ip6, tcp, udp, sctp, icmp, icmp6 or ""
	side  Side   // 0 = not given
	typ   string // host, net, port, portrange, proto or ""
}

type parser struct {
	toks    []token
	i       int
	last    *quals // the previous primitive's, for a bare id (`port 53 or 80`)
	lastEnd int    // the token after its value
}

// Parse parses an expression in tcpdump's syntax. An empty expression
// returns nil: every packet.
func Parse(expr string) (*node, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, fmt.Errorf("parse filter %q: %w", expr, syntaxError{err})
	}
	if len(toks) == 0 {
		return nil, nil
	}
	p := &parser{toks: toks}
	n, err := p.expr()
	if err == nil && p.i < len(p.toks) {
		err = p.errorf("unexpected %q", p.toks[p.i].text)
	}
	if err != nil {
		return nil, fmt.Errorf("parse filter %q: %w", expr, syntaxError{err})
	}
	return n, nil
}

func (p *parser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i].text
	}
	return ""
}

func (p *parser) peekAt(k int) string {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k].text
	}
	return ""
}

func (p *parser) next() string {
	s := p.peek()
	p.i++
	return s
}

// errorf says what is wrong and where: at a token, or at the end.
func (p *parser) errorf(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if p.i < len(p.toks) {
		return fmt.Errorf("%s at offset %d", msg, p.toks[p.i].pos)
	}
	return fmt.Errorf("%s at the end", msg)
}

func isAnd(s string) bool { return s == "and" || s == "&&" }
func isOr(s string) bool  { return s == "or" || s == "||" }

// expr: unary { (and|or) unary }. As in pcap-filter, and and or have the
// same precedence and group from the left.
func (p *parser) expr() (*node, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		op := p.peek()
		var c byte
		switch {
		case isAnd(op):
			c = '&'
		case isOr(op):
			c = '|'
		default:
			return left, nil
		}
		p.i++
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		left = &node{op: c, a: left, b: right}
	}
}

// unary: not unary | ( expr ) | primitive.
func (p *parser) unary() (*node, error) {
	switch p.peek() {
	case "not", "!":
		p.i++
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &node{op: '!', a: n}, nil
	case "(":
		p.i++
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, p.errorf("missing )")
		}
		p.i++
		return n, nil
	case "":
		return nil, p.errorf("missing a primitive")
	}
	return p.primitive()
}
