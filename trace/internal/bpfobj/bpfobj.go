package bpfobj

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// Name returns a program's name: the full name from its BTF where the
// kernel has it, else the kernel's 15-character name; "" if it is gone.
func Name(id ebpf.ProgramID) string {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return ""
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return ""
	}
	if full := FullName(info); full != "" {
		return full
	}
	return info.Name
}

// FullName finds the name of the program's first function in its BTF.
func FullName(info *ebpf.ProgramInfo) string {
	fis, err := info.FuncInfos()
	if err != nil || len(fis) == 0 {
		return ""
	}
	// the first function info is the entry point
	for _, fi := range fis {
		if fi.Func != nil {
			return fi.Func.Name
		}
	}
	return ""
}

// ProgID returns a program's kernel ID.
func ProgID(p *ebpf.Program) (uint32, error) {
	info, err := p.Info()
	if err != nil {
		return 0, fmt.Errorf("read program info: %w", err)
	}
	id, ok := info.ID()
	if !ok {
		return 0, errors.New("read program info: no ID")
	}
	return uint32(id), nil
}

// MapID returns a map's kernel ID.
func MapID(m *ebpf.Map) (uint32, error) {
	info, err := m.Info()
	if err != nil {
		return 0, fmt.Errorf("read map info: %w", err)
	}
	id, ok := info.ID()
	if !ok {
		return 0, errors.New("read map info: no ID")
	}
	return uint32(id), nil
}
