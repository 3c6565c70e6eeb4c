package serve

import "net"

func netResolve(s string) (net.Addr, error) { return net.ResolveTCPAddr("tcp", s) }
