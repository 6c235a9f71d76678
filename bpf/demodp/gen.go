package demodp

//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target amd64 -type ct_key -type ct_entry Demo demo.c -- -I. -I/usr/include/x86_64-linux-gnu -O2 -g -Wall -Werror
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target amd64 -type result Chain chain.c -- -I. -I/usr/include/x86_64-linux-gnu -O2 -g -Wall -Werror
