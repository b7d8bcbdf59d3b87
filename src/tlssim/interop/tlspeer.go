// tlspeer: Go's crypto/tls as an interop peer for tlssim, in both roles.
//
//	tlspeer client -connect 127.0.0.1:8443 -servername valid.tlssim.test -cafile bundle.pem [-version 1.3]
//	tlspeer server -listen 127.0.0.1:4433 -cert leaf.pem -key leaf.key [-version 1.2] [-clientca anchors.pem] [-ocsp staple.der]
//
// The client prints "connected VERSION SUITE" and exits 0, or "error: ..." and exits 1.
// The server echoes what each connection sends until it closes.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

func versions(v string) (uint16, uint16) {
	switch v {
	case "1.2":
		return tls.VersionTLS12, tls.VersionTLS12
	case "1.3":
		return tls.VersionTLS13, tls.VersionTLS13
	}
	return tls.VersionTLS12, tls.VersionTLS13
}

// versionName: Go 1.19 has no tls.VersionName.
func versionName(v uint16) string {
	switch v {
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}

func client(args []string) int {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	connect := fs.String("connect", "127.0.0.1:8443", "address to dial")
	name := fs.String("servername", "", "SNI and name to verify")
	cafile := fs.String("cafile", "", "trust anchors (PEM)")
	version := fs.String("version", "", "1.2 or 1.3 (default both)")
	certFile := fs.String("cert", "", "client certificate (PEM), sent when asked")
	keyFile := fs.String("key", "", "client key (PEM)")
	fs.Parse(args)
	pem, err := os.ReadFile(*cafile)
	if err != nil {
		fmt.Println("error:", err)
		return 2
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	lo, hi := versions(*version)
	config := &tls.Config{RootCAs: roots, ServerName: *name, MinVersion: lo, MaxVersion: hi}
	if *certFile != "" {
		pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fmt.Println("error:", err)
			return 2
		}
		config.Certificates = []tls.Certificate{pair}
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", *connect, config)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer conn.Close()
	// a TLS 1.3 server judges the client's Certificate after the handshake: read once
	conn.SetDeadline(time.Now().Add(300 * time.Millisecond))
	conn.Write([]byte("ping\n"))
	buf := make([]byte, 64)
	if _, err := conn.Read(buf); err != nil {
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			if err != io.EOF {
				fmt.Println("error: after the handshake:", err)
				return 1
			}
		}
	}
	state := conn.ConnectionState()
	fmt.Println("connected", versionName(state.Version), tls.CipherSuiteName(state.CipherSuite))
	return 0
}

func server(args []string) int {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:4433", "address to listen on")
	certFile := fs.String("cert", "", "certificate chain (PEM)")
	keyFile := fs.String("key", "", "private key (PEM)")
	version := fs.String("version", "", "1.2 or 1.3 (default both)")
	clientCA := fs.String("clientca", "", "require a client certificate chaining to these anchors (PEM)")
	staple := fs.String("ocsp", "", "a DER OCSP response to staple")
	fs.Parse(args)
	pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fmt.Println("error:", err)
		return 2
	}
	if *staple != "" {
		if pair.OCSPStaple, err = os.ReadFile(*staple); err != nil {
			fmt.Println("error:", err)
			return 2
		}
	}
	lo, hi := versions(*version)
	config := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: lo, MaxVersion: hi}
	if *clientCA != "" {
		pem, err := os.ReadFile(*clientCA)
		if err != nil {
			fmt.Println("error:", err)
			return 2
		}
		config.ClientCAs = x509.NewCertPool()
		config.ClientCAs.AppendCertsFromPEM(pem)
		config.ClientAuth = tls.RequireAndVerifyClientCert
	}
	listener, err := tls.Listen("tcp", *listen, config)
	if err != nil {
		fmt.Println("error:", err)
		return 2
	}
	fmt.Println("listening", listener.Addr())
	for {
		conn, err := listener.Accept()
		if err != nil {
			return 1
		}
		go func(c net.Conn) {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.Copy(c, c)
		}(conn)
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tlspeer client|server [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "client":
		os.Exit(client(os.Args[2:]))
	case "server":
		os.Exit(server(os.Args[2:]))
	}
	fmt.Fprintln(os.Stderr, "usage: tlspeer client|server [flags]")
	os.Exit(2)
}
