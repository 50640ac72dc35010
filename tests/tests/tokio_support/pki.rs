//! Certificates made at test time with rcgen.

use grpc_sansio_tokio::tls::{ClientTlsConfig, ServerTlsConfig};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A certificate authority and what it signs, all as PEM.
pub(crate) struct Pki {
    pub(crate) ca_pem: String,
    /// The authority's own certificate as DER.
    #[allow(dead_code)]
    pub(crate) ca_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

pub(crate) struct Leaf {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
    /// The certificate as DER, as a peer sees it in the handshake.
    #[allow(dead_code)]
    pub(crate) cert_der: Vec<u8>,
}

impl Pki {
    pub(crate) fn new(name: &str) -> Pki {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Pki {
            ca_pem: cert.pem(),
            ca_der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        }
    }

    /// An intermediate authority signed by this one (its `ca_pem` is the
    /// intermediate's certificate, to send along with its leaves).
    #[allow(dead_code)]
    pub(crate) fn intermediate(&self, name: &str) -> Pki {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pki {
            ca_pem: cert.pem(),
            ca_der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        }
    }

    pub(crate) fn leaf(&self, names: &[&str]) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        }
    }
}

impl Leaf {
    /// A server configuration with this certificate and key.
    #[allow(dead_code)]
    pub(crate) fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes()).unwrap()
    }

    /// `tls` presenting this certificate and key to servers that ask for
    /// one (mutual TLS). The same configuration type serves both adapters.
    #[allow(dead_code)]
    pub(crate) fn presented_by(&self, tls: ClientTlsConfig) -> ClientTlsConfig {
        tls.identity_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes())
            .unwrap()
    }
}
