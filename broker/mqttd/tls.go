package mqttd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
)

// tlsFiles loads the TLS listener's certificate and client CAs, and can
// load them again (Server.Reload) without restarting the listener: every
// handshake takes the current config through GetConfigForClient.
type tlsFiles struct {
	certFile, keyFile, clientCAFile string
	current                         atomic.Pointer[tls.Config]
}

func newTLSFiles(certFile, keyFile, clientCAFile string) (*tlsFiles, error) {
	t := &tlsFiles{certFile: certFile, keyFile: keyFile, clientCAFile: clientCAFile}
	if err := t.load(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *tlsFiles) load() error {
	cfg, err := serverTLSConfig(t.certFile, t.keyFile, t.clientCAFile)
	if err != nil {
		return err
	}
	t.current.Store(cfg)
	return nil
}

// listenerConfig is the config the TLS listener is built with.
func (t *tlsFiles) listenerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.current.Load(), nil
		},
	}
}

// serverTLSConfig builds the TLS listener's config: TLS 1.2 or newer, and
// with clientCAFile, a required and verified client certificate (mTLS).
func serverTLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("mqttd: TLS certificate %s / key %s: %w", certFile, keyFile, err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("mqttd: client CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("mqttd: client CA file " + clientCAFile + " has no PEM certificate")
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
