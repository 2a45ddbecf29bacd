"""Certificates for the TLS tests, made with the openssl command in a temporary folder: a CA,
a server certificate it signed for localhost and 127.0.0.1 (subjectAltName), and a client
certificate it signed (for listeners that require one), plus a second CA that signed nothing
the router knows (its "client" certificate must be refused)."""
import pathlib
import subprocess


def _openssl(*args, cwd):
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), p.stderr))


def _key(name, cwd):
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-out", name, cwd=cwd)


def _ca(prefix, cn, cwd):
    _key(prefix + ".key", cwd)
    _openssl("req", "-x509", "-new", "-key", prefix + ".key", "-sha256", "-days", "30",
             "-subj", "/CN=" + cn, "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", prefix + ".pem", cwd=cwd)


def _leaf(prefix, cn, ca, ext, cwd):
    _key(prefix + ".key", cwd)
    _openssl("req", "-new", "-key", prefix + ".key", "-subj", "/CN=" + cn, "-out", prefix + ".csr",
             cwd=cwd)
    (pathlib.Path(cwd) / (prefix + ".ext")).write_text(ext)
    _openssl("x509", "-req", "-in", prefix + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
             "-CAcreateserial", "-days", "30", "-sha256", "-extfile", prefix + ".ext",
             "-out", prefix + ".pem", cwd=cwd)


class PKI:
    """Paths (str) of: ca, server_cert, server_key, client_cert, client_key, other_ca,
    stranger_cert, stranger_key (a client certificate of other_ca)."""

    def __init__(self, folder):
        d = pathlib.Path(folder)
        d.mkdir(parents=True, exist_ok=True)
        cwd = str(d)
        _ca("ca", "moonbar test CA", cwd)
        _leaf("server", "localhost", "ca",
              "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
              "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n", cwd)
        _leaf("client", "moonbar test client", "ca",
              "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
              "extendedKeyUsage=clientAuth\n", cwd)
        _ca("other_ca", "some other CA", cwd)
        _leaf("stranger", "stranger", "other_ca",
              "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
              "extendedKeyUsage=clientAuth\n", cwd)
        p = lambda name: str(d / name)  # noqa: E731
        self.ca, self.server_cert, self.server_key = p("ca.pem"), p("server.pem"), p("server.key")
        self.client_cert, self.client_key = p("client.pem"), p("client.key")
        self.other_ca = p("other_ca.pem")
        self.stranger_cert, self.stranger_key = p("stranger.pem"), p("stranger.key")

    def server_tls(self, require_client_cert=False):
        """The tls table of a listener."""
        t = {"cert": self.server_cert, "key": self.server_key}
        if require_client_cert:
            t["ca"] = self.ca
        return t
