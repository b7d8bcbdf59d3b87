// TlsPeer: Java's JSSE as an interop peer for tlssim, in both roles.
//
//   java -cp DIR TlsPeer client HOST:PORT SERVER_NAME CA.pem 1.3|1.2 [revocation]
//   java -cp DIR TlsPeer server PORT CHAIN.pem KEY.pem 1.3|1.2
//
// The client prints "connected VERSION SUITE" and exits 0, or "error: ..." and exits 1.
// With "revocation" it turns on the PKIX revocation check with stapled OCSP answers.
// The server echoes what each connection sends until it closes.

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;

public final class TlsPeer {
    private static String protocol(String version) {
        return version.equals("1.2") ? "TLSv1.2" : "TLSv1.3";
    }

    private static Collection<? extends Certificate> certificates(String file) throws Exception {
        try (InputStream in = Files.newInputStream(Path.of(file))) {
            return CertificateFactory.getInstance("X.509").generateCertificates(in);
        }
    }

    private static int client(String[] args) throws Exception {
        String[] hostPort = args[1].split(":");
        String name = args[2];
        if (args.length > 5 && args[5].equals("revocation")) {
            System.setProperty("com.sun.net.ssl.checkRevocation", "true");
            System.setProperty("jdk.tls.client.enableStatusRequestExtension", "true");
            java.security.Security.setProperty("ocsp.enable", "true");
        }
        KeyStore anchors = KeyStore.getInstance("PKCS12");
        anchors.load(null, null);
        int i = 0;
        for (Certificate c : certificates(args[3])) {
            anchors.setCertificateEntry("anchor" + i++, c);
        }
        TrustManagerFactory tmf =
                TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(anchors);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        Socket raw = new Socket();
        raw.connect(new InetSocketAddress(hostPort[0], Integer.parseInt(hostPort[1])), 5000);
        raw.setSoTimeout(5000);
        try (SSLSocket s = (SSLSocket) ctx.getSocketFactory()
                .createSocket(raw, name, Integer.parseInt(hostPort[1]), true)) {
            SSLParameters p = s.getSSLParameters();
            p.setProtocols(new String[] {protocol(args[4])});
            p.setServerNames(List.of(new SNIHostName(name)));
            p.setEndpointIdentificationAlgorithm("HTTPS");
            s.setSSLParameters(p);
            s.startHandshake();
            // a TLS 1.3 server judges the client's Certificate after the handshake: read once
            s.setSoTimeout(300);
            s.getOutputStream().write("ping\n".getBytes());
            s.getOutputStream().flush();
            try {
                s.getInputStream().read(new byte[64]);
            } catch (SocketTimeoutException quiet) {
                // nothing more came: the server waits for more
            }
            System.out.println("connected " + s.getSession().getProtocol() + " "
                    + s.getSession().getCipherSuite());
            return 0;
        } catch (Exception e) {
            Throwable root = e;
            while (root.getCause() != null) {
                root = root.getCause();
            }
            System.out.println("error: " + root.getMessage());
            return 1;
        }
    }

    private static PrivateKey key(String file) throws Exception {
        String pem = Files.readString(Path.of(file));
        String body = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(Base64.getDecoder().decode(body));
        for (String algorithm : new String[] {"EC", "RSA", "Ed25519", "Ed448"}) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(spec);
            } catch (Exception tryNext) {
                // not this algorithm
            }
        }
        throw new IllegalArgumentException("no usable PKCS#8 key in " + file);
    }

    private static int server(String[] args) throws Exception {
        List<Certificate> chain = new ArrayList<>(certificates(args[2]));
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        char[] secret = "tlssim".toCharArray();
        store.setKeyEntry("server", key(args[3]), secret, chain.toArray(new Certificate[0]));
        KeyManagerFactory kmf =
                KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(store, secret);
        // a sixth argument: the anchors a client's certificate must chain to (required)
        boolean needClientAuth = args.length >= 6;
        TrustManager[] trust = null;
        if (needClientAuth) {
            KeyStore anchors = KeyStore.getInstance("PKCS12");
            anchors.load(null, null);
            int i = 0;
            for (Certificate anchor : certificates(args[5])) {
                anchors.setCertificateEntry("anchor" + i++, anchor);
            }
            TrustManagerFactory tmf =
                    TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(anchors);
            trust = tmf.getTrustManagers();
        }
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), trust, null);
        try (SSLServerSocket listener = (SSLServerSocket) ctx.getServerSocketFactory()
                .createServerSocket(Integer.parseInt(args[1]), 16,
                        java.net.InetAddress.getLoopbackAddress())) {
            listener.setEnabledProtocols(new String[] {protocol(args[4])});
            listener.setNeedClientAuth(needClientAuth);
            System.out.println("listening " + listener.getLocalPort());
            while (true) {
                Socket conn = listener.accept();
                new Thread(() -> echo(conn)).start();
            }
        }
    }

    private static void echo(Socket conn) {
        try (conn) {
            conn.setSoTimeout(10000);
            InputStream in = conn.getInputStream();
            OutputStream out = conn.getOutputStream();
            byte[] buf = new byte[4096];
            for (int n; (n = in.read(buf)) > 0; ) {
                out.write(buf, 0, n);
                out.flush();
            }
        } catch (Exception closed) {
            // the client went away
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length >= 5 && args[0].equals("client")) {
            System.exit(client(args));
        }
        if (args.length >= 5 && args[0].equals("server")) {
            System.exit(server(args));
        }
        System.err.println("usage: TlsPeer client HOST:PORT NAME CA.pem 1.3|1.2 [revocation]"
                + " | server PORT CHAIN.pem KEY.pem 1.3|1.2 [CLIENT-CA.pem]");
        System.exit(2);
    }
}
