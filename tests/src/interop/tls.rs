//! TLS for the interop binaries: the official flags `--use_tls`,
//! `--use_test_ca` and `--server_host_override`, plus the files they need.
//!
//! Deviation from gRPC's interop descriptions: the official test
//! credentials (the test CA `ca.pem` and the server's `server1.pem` /
//! `server1.key`, whose names cover `*.test.google.fr`) live in gRPC's
//! repository and are not shipped here. So the test CA and the server's
//! certificate are files given on the command line, made at test time
//! (the matrix test makes them with rcgen, the server's certificate naming
//! `foo.test.google.fr` as the official one does):
//!
//! - client: `--use_tls=true --use_test_ca=true --test_ca_file=ca.pem
//!   [--server_host_override=foo.test.google.fr]`. No system roots are
//!   loaded, so `--use_test_ca=false` is refused with TLS.
//! - server: `--use_tls=true --tls_cert_file=cert.pem --tls_key_file=key.pem`.
//!
//! `--server_host_override` is both the name the server's certificate must
//! carry (and SNI) and the `:authority` of the calls, as in gRPC's own
//! clients.

use super::flags::Flags;

/// The defaults of the extra client flags.
pub const CLIENT_FLAGS: &[(&str, &str)] = &[("test_ca_file", "")];
/// The defaults of the extra server flags.
pub const SERVER_FLAGS: &[(&str, &str)] = &[("tls_cert_file", ""), ("tls_key_file", "")];

/// How the interop client does TLS.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// The roots to trust (the test CA), PEM.
    pub ca_pem: Vec<u8>,
    /// The name the server's certificate must carry; default the host.
    pub server_name: Option<String>,
}

/// How the interop server does TLS.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// The private key, PEM.
    pub key_pem: Vec<u8>,
}

fn read(flag: &str, path: &str) -> Result<Vec<u8>, String> {
    if path.is_empty() {
        return Err(format!("--use_tls=true needs --{flag}"));
    }
    std::fs::read(path).map_err(|e| format!("--{flag}={path}: {e}"))
}

/// The client's TLS settings from its flags; `None` without `--use_tls`.
pub fn client_from_flags(flags: &Flags) -> Result<Option<ClientTls>, String> {
    if !flags.bool("use_tls") {
        return Ok(None);
    }
    if !flags.bool("use_test_ca") {
        return Err(
            "--use_tls=true needs --use_test_ca=true and --test_ca_file (no system roots are \
             loaded)"
                .into(),
        );
    }
    Ok(Some(ClientTls {
        ca_pem: read("test_ca_file", flags.get("test_ca_file"))?,
        server_name: Some(flags.get("server_host_override"))
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    }))
}

/// The server's TLS settings from its flags; `None` without `--use_tls`.
pub fn server_from_flags(flags: &Flags) -> Result<Option<ServerTls>, String> {
    if !flags.bool("use_tls") {
        return Ok(None);
    }
    Ok(Some(ServerTls {
        cert_pem: read("tls_cert_file", flags.get("tls_cert_file"))?,
        key_pem: read("tls_key_file", flags.get("tls_key_file"))?,
    }))
}
