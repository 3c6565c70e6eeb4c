package mqttd

import (
	"crypto/tls"
	"testing"
)

func TestTLSAndMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	for _, mtls := range []bool{false, true} {
		name := "tls"
		if mtls {
			name = "mtls"
		}
		t.Run(name, func(t *testing.T) {
			opts := testOptions(t)
			opts.Addr = ""
			opts.TLSAddr = "127.0.0.1:0"
			opts.CertFile, opts.KeyFile = pki.serverCert, pki.serverKey
			if mtls {
				opts.ClientCAFile = pki.caFile
			}
			s := startServer(t, opts)
			if s.Addr() != nil {
				t.Errorf("plain listener %v, want none", s.Addr())
			}
			addr := s.TLSAddr().String()
			node := dialOpts{user: "node-a", password: password("node-a"), clientID: "node-a"}

			node.tls = &tls.Config{RootCAs: pki.roots, Certificates: []tls.Certificate{pki.client}, ServerName: "localhost"}
			if _, err := dialWith(t, addr, node); err != nil {
				t.Errorf("connect with CA-signed client certificate: %v", err)
			}
			node.tls = &tls.Config{RootCAs: pki.roots, ServerName: "localhost"}
			if _, err := dialWith(t, addr, node); (err == nil) != !mtls {
				t.Errorf("connect without client certificate: err = %v, want refused %v", err, mtls)
			}
			node.tls = &tls.Config{RootCAs: pki.roots, Certificates: []tls.Certificate{pki.stranger}, ServerName: "localhost"}
			if _, err := dialWith(t, addr, node); mtls && err == nil {
				t.Error("connected with a certificate from another CA")
			}
			node.tls = &tls.Config{RootCAs: pki.roots, ServerName: "localhost", MaxVersion: tls.VersionTLS11}
			if _, err := dialWith(t, addr, node); err == nil {
				t.Error("connected with TLS 1.1")
			}
			// TLS does not replace the password.
			bad := dialOpts{user: "node-a", password: "wrong", clientID: "node-a",
				tls: &tls.Config{RootCAs: pki.roots, Certificates: []tls.Certificate{pki.client}, ServerName: "localhost"}}
			if _, err := dialWith(t, addr, bad); err == nil {
				t.Error("connected over TLS with a wrong password")
			}
		})
	}
}
