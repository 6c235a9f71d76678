package render

import (
	"bufio"
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pktlife/pktlife/trace/journey"
)

func TestJSONRoundTrip(t *testing.T) {
	js := append(allJourneys(), hostile())
	out := renderJSON(t, js...)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	i := 0
	for ; sc.Scan(); i++ {
		if i >= len(js) {
			t.Fatalf("more lines than journeys")
		}
		var got journey.Journey
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("line %d: unmarshal: %v", i+1, err)
		}
		if !reflect.DeepEqual(&got, js[i]) {
			t.Errorf("line %d does not round-trip:\ngot  %+v\nwant %+v", i+1, got, *js[i])
		}
		want, err := json.Marshal(js[i])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sc.Bytes(), want) {
			t.Errorf("line %d is not json.Marshal of the journey:\n%s\n%s", i+1, sc.Bytes(), want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(js) {
		t.Fatalf("%d lines for %d journeys", i, len(js))
	}
	if bytes.Count(out, []byte("\n")) != len(js) || out[len(out)-1] != '\n' {
		t.Fatal("output is not one newline-terminated line per journey")
	}
}

func TestJSONSchemaDefault(t *testing.T) {
	j := udpDelivered()
	j.Schema = 0
	var got journey.Journey
	if err := json.Unmarshal(renderJSON(t, j), &got); err != nil {
		t.Fatal(err)
	}
	if got.Schema != journey.SchemaVersion {
		t.Errorf("schema = %d, want %d", got.Schema, journey.SchemaVersion)
	}
	if j.Schema != 0 {
		t.Error("the caller's journey was modified")
	}
	j.Schema = 7 // a journey that says its schema keeps it
	if err := json.Unmarshal(renderJSON(t, j), &got); err != nil {
		t.Fatal(err)
	}
	if got.Schema != 7 {
		t.Errorf("schema = %d, want the journey's own 7", got.Schema)
	}
}

// TestJSONFieldsDocumented checks that docs/json-schema.md mentions every
// field name the JSON form can carry, so the document cannot fall behind.
func TestJSONFieldsDocumented(t *testing.T) {
	doc := readDoc(t)
	seen := map[string]bool{}
	collectJSONNames(reflect.TypeOf(journey.Journey{}), seen)
	for name := range seen {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/json-schema.md does not document field %q", name)
		}
	}
	for _, h := range []journey.Hook{journey.HookTCIngress, journey.HookKfreeSkb, journey.HookKfuncRet} {
		if !strings.Contains(doc, "`"+h.String()+"`") {
			t.Errorf("docs/json-schema.md does not list hook %q", h)
		}
	}
}

func collectJSONNames(t reflect.Type, seen map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.PkgPath() != reflect.TypeOf(journey.Journey{}).PkgPath() {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if !seen[name] {
			seen[name] = true
			collectJSONNames(f.Type, seen)
		}
	}
}
