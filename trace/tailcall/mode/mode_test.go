package mode

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, m := range append([]Mode{""}, All...) {
		if err := Check(m); err != nil {
			t.Errorf("Check(%q): %v", m, err)
		}
	}
	err := Check("exact")
	if !errors.Is(err, ErrUnknown) || err.Error() != `select tail-call mode "exact": want auto, interpose, passive or off: unknown tail-call mode` {
		t.Errorf("Check(exact): %v", err)
	}
	if got := List(Off, Interpose); got != "off or interpose" {
		t.Errorf("List = %q", got)
	}
}
