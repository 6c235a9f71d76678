package trace

import "github.com/cilium/ebpf/btf"

// NoFastParseForTest keeps the observers on the helper path of parsing, to
// compare it with the fast one.
func NoFastParseForTest(o *Options) { o.noFastParse = true }

// FastParseAvailableForTest says whether this kernel has the fast parse.
func FastParseAvailableForTest() bool { return probeFeatures(btf.NewCache()).fastParse }
