//! `HTTP_GET` and `SSL_GET`: each url in turn over its own connection (HTTP/1.0, the server
//! closes), its status code checked, then the body's MD5 if the url gives a digest. Over TLS
//! the server's certificate is not verified (keepalived's default: a checker asks whether the
//! server answers, and real servers often have self-signed certificates); the url's or the
//! checker's `virtualhost` is sent as SNI.

use super::probe::{connect, endpoint};
use super::Target;
use md5::{Digest, Md5};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rvs_api::keepalived::checker::Url;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

/// The largest HTTP response read (keepalived reads the whole body for its digest).
const MAX_HTTP_RESPONSE: usize = 1 << 20;

pub async fn check(
    t: &Target,
    urls: &[Url],
    virtualhost: Option<&str>,
    tls: bool,
) -> Result<(), String> {
    for (i, url) in urls.iter().enumerate() {
        let at = format!("{} url({})", endpoint(t.connect), i + 1);
        let s = connect(t)
            .await
            .map_err(|e| format!("Error connecting server {} ({e}).", endpoint(t.connect)))?;
        let vhost = url.virtualhost.as_deref().or(virtualhost);
        let host = vhost.map_or_else(|| host_header(t.connect), str::to_string);
        let request = format!(
            "GET {} HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: {host}\r\n\r\n",
            url.path
        );
        let exchanged = async {
            if !tls {
                let mut s = s;
                return exchange(&mut s, request.as_bytes()).await;
            }
            let mut s = handshake(s, vhost, t.connect).await?;
            exchange(&mut s, request.as_bytes()).await
        };
        let response = timeout(t.connect_timeout, exchanged)
            .await
            .map_err(|_| format!("Read timeout from server {at}."))?
            .map_err(|e| format!("Error reading from server {at} ({e})."))?;
        let (status, body) = parse_response(&response)
            .ok_or_else(|| format!("Malformed HTTP response from server {at}."))?;
        if !status_ok(url, status) {
            return Err(format!(
                "HTTP status code error to {at}, status_code [{status}]."
            ));
        }
        if let Some(want) = &url.digest {
            let got = hex(&Md5::digest(body));
            if &got != want {
                return Err(format!("MD5 digest error to {at}, MD5SUM [{got}]."));
            }
        }
    }
    Ok(())
}

fn host_header(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    }
}

/// Sends `request` and reads the response to its end (HTTP/1.0: the server closes).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    request: &[u8],
) -> std::io::Result<Vec<u8>> {
    s.write_all(request).await?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 || response.len() + n > MAX_HTTP_RESPONSE {
            response.extend_from_slice(&chunk[..n.min(MAX_HTTP_RESPONSE - response.len())]);
            return Ok(response);
        }
        response.extend_from_slice(&chunk[..n]);
    }
}

/// The status code and body of an HTTP/1.x response.
pub fn parse_response(r: &[u8]) -> Option<(u16, &[u8])> {
    let end = r.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&r[..end]).ok()?;
    let mut status = head.lines().next()?.split_ascii_whitespace();
    if !status.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = status.next()?.parse().ok()?;
    Some((code, &r[end + 4..]))
}

/// keepalived: the url's status codes, any 2xx when it lists none.
pub fn status_ok(url: &Url, status: u16) -> bool {
    if url.status_codes.is_empty() {
        return (200..300).contains(&status);
    }
    url.status_codes
        .iter()
        .any(|&(lo, hi)| (lo..=hi).contains(&status))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The TLS session over `s`, SNI `vhost` (none without one: the server is addressed by IP).
async fn handshake(
    s: tokio::net::TcpStream,
    vhost: Option<&str>,
    addr: SocketAddr,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let name = match vhost.map(|h| ServerName::try_from(h.to_string())) {
        Some(Ok(n)) => n,
        _ => ServerName::IpAddress(addr.ip().into()),
    };
    tokio_rustls::TlsConnector::from(client_config())
        .connect(name, s)
        .await
}

/// One client configuration for every SSL_GET: any certificate is accepted, its signatures
/// still checked.
fn client_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            // ring lacks post-quantum key exchange, which a health check does without.
            #[allow(deprecated)]
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = Arc::new(AnyCertificate(provider.clone()));
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| {
                    b.dangerous()
                        .with_custom_certificate_verifier(verifier)
                        .with_no_client_auth()
                });
            Arc::new(config.unwrap_or_else(|_| unreachable_config()))
        })
        .clone()
}

/// The ring provider supports the default versions; kept total all the same.
fn unreachable_config() -> ClientConfig {
    ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

/// keepalived's SSL_GET without a `ca`: the server's certificate is not verified.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
