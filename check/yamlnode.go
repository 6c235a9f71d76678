package check

import (
	"fmt"
	"path"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The parser walks yaml.Node trees itself rather than decoding into
// structs: every error then carries the line and column of the key or
// value at fault, and unknown keys are reported, not ignored.

type parser struct {
	file string
	errs Errors
}

func posOf(n *yaml.Node) Pos {
	if n == nil {
		return Pos{}
	}
	return Pos{n.Line, n.Column}
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Pos: posOf(n), Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) errorAt(pos Pos, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "something else"
}

// noAlias reports aliases, which specs do not use (and which could make a
// small file expand without bound).
func (p *parser) noAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		p.errorf(n, "anchors and aliases are not supported in specs")
		return false
	}
	return true
}

// mapping walks a mapping node whose keys must be among known, calling fn
// for each pair. what names the mapping in errors.
func (p *parser) mapping(n *yaml.Node, what string, known []string, fn func(key string, v *yaml.Node)) bool {
	if !p.noAlias(n) {
		return false
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s: want a mapping, got %s", what, kindName(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "%s: keys must be plain words", what)
			continue
		}
		if !contains(known, k.Value) {
			p.errorf(k, "unknown key %q in %s%s; known keys: %s", k.Value, what, suggest(k.Value, known), strings.Join(known, ", "))
			continue
		}
		if seen[k.Value] {
			p.errorf(k, "duplicate key %q in %s", k.Value, what)
			continue
		}
		seen[k.Value] = true
		if !p.noAlias(v) {
			continue
		}
		fn(k.Value, v)
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, "%s: want a value, got %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) str(n *yaml.Node, what string, dst *string) {
	if s, ok := p.scalar(n, what); ok {
		*dst = s
	}
}

func (p *parser) boolean(n *yaml.Node, what string, dst *bool) {
	s, ok := p.scalar(n, what)
	if !ok {
		return
	}
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		*dst = true
	case "false", "no", "off":
		*dst = false
	default:
		p.errorf(n, "%s: want true or false, got %q", what, s)
	}
}

// duration parses a positive duration such as "50us", "1.5ms", "2s".
func (p *parser) duration(n *yaml.Node, what string, dst *time.Duration) {
	s, ok := p.scalar(n, what)
	if !ok {
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.errorf(n, "%s: want a duration such as 50us, 2ms or 1s, got %q", what, s)
		return
	}
	if d <= 0 {
		p.errorf(n, "%s: a budget must be positive, got %s", what, s)
		return
	}
	*dst = d
}

// list accepts a sequence of scalars or a single scalar.
func (p *parser) list(n *yaml.Node, what string) []string {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s: want a list, got %s", what, kindName(n))
		return nil
	}
	out := []string{}
	for _, c := range n.Content {
		if !p.noAlias(c) {
			continue
		}
		if s, ok := p.scalar(c, what); ok {
			out = append(out, s)
		}
	}
	return out
}

// glob checks a glob (path.Match syntax: *, ?, [a-z]).
func (p *parser) glob(n *yaml.Node, what string, dst *string) {
	s, ok := p.scalar(n, what)
	if !ok {
		return
	}
	if err := checkGlob(s); err != nil {
		p.errorf(n, "%s: bad glob %q: %v", what, s, err)
		return
	}
	*dst = s
}

func checkGlob(g string) error {
	_, err := path.Match(g, "")
	return err
}
