package bpf

//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target amd64 -type tuple -type devkey -type track -type filter_insn Pktlife pktlife.c -- -I. -I/usr/include/x86_64-linux-gnu -O2 -g -Wall -Werror
