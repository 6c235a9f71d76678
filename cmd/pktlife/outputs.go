package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/pktlife/pktlife/render"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// outputFlags are the output flags `trace` and `demo` share: the format on
// stdout, and files written beside it.
type outputFlags struct {
	format  string
	verbose bool
	pcap    string
	html    string
	snaplen int

	fl *pflag.FlagSet // to tell a --snaplen given from its default
}

// defaultSnaplen is --snaplen's default: IP, transport header and some
// payload, at half the most an event can carry.
const defaultSnaplen = 128

func (f *outputFlags) register(fl *pflag.FlagSet) {
	f.fl = fl
	fl.StringVarP(&f.format, "output", "o", "text", "output format: text, json (NDJSON, one journey per line) or html (one page, written at the end)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "show skb address, CPU, length and mark per hop")
	fl.StringVar(&f.pcap, "pcap", "", "also write every hop of every journey to this pcapng file (Wireshark), with a comment per hop")
	fl.StringVar(&f.html, "html", "", "also write the journeys as one self-contained HTML page to this file")
	fl.IntVar(&f.snaplen, "snaplen", defaultSnaplen, fmt.Sprintf("with --pcap, bytes captured per hop from the network header (1-%d)", trace.MaxSnaplen))
}

// validate checks the flags before anything is attached or created.
func (f *outputFlags) validate() error {
	switch f.format {
	case "text", "json", "html":
	default:
		return usagef("invalid --output %q: want text, json or html", f.format)
	}
	if f.snaplen < 1 || f.snaplen > trace.MaxSnaplen {
		return usagef("invalid --snaplen %d: want 1 to %d bytes", f.snaplen, trace.MaxSnaplen)
	}
	if f.pcap == "" && f.fl != nil && f.fl.Changed("snaplen") {
		return usagef("--snaplen needs --pcap: only the pcapng file holds packet bytes")
	}
	if f.pcap != "" && f.pcap == f.html {
		return usagef("--pcap and --html name the same file %q", f.pcap)
	}
	return nil
}

// capture is the snap length to ask the tracer for: 0 without --pcap.
func (f *outputFlags) capture() int {
	if f.pcap == "" {
		return 0
	}
	return f.snaplen
}

// open creates the output files and returns the renderer that writes to
// stdout and to them. A file that cannot be created is a usage error,
// reported before anything is attached.
func (f *outputFlags) open(stdout *os.File, title string) (r render.Renderer, err error) {
	var tee render.Tee
	defer func() {
		if err != nil {
			tee.Close()
		}
	}()
	switch f.format {
	case "json":
		tee = append(tee, render.NewJSON(stdout))
	case "html":
		tee = append(tee, render.NewHTML(stdout, title))
	default:
		tee = append(tee, render.NewText(stdout, render.Options{Color: render.ColorWanted(stdout), Width: termWidth(stdout), Verbose: f.verbose}))
	}
	if f.pcap != "" {
		file, err := os.Create(f.pcap)
		if err != nil {
			return nil, usagef("create --pcap file: %w", err)
		}
		bw := bufio.NewWriterSize(file, 64<<10)
		p, err := render.NewPcap(bw, f.snaplen)
		if err != nil {
			file.Close()
			return nil, fmt.Errorf("write --pcap file: %w", err)
		}
		tee = append(tee, fileRenderer{p, bw, file})
	}
	if f.html != "" {
		file, err := os.Create(f.html)
		if err != nil {
			return nil, usagef("create --html file: %w", err)
		}
		bw := bufio.NewWriterSize(file, 64<<10)
		tee = append(tee, fileRenderer{render.NewHTML(bw, title), bw, file})
	}
	if len(tee) == 1 {
		return tee[0], nil
	}
	return tee, nil
}

// fileRenderer writes through a buffer to a file: each journey is in the
// file once it is rendered (an interrupted trace keeps what it had), and
// the file is closed after its renderer.
type fileRenderer struct {
	render.Renderer
	bw *bufio.Writer
	f  *os.File
}

func (r fileRenderer) Journey(j *journey.Journey) error {
	if err := r.Renderer.Journey(j); err != nil {
		return err
	}
	if err := r.bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", r.f.Name(), err)
	}
	return nil
}

func (r fileRenderer) Close() error {
	err := r.Renderer.Close()
	if ferr := r.bw.Flush(); ferr != nil {
		err = errors.Join(err, fmt.Errorf("write %s: %w", r.f.Name(), ferr))
	}
	if cerr := r.f.Close(); cerr != nil && !errors.Is(cerr, os.ErrClosed) {
		err = errors.Join(err, fmt.Errorf("close %s: %w", r.f.Name(), cerr))
	}
	return err
}
