package journey

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// A recorded stream is NDJSON: a first line {"names": Static} that names
// what the events refer to, then one Event per line. pktlife's tests replay
// streams recorded on a real kernel through the correlator.

type streamHeader struct {
	Names *Static `json:"names"`
}

// WriteStream writes names and events as a recorded stream.
func WriteStream(w io.Writer, names *Static, events []Event) error {
	enc := json.NewEncoder(w)
	if err := enc.Encode(streamHeader{Names: names}); err != nil {
		return fmt.Errorf("write stream header: %w", err)
	}
	for i := range events {
		if err := enc.Encode(&events[i]); err != nil {
			return fmt.Errorf("write event %d: %w", i, err)
		}
	}
	return nil
}

// ReadStream reads a recorded stream.
func ReadStream(r io.Reader) (*Static, []Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	if !sc.Scan() {
		return nil, nil, fmt.Errorf("read stream: empty")
	}
	var h streamHeader
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Names == nil {
		return nil, nil, fmt.Errorf("read stream header: want {\"names\": …} on the first line: %v", err)
	}
	var evs []Event
	for line := 2; sc.Scan(); line++ {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, nil, fmt.Errorf("read stream line %d: %w", line, err)
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read stream: %w", err)
	}
	return h.Names, evs, nil
}
