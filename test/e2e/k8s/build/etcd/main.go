// Command etcd is etcd's server, built from the module proxy with the
// cluster it serves.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
