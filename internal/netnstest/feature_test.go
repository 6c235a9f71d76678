package netnstest

import "testing"

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]Version{
		"6.18.0":           {6, 18, 0},
		"6.12.107-amd64":   {6, 12, 107},
		"6.6":              {6, 6, 0},
		"5.10.0-35-amd64":  {5, 10, 0},
		"7.2.0+debian-rc1": {7, 2, 0},
		"6.12.118+deb12":   {6, 12, 118},
	} {
		got, err := parseVersion(in)
		if err != nil || got != want {
			t.Errorf("parseVersion(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if !(Version{6, 1, 0}).Less(Version{6, 6, 0}) || (Version{6, 18, 0}).Less(Version{6, 6, 0}) {
		t.Error("Less orders versions wrongly")
	}
	if _, err := KernelVersion(); err != nil {
		t.Error(err)
	}
}
