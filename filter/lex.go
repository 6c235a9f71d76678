package filter

import (
	"fmt"
	"strings"
)

// token is one lexeme of an expression: a word (keyword, number, address,
// name) or an operator.
type token struct {
	text string
	pos  int // byte offset in the expression, for errors
	op   bool
}

// isWordByte says whether c may be part of a word: addresses (IPv4, IPv6,
// CIDR), numbers, ranges (1000-2000), names and escaped names (\tcp).
func isWordByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("._:-/\\", c) >= 0
}

// lex splits an expression into tokens.
func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, token{text: s[i:j], pos: i})
			i = j
		case strings.HasPrefix(s[i:], "&&"), strings.HasPrefix(s[i:], "||"),
			strings.HasPrefix(s[i:], "!="), strings.HasPrefix(s[i:], "=="),
			strings.HasPrefix(s[i:], "<="), strings.HasPrefix(s[i:], ">="):
			toks = append(toks, token{text: s[i : i+2], pos: i, op: true})
			i += 2
		case strings.IndexByte("()![]&|=<>+*%^~", c) >= 0:
			toks = append(toks, token{text: s[i : i+1], pos: i, op: true})
			i++
		default:
			return nil, fmt.Errorf("unexpected character %q at offset %d", c, i)
		}
	}
	return toks, nil
}
