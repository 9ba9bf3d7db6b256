//! RFC 3161 trusted time: the time-stamp query the hub sends, and the
//! verification of the token a time-stamping authority (TSA) answers
//! (`docs/protocol/evidence.md` §3 "Trusted time" and §5 check 5).
//!
//! Pure: bytes in, a verdict out; no I/O, no clock (a token is judged at its
//! own `genTime`). The ASN.1 types come from RustCrypto (`x509-tsp`, `cms`,
//! `x509-cert`); every check is written here:
//!
//! 1. the token is a CMS `SignedData` over a `TSTInfo`, with one signer;
//! 2. the message imprint is SHA-256, over SHA-256 of the checkpoint file;
//! 3. the nonce, when the caller gives one;
//! 4. the signed attributes: content type `id-ct-TSTInfo`, message digest =
//!    SHA-256 of the `TSTInfo`, and the ESS signing-certificate attribute
//!    (v1 or v2) names the signer certificate when present;
//! 5. the signature over the DER of the signed attributes, ECDSA P-256 or
//!    RSA PKCS#1 v1.5, both with SHA-256, by the signer certificate's key;
//! 6. the signer certificate has one extended key usage, `timeStamping`, in
//!    a critical extension (RFC 3161 §2.3);
//! 7. the signer certificate chains to the last certificate of the given
//!    PEM chain (the trust anchor): each signature by its issuer, each
//!    issuer a CA, every certificate valid at `genTime`.
//!
//! Not checked: revocation (no CRL or OCSP), name constraints and policy
//! constraints, RSA-PSS, ECDSA curves other than P-256, digests other than
//! SHA-256. Signed attributes are verified in their DER (sorted) encoding,
//! as RFC 5652 §5.4 requires of signers.

use cms::cert::CertificateChoices;
use cms::cert::x509::Certificate;
use cms::cert::x509::attr::Attribute;
use cms::cert::x509::ext::pkix::name::GeneralName;
use cms::cert::x509::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use cms::cert::x509::name::Name;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{Int, ObjectIdentifier, OctetString};
use der::{
    Any, Decode, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag,
    Tagged, Writer,
};
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifier, AlgorithmIdentifierOwned};
use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TimeStampResp, TspVersion};

/// Largest token or reply accepted: a token with a three-certificate RSA
/// chain is about 6 KiB; anything near this bound is not a time-stamp.
pub const TOKEN_BYTES_MAX: usize = 64 * 1024;
/// Largest PEM chain accepted (a few certificates of ~2 KiB each).
pub const CHAIN_PEM_BYTES_MAX: usize = 256 * 1024;
/// Most certificates taken from the PEM chain or the token: bounds the
/// path search.
pub const CHAIN_CERTS_MAX: usize = 16;
/// Longest path from the signer certificate to the anchor (signer and
/// anchor included); real TSAs use 2 or 3.
pub const CHAIN_DEPTH_MAX: usize = 8;
/// Most fraction-of-second digits in `genTime` (RFC 3161 allows any; beyond
/// nanoseconds nothing is real).
const GEN_TIME_FRACTION_DIGITS_MAX: usize = 9;
/// Smallest RSA modulus accepted for a signature (ETSI TS 119 312).
const RSA_MODULUS_BITS_MIN: usize = 2048;

/// SHA-256 (NIST).
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// SHA-1, only to compare an ESSCertID (v1) certificate hash.
const OID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
/// CMS `id-signedData`.
const OID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// RFC 3161 `id-ct-TSTInfo`.
const OID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// CMS signed attribute `content-type`.
const OID_ATTR_CONTENT_TYPE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// CMS signed attribute `message-digest`.
const OID_ATTR_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// ESS `signing-certificate` (RFC 2634, SHA-1 ESSCertID).
const OID_ATTR_SIGNING_CERT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
/// ESS `signing-certificate-v2` (RFC 5035, ESSCertIDv2).
const OID_ATTR_SIGNING_CERT_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// `ecdsa-with-SHA256`.
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// `id-ecPublicKey` (also seen as a CMS signature algorithm, digest apart).
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// The P-256 curve (`prime256v1`).
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `rsaEncryption` (a key type, and a CMS signature algorithm, digest apart).
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `sha256WithRSAEncryption`.
const OID_RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// Extension `basicConstraints`.
const OID_EXT_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
/// Extension `keyUsage`.
const OID_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
/// Extension `extKeyUsage`.
const OID_EXT_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
/// Extension `subjectKeyIdentifier`.
const OID_EXT_SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
/// Key purpose `id-kp-timeStamping`.
const OID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

/// What a verified token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    /// `genTime`: when the TSA stamped, in milliseconds since the Unix epoch
    /// (finer fractions are cut).
    pub gen_time_ms: u64,
    /// `accuracy` of `genTime`, in milliseconds, when the TSA states it.
    pub accuracy_ms: Option<u64>,
    /// The token's serial number, lowercase hex of its DER integer bytes.
    pub serial: String,
    /// The TSA policy under which the token was issued (dotted OID).
    pub policy: String,
    /// The TSA's name as the token gives it (`tsa` field), if any.
    pub tsa_name: Option<String>,
    /// The nonce the request carried, if any.
    pub nonce: Option<u64>,
}

/// Why a reply or token was refused; each names the check that failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TsaError {
    #[error("{what} is {bytes} bytes, more than the {max} accepted")]
    TooLarge {
        what: &'static str,
        bytes: usize,
        max: usize,
    },
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("the TSA did not grant the request: status {status}{text}")]
    NotGranted { status: String, text: String },
    #[error("the reply was granted but carries no token")]
    NoToken,
    #[error("the token is not a CMS SignedData over a TSTInfo: {0}")]
    NotTimeStampToken(&'static str),
    #[error("the message imprint uses {0}, not SHA-256")]
    ImprintAlgorithm(String),
    #[error("the message imprint is not SHA-256 of these bytes: the token stamps something else")]
    ImprintMismatch,
    #[error("the token carries no nonce, but the request had one")]
    NonceMissing,
    #[error("the token's nonce is not the request's: a replayed or crossed answer")]
    NonceMismatch,
    #[error("the token has {0} signers; exactly one is expected")]
    SignerCount(usize),
    #[error("the signer's digest algorithm is {0}, not SHA-256")]
    DigestAlgorithm(String),
    #[error("the token has no signed attributes")]
    SignedAttributesMissing,
    #[error("the content-type signed attribute is missing or not id-ct-TSTInfo")]
    ContentTypeAttribute,
    #[error("the message-digest signed attribute is missing or not SHA-256 of the TSTInfo")]
    MessageDigestAttribute,
    #[error("the signing-certificate attribute does not name the signer certificate: {0}")]
    SigningCertificateAttribute(&'static str),
    #[error("the signer certificate named by the token is neither in the token nor in the chain")]
    SignerCertificateNotFound,
    #[error("unsupported {what}: {detail}")]
    Unsupported { what: &'static str, detail: String },
    #[error("the token's signature does not verify with the signer certificate's key")]
    Signature,
    #[error("the signer certificate's extended key usage is wrong: {0}")]
    ExtendedKeyUsage(&'static str),
    #[error("the signer certificate's key usage forbids signing")]
    KeyUsage,
    #[error("certificate {subject} is not valid at the token's genTime")]
    NotValidAtGenTime { subject: String },
    #[error("the chain does not hold: {0}")]
    Chain(String),
}

/// The DER `TimeStampReq` for a SHA-256 `digest`: version 1, the nonce, and
/// `certReq` true so the TSA puts its certificate in the token.
pub fn build_request(digest: [u8; 32], nonce: u64) -> Vec<u8> {
    let request = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifier {
                oid: OID_SHA256,
                parameters: Some(Any::null()),
            },
            hashed_message: OctetString::new(digest.to_vec())
                .expect("32 bytes fit an OCTET STRING"),
        },
        req_policy: None,
        nonce: Some(nonce_to_int(nonce)),
        cert_req: true,
        extensions: None,
    };
    request
        .to_der()
        .expect("a TimeStampReq of fixed shape always encodes")
}

/// The `TimeStampToken` (DER) inside a `TimeStampResp`, when its status is
/// `granted` or `grantedWithMods`. Nothing about the token is verified.
pub fn parse_response(resp_der: &[u8]) -> Result<Vec<u8>, TsaError> {
    check_size("reply", resp_der.len(), TOKEN_BYTES_MAX)?;
    let resp = TimeStampResp::from_der(resp_der).map_err(malformed("TimeStampResp"))?;
    use cmpv2::status::PkiStatus;
    match resp.status.status {
        PkiStatus::Accepted | PkiStatus::GrantedWithMods => {}
        other => {
            let text = resp
                .status
                .status_string
                .iter()
                .flat_map(|texts| texts.iter())
                .map(|text| format!(" \"{}\"", text.as_str()))
                .collect::<String>();
            return Err(TsaError::NotGranted {
                status: format!("{other:?}"),
                text,
            });
        }
    }
    let token = resp.time_stamp_token.ok_or(TsaError::NoToken)?;
    token.to_der().map_err(malformed("TimeStampToken"))
}

/// What the hub keeps of a fresh reply: the token and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedReply {
    /// The `TimeStampToken`, DER: what goes into `timestamps/NNNNNN.tsr`.
    pub token_der: Vec<u8>,
    pub info: TokenInfo,
}

/// Checks a fresh reply to [`build_request`] before the hub keeps it: the
/// status is granted, the token is well formed, its imprint is SHA-256 of
/// `checkpoint`, its nonce is `nonce`, and its signature verifies with the
/// certificate the token carries, which has the critical `timeStamping`
/// usage. The chain to a trust anchor is left to [`verify_token`], which
/// `vigie verify` runs on the export.
pub fn check_reply(
    resp_der: &[u8],
    checkpoint: &[u8],
    nonce: u64,
) -> Result<CheckedReply, TsaError> {
    let token_der = parse_response(resp_der)?;
    let token = Token::parse(&token_der)?;
    let info = token.check_content(checkpoint, Some(nonce))?;
    let embedded = token.embedded_certificates()?;
    let signer = token.verify_signature(&embedded)?;
    check_time_stamping_usage(signer)?;
    Ok(CheckedReply { token_der, info })
}

/// Verifies a time-stamp token over `checkpoint` against the trust anchor
/// that ends `chain_pem` (see the module documentation for every check).
/// `token_der` is the `TimeStampToken`, or a whole `TimeStampResp`.
pub fn verify_token(
    checkpoint: &[u8],
    token_der: &[u8],
    chain_pem: &[u8],
) -> Result<TokenInfo, TsaError> {
    verify(checkpoint, token_der, chain_pem, None)
}

/// [`verify_token`], and the token's nonce must be `nonce`.
pub fn verify_token_with_nonce(
    checkpoint: &[u8],
    token_der: &[u8],
    chain_pem: &[u8],
    nonce: u64,
) -> Result<TokenInfo, TsaError> {
    verify(checkpoint, token_der, chain_pem, Some(nonce))
}

fn verify(
    checkpoint: &[u8],
    token_der: &[u8],
    chain_pem: &[u8],
    nonce: Option<u64>,
) -> Result<TokenInfo, TsaError> {
    check_size("token", token_der.len(), TOKEN_BYTES_MAX)?;
    check_size("PEM chain", chain_pem.len(), CHAIN_PEM_BYTES_MAX)?;
    let token_der = match ContentInfo::from_der(token_der) {
        Ok(_) => token_der.to_vec(),
        // Not a bare token: a whole reply, as `openssl ts -reply` writes it.
        Err(_) => parse_response(token_der)?,
    };
    let token = Token::parse(&token_der)?;
    let info = token.check_content(checkpoint, nonce)?;
    // x509-cert 0.2.5's `load_pem_chain` computes `len - 1` of the input
    // without its final line ends: nothing but line ends underflows (a
    // panic where overflow checks are on). No certificate either way.
    if chain_pem.iter().all(|b| matches!(b, b'\r' | b'\n')) {
        return Err(TsaError::Malformed {
            what: "PEM chain",
            detail: "no certificate".into(),
        });
    }
    let chain = Certificate::load_pem_chain(chain_pem).map_err(malformed("PEM chain"))?;
    check_size("PEM chain (certificates)", chain.len(), CHAIN_CERTS_MAX)?;
    let (anchor, intermediates) = chain.split_last().ok_or_else(|| TsaError::Malformed {
        what: "PEM chain",
        detail: "no certificate".into(),
    })?;
    check_self_signed_root(anchor)?;
    let embedded = token.embedded_certificates()?;
    let pool: Vec<&Certificate> = embedded
        .iter()
        .copied()
        .chain(intermediates.iter())
        .chain(std::iter::once(anchor))
        .collect();
    let signer = token.verify_signature(&pool)?;
    check_time_stamping_usage(signer)?;
    check_chain(signer, &pool, anchor, info.gen_time_ms)?;
    Ok(info)
}

/// A parsed token: the `SignedData`, its one signer and its `TSTInfo`.
struct Token {
    signed_data: SignedData,
    /// The encapsulated `TSTInfo`, as signed (the message digest covers it).
    tst_info_der: Vec<u8>,
    tst_info: TstInfo,
}

impl Token {
    fn parse(token_der: &[u8]) -> Result<Self, TsaError> {
        let content_info = ContentInfo::from_der(token_der).map_err(malformed("ContentInfo"))?;
        if content_info.content_type != OID_SIGNED_DATA {
            return Err(TsaError::NotTimeStampToken(
                "content type is not id-signedData",
            ));
        }
        let signed_data = content_info
            .content
            .decode_as::<SignedData>()
            .map_err(malformed("SignedData"))?;
        // RFC 5652 §5.1: version 3 whenever the content is not id-data.
        if signed_data.version != CmsVersion::V3 {
            return Err(TsaError::NotTimeStampToken("SignedData version is not 3"));
        }
        if !signed_data
            .digest_algorithms
            .iter()
            .any(|algorithm| check_sha256_algorithm(algorithm).is_ok())
        {
            return Err(TsaError::DigestAlgorithm(
                "absent from the SignedData's digest algorithms".into(),
            ));
        }
        let encap = &signed_data.encap_content_info;
        if encap.econtent_type != OID_CT_TST_INFO {
            return Err(TsaError::NotTimeStampToken("content is not id-ct-TSTInfo"));
        }
        let econtent = encap
            .econtent
            .as_ref()
            .ok_or(TsaError::NotTimeStampToken("no encapsulated TSTInfo"))?;
        if econtent.tag() != Tag::OctetString {
            return Err(TsaError::NotTimeStampToken(
                "TSTInfo not in an OCTET STRING",
            ));
        }
        let tst_info_der = econtent.value().to_vec();
        let tst_info = TstInfo::from_der(&tst_info_der).map_err(malformed("TSTInfo"))?;
        Ok(Self {
            signed_data,
            tst_info_der,
            tst_info,
        })
    }

    /// The imprint and the nonce; what the token says.
    fn check_content(&self, checkpoint: &[u8], nonce: Option<u64>) -> Result<TokenInfo, TsaError> {
        let tst = &self.tst_info;
        let imprint = &tst.message_imprint;
        check_sha256_algorithm(&imprint.hash_algorithm).map_err(TsaError::ImprintAlgorithm)?;
        if imprint.hashed_message.as_bytes() != &Sha256::digest(checkpoint)[..] {
            return Err(TsaError::ImprintMismatch);
        }
        let token_nonce = tst.nonce.as_ref().map(int_to_u64).transpose()?;
        if let Some(expected) = nonce {
            match token_nonce {
                None => return Err(TsaError::NonceMissing),
                Some(got) if got != expected => return Err(TsaError::NonceMismatch),
                Some(_) => {}
            }
        }
        Ok(TokenInfo {
            gen_time_ms: tst.gen_time.unix_ms,
            accuracy_ms: tst.accuracy.as_ref().map(accuracy_ms),
            serial: hex(tst.serial_number.as_bytes()),
            policy: tst.policy.to_string(),
            tsa_name: tst.tsa.as_ref().map(general_name_text),
            nonce: token_nonce,
        })
    }

    /// The certificates the token carries (bounded).
    fn embedded_certificates(&self) -> Result<Vec<&Certificate>, TsaError> {
        let certificates: Vec<&Certificate> = self
            .signed_data
            .certificates
            .iter()
            .flat_map(|set| set.0.iter())
            .filter_map(|choice| match choice {
                CertificateChoices::Certificate(certificate) => Some(certificate),
                CertificateChoices::Other(_) => None,
            })
            .collect();
        check_size("token (certificates)", certificates.len(), CHAIN_CERTS_MAX)?;
        Ok(certificates)
    }

    /// The signed attributes and the signature; the signer certificate,
    /// found in `pool` by the signer identifier.
    fn verify_signature<'a>(&self, pool: &[&'a Certificate]) -> Result<&'a Certificate, TsaError> {
        let signers = &self.signed_data.signer_infos.0;
        let [signer_info] = signers.as_slice() else {
            return Err(TsaError::SignerCount(signers.len()));
        };
        check_sha256_algorithm(&signer_info.digest_alg).map_err(TsaError::DigestAlgorithm)?;
        let expected_version = match signer_info.sid {
            SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
            SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
        };
        if signer_info.version != expected_version {
            return Err(TsaError::NotTimeStampToken(
                "SignerInfo version does not match its identifier",
            ));
        }
        let attributes = signer_info
            .signed_attrs
            .as_ref()
            .ok_or(TsaError::SignedAttributesMissing)?;

        let content_type = single_attribute(attributes.as_slice(), OID_ATTR_CONTENT_TYPE)
            .ok_or(TsaError::ContentTypeAttribute)?;
        let content_type = content_type
            .decode_as::<ObjectIdentifier>()
            .map_err(|_| TsaError::ContentTypeAttribute)?;
        if content_type != OID_CT_TST_INFO {
            return Err(TsaError::ContentTypeAttribute);
        }
        let digest = single_attribute(attributes.as_slice(), OID_ATTR_MESSAGE_DIGEST)
            .ok_or(TsaError::MessageDigestAttribute)?;
        let digest = digest
            .decode_as::<OctetString>()
            .map_err(|_| TsaError::MessageDigestAttribute)?;
        if digest.as_bytes() != &Sha256::digest(&self.tst_info_der)[..] {
            return Err(TsaError::MessageDigestAttribute);
        }

        let signer = find_signer(signer_info, pool)?;
        check_signing_certificate_attribute(attributes.as_slice(), signer)?;

        let signed_bytes = attributes
            .to_der()
            .map_err(malformed("signed attributes"))?;
        let algorithm = signature_algorithm(&signer_info.signature_algorithm, true)?;
        verify_signature(
            algorithm,
            &signer.tbs_certificate.subject_public_key_info,
            &signed_bytes,
            signer_info.signature.as_bytes(),
        )
        .map_err(|error| match error {
            SignatureFailure::Invalid => TsaError::Signature,
            SignatureFailure::Refused(refused) => refused,
        })?;
        Ok(signer)
    }
}

/// The one value of the one attribute `oid`; `None` when it is missing,
/// repeated, or has other than one value (RFC 5652 §5.3).
fn single_attribute(attributes: &[Attribute], oid: ObjectIdentifier) -> Option<&Any> {
    let mut matching = attributes.iter().filter(|attribute| attribute.oid == oid);
    let attribute = matching.next()?;
    if matching.next().is_some() {
        return None;
    }
    match attribute.values.as_slice() {
        [value] => Some(value),
        _ => None,
    }
}

fn find_signer<'a>(
    signer_info: &SignerInfo,
    pool: &[&'a Certificate],
) -> Result<&'a Certificate, TsaError> {
    pool.iter()
        .copied()
        .find(|certificate| match &signer_info.sid {
            SignerIdentifier::IssuerAndSerialNumber(id) => {
                certificate.tbs_certificate.issuer == id.issuer
                    && certificate.tbs_certificate.serial_number == id.serial_number
            }
            SignerIdentifier::SubjectKeyIdentifier(id) => {
                subject_key_id(certificate).as_ref() == Some(id)
            }
        })
        .ok_or(TsaError::SignerCertificateNotFound)
}

fn subject_key_id(certificate: &Certificate) -> Option<SubjectKeyIdentifier> {
    let extension = extension(certificate, OID_EXT_SUBJECT_KEY_ID)?;
    SubjectKeyIdentifier::from_der(extension.extn_value.as_bytes()).ok()
}

fn extension(
    certificate: &Certificate,
    oid: ObjectIdentifier,
) -> Option<&cms::cert::x509::ext::Extension> {
    certificate
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|extension| extension.extn_id == oid)
}

/// `SigningCertificate` (RFC 2634) and `SigningCertificateV2` (RFC 5035):
/// only the first certificate id matters, it names the signer's.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificate {
    certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

/// `ESSCertID` and `ESSCertIDv2` read alike: v2 puts an optional hash
/// algorithm (default SHA-256) first.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertId {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<IssuerSerial>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: cms::cert::x509::serial_number::SerialNumber,
}

fn check_signing_certificate_attribute(
    attributes: &[Attribute],
    signer: &Certificate,
) -> Result<(), TsaError> {
    use TsaError::SigningCertificateAttribute as Refused;
    let present = |oid| attributes.iter().any(|attribute| attribute.oid == oid);
    let (value, v2) = if present(OID_ATTR_SIGNING_CERT_V2) {
        let value = single_attribute(attributes, OID_ATTR_SIGNING_CERT_V2)
            .ok_or(Refused("repeated or empty"))?;
        (value, true)
    } else if present(OID_ATTR_SIGNING_CERT) {
        let value = single_attribute(attributes, OID_ATTR_SIGNING_CERT)
            .ok_or(Refused("repeated or empty"))?;
        (value, false)
    } else {
        return Ok(());
    };
    let attribute: SigningCertificate = value.decode_as().map_err(|_| Refused("malformed"))?;
    let id = attribute
        .certs
        .first()
        .ok_or(Refused("no certificate id"))?;
    let signer_der = signer.to_der().map_err(malformed("signer certificate"))?;
    let algorithm = match (&id.hash_algorithm, v2) {
        (None, false) => OID_SHA1,
        (Some(_), false) => return Err(Refused("malformed")),
        (None, true) => OID_SHA256,
        (Some(algorithm), true) => algorithm.oid,
    };
    let hash: Vec<u8> = if algorithm == OID_SHA256 {
        Sha256::digest(&signer_der).to_vec()
    } else if algorithm == OID_SHA1 {
        sha1::Sha1::digest(&signer_der).to_vec()
    } else {
        return Err(TsaError::Unsupported {
            what: "signing-certificate hash",
            detail: algorithm.to_string(),
        });
    };
    if id.cert_hash.as_bytes() != hash.as_slice() {
        return Err(Refused("certificate hash differs"));
    }
    if let Some(issuer_serial) = &id.issuer_serial {
        let tbs = &signer.tbs_certificate;
        let issuer_named = issuer_serial
            .issuer
            .iter()
            .any(|name| matches!(name, GeneralName::DirectoryName(name) if *name == tbs.issuer));
        if !issuer_named || issuer_serial.serial_number != tbs.serial_number {
            return Err(Refused("issuer and serial differ"));
        }
    }
    Ok(())
}

/// RFC 3161 §2.3: exactly one extended key usage, `timeStamping`, in a
/// critical extension; and a key usage, if any, that allows signing.
fn check_time_stamping_usage(certificate: &Certificate) -> Result<(), TsaError> {
    let eku = extension(certificate, OID_EXT_EXT_KEY_USAGE)
        .ok_or(TsaError::ExtendedKeyUsage("missing"))?;
    if !eku.critical {
        return Err(TsaError::ExtendedKeyUsage("not critical"));
    }
    let purposes = ExtendedKeyUsage::from_der(eku.extn_value.as_bytes())
        .map_err(|_| TsaError::ExtendedKeyUsage("malformed"))?;
    if purposes.0 != [OID_KP_TIME_STAMPING] {
        return Err(TsaError::ExtendedKeyUsage("not exactly timeStamping"));
    }
    if let Some(usage) = extension(certificate, OID_EXT_KEY_USAGE) {
        let usage =
            KeyUsage::from_der(usage.extn_value.as_bytes()).map_err(|_| TsaError::KeyUsage)?;
        if !usage.digital_signature() && !usage.non_repudiation() {
            return Err(TsaError::KeyUsage);
        }
    }
    Ok(())
}

/// Walks from the signer to the anchor: each certificate valid at
/// `gen_time_ms` and signed by the next, each issuer a CA.
fn check_chain(
    signer: &Certificate,
    pool: &[&Certificate],
    anchor: &Certificate,
    gen_time_ms: u64,
) -> Result<(), TsaError> {
    let mut current = signer;
    for _ in 0..CHAIN_DEPTH_MAX {
        check_validity(current, gen_time_ms)?;
        if current == anchor {
            return Ok(());
        }
        let issuer_name = &current.tbs_certificate.issuer;
        // The anchor first, so that an altered copy of it in the token's
        // (unsigned) certificate set cannot stand in for it.
        let candidates = std::iter::once(anchor).chain(
            pool.iter()
                .copied()
                .filter(|candidate| *candidate != anchor && *candidate != current),
        );
        let mut named = false;
        let mut issuer = None;
        for candidate in candidates {
            if candidate.tbs_certificate.subject != *issuer_name {
                continue;
            }
            named = true;
            if verify_certificate_signature(current, candidate).is_ok() {
                issuer = Some(candidate);
                break;
            }
        }
        let Some(issuer) = issuer else {
            let subject = name_text(&current.tbs_certificate.subject);
            return Err(TsaError::Chain(if named {
                format!("the signature on {subject} does not verify with its issuer's key")
            } else {
                format!(
                    "no issuer certificate for {subject} ({}) leads to the anchor {}",
                    name_text(issuer_name),
                    name_text(&anchor.tbs_certificate.subject)
                )
            }));
        };
        check_ca(issuer)?;
        current = issuer;
    }
    Err(TsaError::Chain(format!(
        "longer than {CHAIN_DEPTH_MAX} certificates"
    )))
}

/// The chain's last certificate must be a root: a CA whose subject is its
/// issuer and whose signature verifies with its own key. A chain that ends
/// on an intermediate (or on the TSA's own certificate) anchors nothing.
fn check_self_signed_root(anchor: &Certificate) -> Result<(), TsaError> {
    let tbs = &anchor.tbs_certificate;
    if tbs.subject != tbs.issuer || verify_certificate_signature(anchor, anchor).is_err() {
        return Err(TsaError::Chain(format!(
            "the chain's last certificate, {}, is not a self-signed root",
            name_text(&tbs.subject)
        )));
    }
    check_ca(anchor)
}

fn check_validity(certificate: &Certificate, gen_time_ms: u64) -> Result<(), TsaError> {
    let validity = &certificate.tbs_certificate.validity;
    let ms = |time: &cms::cert::x509::time::Time| {
        u64::try_from(time.to_unix_duration().as_millis()).unwrap_or(u64::MAX)
    };
    if gen_time_ms < ms(&validity.not_before) || gen_time_ms > ms(&validity.not_after) {
        return Err(TsaError::NotValidAtGenTime {
            subject: name_text(&certificate.tbs_certificate.subject),
        });
    }
    Ok(())
}

fn check_ca(certificate: &Certificate) -> Result<(), TsaError> {
    let subject = || name_text(&certificate.tbs_certificate.subject);
    let is_ca = extension(certificate, OID_EXT_BASIC_CONSTRAINTS)
        .and_then(|extension| BasicConstraints::from_der(extension.extn_value.as_bytes()).ok())
        .is_some_and(|constraints| constraints.ca);
    if !is_ca {
        return Err(TsaError::Chain(format!("issuer {} is not a CA", subject())));
    }
    if let Some(usage) = extension(certificate, OID_EXT_KEY_USAGE) {
        let allowed = KeyUsage::from_der(usage.extn_value.as_bytes())
            .is_ok_and(|usage| usage.key_cert_sign());
        if !allowed {
            return Err(TsaError::Chain(format!(
                "issuer {} may not sign certificates",
                subject()
            )));
        }
    }
    Ok(())
}

fn verify_certificate_signature(
    certificate: &Certificate,
    issuer: &Certificate,
) -> Result<(), SignatureFailure> {
    if certificate.signature_algorithm != certificate.tbs_certificate.signature {
        return Err(SignatureFailure::Invalid);
    }
    let algorithm = signature_algorithm(&certificate.signature_algorithm, false)
        .map_err(SignatureFailure::Refused)?;
    let tbs = certificate
        .tbs_certificate
        .to_der()
        .map_err(|_| SignatureFailure::Invalid)?;
    let signature = certificate
        .signature
        .as_bytes()
        .ok_or(SignatureFailure::Invalid)?;
    verify_signature(
        algorithm,
        &issuer.tbs_certificate.subject_public_key_info,
        &tbs,
        signature,
    )
}

#[derive(Clone, Copy, Debug)]
enum SignatureAlgorithm {
    EcdsaP256Sha256,
    RsaPkcs1Sha256,
}

enum SignatureFailure {
    Invalid,
    Refused(TsaError),
}

/// `in_cms`: CMS also names the bare key algorithm, the digest being the
/// signer's digest algorithm (checked to be SHA-256).
fn signature_algorithm(
    algorithm: &AlgorithmIdentifierOwned,
    in_cms: bool,
) -> Result<SignatureAlgorithm, TsaError> {
    let oid = algorithm.oid;
    let parameters = algorithm
        .parameters
        .as_ref()
        .map(|parameters| parameters.to_der().unwrap_or_default());
    let null = Some(vec![0x05, 0x00]);
    // RFC 5758 §3.2: ECDSA without parameters; RFC 4055 §5: RSA with NULL
    // (absent also seen). The parameters are outside the signature.
    if (oid == OID_ECDSA_SHA256 || (in_cms && oid == OID_EC_PUBLIC_KEY)) && parameters.is_none() {
        Ok(SignatureAlgorithm::EcdsaP256Sha256)
    } else if (oid == OID_RSA_SHA256 || (in_cms && oid == OID_RSA))
        && (parameters.is_none() || parameters == null)
    {
        Ok(SignatureAlgorithm::RsaPkcs1Sha256)
    } else {
        Err(TsaError::Unsupported {
            what: "signature algorithm",
            detail: oid.to_string(),
        })
    }
}

fn verify_signature(
    algorithm: SignatureAlgorithm,
    key: &spki::SubjectPublicKeyInfoOwned,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureFailure> {
    let refused = |detail: String| {
        SignatureFailure::Refused(TsaError::Unsupported {
            what: "public key",
            detail,
        })
    };
    let key_der = key.to_der().map_err(|_| SignatureFailure::Invalid)?;
    match algorithm {
        SignatureAlgorithm::EcdsaP256Sha256 => {
            use p256::ecdsa::signature::Verifier;
            use p256::pkcs8::DecodePublicKey;
            let curve = key
                .algorithm
                .parameters
                .as_ref()
                .and_then(|parameters| parameters.decode_as::<ObjectIdentifier>().ok());
            if key.algorithm.oid != OID_EC_PUBLIC_KEY || curve != Some(OID_P256) {
                return Err(refused(format!(
                    "an ECDSA signature needs a P-256 key, not {}",
                    key.algorithm.oid
                )));
            }
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(&key_der)
                .map_err(|_| SignatureFailure::Invalid)?;
            let signature = p256::ecdsa::Signature::from_der(signature)
                .map_err(|_| SignatureFailure::Invalid)?;
            key.verify(message, &signature)
                .map_err(|_| SignatureFailure::Invalid)
        }
        SignatureAlgorithm::RsaPkcs1Sha256 => {
            use rsa::pkcs8::DecodePublicKey;
            use rsa::traits::PublicKeyParts;
            if key.algorithm.oid != OID_RSA {
                return Err(refused(format!(
                    "an RSA signature needs an RSA key, not {}",
                    key.algorithm.oid
                )));
            }
            let key = rsa::RsaPublicKey::from_public_key_der(&key_der)
                .map_err(|error| refused(format!("RSA key: {error}")))?;
            if key.n().bits() < RSA_MODULUS_BITS_MIN {
                return Err(refused(format!(
                    "RSA key of {} bits, fewer than {RSA_MODULUS_BITS_MIN}",
                    key.n().bits()
                )));
            }
            key.verify(
                rsa::Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(message),
                signature,
            )
            .map_err(|_| SignatureFailure::Invalid)
        }
    }
}

/// SHA-256, parameters absent or NULL; else the OID found.
fn check_sha256_algorithm<P: Encode>(algorithm: &AlgorithmIdentifier<P>) -> Result<(), String> {
    if algorithm.oid != OID_SHA256 {
        return Err(algorithm.oid.to_string());
    }
    match &algorithm.parameters {
        None => Ok(()),
        Some(parameters) => match parameters.to_der() {
            Ok(der) if der == [0x05, 0x00] => Ok(()),
            _ => Err(format!("{} with parameters", algorithm.oid)),
        },
    }
}

/// `TSTInfo` (RFC 3161 §2.4.2). As `x509_tsp::TstInfo`, but `genTime` may
/// carry fractions of a second, which RFC 3161 allows and `der`'s
/// `GeneralizedTime` (RFC 5280 profile) refuses.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TstInfo {
    version: TspVersion,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: GenTime,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<cms::cert::x509::ext::Extensions>,
}

/// `GeneralizedTime` `YYYYMMDDhhmmss[.f…]Z`, kept as read.
#[derive(Clone, Debug, Eq, PartialEq)]
struct GenTime {
    text: Vec<u8>,
    unix_ms: u64,
}

impl FixedTag for GenTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl<'a> DecodeValue<'a> for GenTime {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let text = reader.read_vec(header.length)?;
        let unix_ms = parse_gen_time(&text).ok_or_else(|| Tag::GeneralizedTime.value_error())?;
        Ok(Self { text, unix_ms })
    }
}

impl EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.text.len())
    }
    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(&self.text)
    }
}

/// Milliseconds since the epoch of `YYYYMMDDhhmmss[.f…]Z` (UTC only, as
/// RFC 3161 requires); finer than milliseconds is cut.
fn parse_gen_time(text: &[u8]) -> Option<u64> {
    let (body, rest) = text.split_at_checked(14)?;
    if !body.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u16> {
        std::str::from_utf8(body.get(range)?).ok()?.parse().ok()
    };
    let byte = |range| number(range).and_then(|value| u8::try_from(value).ok());
    let date_time = der::DateTime::new(
        number(0..4)?,
        byte(4..6)?,
        byte(6..8)?,
        byte(8..10)?,
        byte(10..12)?,
        byte(12..14)?,
    )
    .ok()?;
    let seconds_ms = u64::try_from(date_time.unix_duration().as_millis()).ok()?;
    let fraction = match rest {
        [b'Z'] => &[][..],
        [b'.', fraction @ .., b'Z'] => fraction,
        _ => return None,
    };
    if fraction.len() > GEN_TIME_FRACTION_DIGITS_MAX
        || (rest.len() > 1 && fraction.is_empty())
        || !fraction.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let millis = fraction
        .iter()
        .chain(std::iter::repeat(&b'0'))
        .take(3)
        .fold(0u64, |sum, digit| sum * 10 + u64::from(digit - b'0'));
    seconds_ms.checked_add(millis)
}

fn accuracy_ms(accuracy: &Accuracy) -> u64 {
    let seconds = accuracy.seconds.unwrap_or(0);
    let millis = accuracy.millis.map_or(0, |millis| millis.unsigned_abs());
    // Micros round up: an accuracy is a bound.
    let micros = accuracy.micros.map_or(0, |micros| micros.unsigned_abs());
    seconds
        .saturating_mul(1000)
        .saturating_add(u64::from(millis))
        .saturating_add(u64::from(micros.div_ceil(1000)))
}

/// A u64 as the shortest positive DER INTEGER.
fn nonce_to_int(nonce: u64) -> Int {
    let bytes = nonce.to_be_bytes();
    let start = bytes.iter().position(|byte| *byte != 0).unwrap_or(7);
    let mut minimal = Vec::with_capacity(9);
    if bytes[start] & 0x80 != 0 {
        minimal.push(0);
    }
    minimal.extend_from_slice(&bytes[start..]);
    Int::new(&minimal).expect("a minimal positive integer is a valid INTEGER")
}

fn int_to_u64(int: &Int) -> Result<u64, TsaError> {
    let bytes = int.as_bytes();
    let too_wide = || TsaError::Malformed {
        what: "nonce",
        detail: "negative or wider than 64 bits".into(),
    };
    if bytes.first().is_some_and(|byte| byte & 0x80 != 0) {
        return Err(too_wide());
    }
    let start = bytes
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(bytes.len());
    let magnitude = &bytes[start..];
    if magnitude.len() > 8 {
        return Err(too_wide());
    }
    Ok(magnitude
        .iter()
        .fold(0u64, |value, byte| (value << 8) | u64::from(*byte)))
}

fn general_name_text(name: &GeneralName) -> String {
    match name {
        GeneralName::DirectoryName(name) => name_text(name),
        GeneralName::DnsName(text)
        | GeneralName::Rfc822Name(text)
        | GeneralName::UniformResourceIdentifier(text) => text.to_string(),
        other => format!("{other:?}"),
    }
}

fn name_text(name: &Name) -> String {
    name.to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn check_size(what: &'static str, bytes: usize, max: usize) -> Result<(), TsaError> {
    if bytes > max {
        return Err(TsaError::TooLarge { what, bytes, max });
    }
    Ok(())
}

fn malformed(what: &'static str) -> impl Fn(der::Error) -> TsaError {
    move |error| TsaError::Malformed {
        what,
        detail: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    //! Over fixtures made once by `tests/peers/tsa/gen-fixtures.sh` with
    //! `openssl ts` (test-only keys; see the README there).

    use super::*;
    use der::DecodePem;

    macro_rules! fixture {
        ($path:literal) => {
            include_bytes!(concat!("../../../tests/peers/tsa/fixtures/", $path)).as_slice()
        };
    }

    const CHECKPOINT: &[u8] = fixture!("checkpoint.txt");
    const EC_TOKEN: &[u8] = fixture!("ec/token.der");
    const EC_RESP: &[u8] = fixture!("ec/resp.tsr");
    const EC_QUERY: &[u8] = fixture!("ec/query.tsq");
    const EC_CA: &[u8] = fixture!("ec/ca.crt");
    const EC_TSA: &[u8] = fixture!("ec/tsa.crt");
    const EC_TSA_TWIN: &[u8] = fixture!("ec/tsa-twin.crt");
    const EC_REJECTED: &[u8] = fixture!("ec/rejected.tsr");
    const RSA_TOKEN: &[u8] = fixture!("rsa/token.der");
    const RSA_CA: &[u8] = fixture!("rsa/ca.crt");
    const OTHER_CA: &[u8] = fixture!("other/ca.crt");
    const WEAK_NONCRITICAL: &[u8] = fixture!("weak/token-noncritical.der");
    const WEAK_CODESIGNING: &[u8] = fixture!("weak/token-codesigning.der");

    fn query_nonce(query: &[u8]) -> u64 {
        let request = TimeStampReq::from_der(query).expect("fixture query decodes");
        int_to_u64(&request.nonce.expect("fixture query has a nonce")).expect("64-bit nonce")
    }

    /// Found by the `tsa_token` fuzz target (fuzz/): a chain of nothing
    /// but line ends made x509-cert's PEM reader underflow.
    #[test]
    fn an_empty_chain_is_malformed_not_a_panic() {
        for chain in [&b""[..], b"\n", b"\r\n\r\n"] {
            assert!(
                matches!(
                    verify_token(CHECKPOINT, EC_TOKEN, chain),
                    Err(TsaError::Malformed {
                        what: "PEM chain",
                        ..
                    })
                ),
                "{chain:?}"
            );
        }
    }

    #[test]
    fn a_token_from_openssl_verifies_and_says_what_it_stamped() {
        let info = verify_token(CHECKPOINT, EC_TOKEN, EC_CA).expect("valid token");
        assert_eq!(info.policy, "1.3.6.1.4.1.99999.3161.1");
        assert_eq!(info.tsa_name.as_deref(), Some("CN=Test TSA"));
        assert_eq!(info.nonce, Some(query_nonce(EC_QUERY)));
        assert_eq!(info.accuracy_ms, Some(1000));
        assert_eq!(info.serial, "02");
        // genTime carries milliseconds (clock_precision_digits = 3), and is
        // within the fixture's certificate validity (made the same second).
        let tsa = Certificate::from_pem(EC_TSA).expect("fixture certificate");
        let not_before = tsa.tbs_certificate.validity.not_before.to_unix_duration();
        let not_before_ms = u64::try_from(not_before.as_millis()).expect("ms fit u64");
        assert!(info.gen_time_ms >= not_before_ms && info.gen_time_ms < not_before_ms + 60_000);
    }

    #[test]
    fn the_whole_reply_and_a_longer_chain_are_accepted_too() {
        let from_token = verify_token(CHECKPOINT, EC_TOKEN, EC_CA).expect("token");
        let from_reply = verify_token(CHECKPOINT, EC_RESP, EC_CA).expect("reply");
        assert_eq!(from_token, from_reply);
        let chain = [EC_TSA, EC_CA].concat();
        assert_eq!(verify_token(CHECKPOINT, EC_TOKEN, &chain), Ok(from_token));
        assert_eq!(parse_response(EC_RESP).as_deref(), Ok(EC_TOKEN));
    }

    #[test]
    fn an_rsa_signed_token_verifies() {
        let info = verify_token(CHECKPOINT, RSA_TOKEN, RSA_CA).expect("valid RSA token");
        assert_eq!(info.tsa_name.as_deref(), Some("CN=Test TSA"));
        assert_eq!(
            verify_token(b"other bytes", RSA_TOKEN, RSA_CA),
            Err(TsaError::ImprintMismatch)
        );
    }

    #[test]
    fn a_token_over_other_bytes_is_refused() {
        let mut other = CHECKPOINT.to_vec();
        other.push(b'\n');
        assert_eq!(
            verify_token(&other, EC_TOKEN, EC_CA),
            Err(TsaError::ImprintMismatch)
        );
    }

    #[test]
    fn the_nonce_must_be_the_requests() {
        let nonce = query_nonce(EC_QUERY);
        assert!(verify_token_with_nonce(CHECKPOINT, EC_TOKEN, EC_CA, nonce).is_ok());
        assert_eq!(
            verify_token_with_nonce(CHECKPOINT, EC_TOKEN, EC_CA, nonce ^ 1),
            Err(TsaError::NonceMismatch)
        );
    }

    #[test]
    fn a_chain_that_does_not_end_on_a_self_signed_root_is_refused() {
        // The TSA's own certificate as the whole chain: nothing anchors it.
        let err = verify_token(CHECKPOINT, EC_TOKEN, EC_TSA).expect_err("no root");
        assert!(
            matches!(&err, TsaError::Chain(m) if m.contains("is not a self-signed root")),
            "{err}"
        );
        // The chain with its root verifies.
        let chain = [EC_TSA, EC_CA].concat();
        assert!(verify_token(CHECKPOINT, EC_TOKEN, &chain).is_ok());
    }

    #[test]
    fn a_token_from_another_authority_does_not_chain() {
        assert!(matches!(
            verify_token(CHECKPOINT, EC_TOKEN, OTHER_CA),
            Err(TsaError::Chain(_))
        ));
        // The RSA TSA's root is another CA with the same name: the
        // signature on the TSA certificate must not verify with it.
        assert!(matches!(
            verify_token(CHECKPOINT, EC_TOKEN, RSA_CA),
            Err(TsaError::Chain(_))
        ));
    }

    #[test]
    fn the_signer_needs_the_critical_time_stamping_usage_alone() {
        assert_eq!(
            verify_token(CHECKPOINT, WEAK_NONCRITICAL, EC_CA),
            Err(TsaError::ExtendedKeyUsage("not critical"))
        );
        assert_eq!(
            verify_token(CHECKPOINT, WEAK_CODESIGNING, EC_CA),
            Err(TsaError::ExtendedKeyUsage("not exactly timeStamping"))
        );
    }

    fn der_of(pem: &[u8]) -> Vec<u8> {
        Certificate::from_pem(pem)
            .and_then(|certificate| certificate.to_der())
            .expect("fixture certificate")
    }

    #[test]
    fn the_signing_certificate_attribute_pins_the_signer_certificate() {
        // The twin has the same key, issuer and serial: swapped into the
        // token's (unsigned) certificate set, the signature still verifies
        // and the chain holds; only the ESSCertIDv2 hash tells.
        let (real, twin) = (der_of(EC_TSA), der_of(EC_TSA_TWIN));
        let content_info = ContentInfo::from_der(EC_TOKEN).expect("token");
        let mut signed_data: SignedData = content_info.content.decode_as().expect("SignedData");
        let certificates = signed_data
            .certificates
            .as_ref()
            .expect("the token carries certificates")
            .0
            .iter()
            .map(|choice| match choice {
                CertificateChoices::Certificate(certificate)
                    if certificate.to_der().expect("encodes") == real =>
                {
                    CertificateChoices::Certificate(
                        Certificate::from_der(&twin).expect("twin decodes"),
                    )
                }
                other => other.clone(),
            })
            .collect::<Vec<_>>();
        signed_data.certificates = Some(cms::signed_data::CertificateSet(
            der::asn1::SetOfVec::try_from(certificates).expect("a set"),
        ));
        let token = ContentInfo {
            content_type: OID_SIGNED_DATA,
            content: Any::encode_from(&signed_data).expect("encodes"),
        }
        .to_der()
        .expect("encodes");
        assert_ne!(token, EC_TOKEN);
        assert_eq!(
            verify_token(CHECKPOINT, &token, EC_CA),
            Err(TsaError::SigningCertificateAttribute(
                "certificate hash differs"
            ))
        );
        assert!(verify_token(CHECKPOINT, EC_TOKEN, EC_CA).is_ok());
    }

    #[test]
    fn a_refused_request_is_reported_with_the_tsas_words() {
        let error = parse_response(EC_REJECTED).expect_err("rejected");
        assert!(
            matches!(&error, TsaError::NotGranted { status, text }
                if status == "Rejection" && text.contains("not supported")),
            "{error:?}"
        );
        assert_eq!(check_reply(EC_REJECTED, CHECKPOINT, 1), Err(error));
    }

    #[test]
    fn check_reply_keeps_the_token_of_a_fresh_matching_reply() {
        let nonce = query_nonce(EC_QUERY);
        let checked = check_reply(EC_RESP, CHECKPOINT, nonce).expect("fresh reply");
        assert_eq!(checked.token_der, EC_TOKEN);
        assert_eq!(checked.info.nonce, Some(nonce));
        assert_eq!(
            check_reply(EC_RESP, CHECKPOINT, nonce.wrapping_add(1)),
            Err(TsaError::NonceMismatch)
        );
        assert_eq!(
            check_reply(EC_RESP, b"another checkpoint", nonce),
            Err(TsaError::ImprintMismatch)
        );
        assert!(check_reply(EC_TOKEN, CHECKPOINT, nonce).is_err());
    }

    #[test]
    fn the_request_is_what_openssl_would_send() {
        let digest: [u8; 32] = Sha256::digest(CHECKPOINT).into();
        for nonce in [0, 1, 0x7f, 0x80, 0xff, 0x0123_4567, u64::MAX] {
            let request = build_request(digest, nonce);
            let decoded = TimeStampReq::from_der(&request).expect("decodes");
            assert_eq!(decoded.version, TspVersion::V1);
            assert_eq!(decoded.message_imprint.hash_algorithm.oid, OID_SHA256);
            assert_eq!(decoded.message_imprint.hashed_message.as_bytes(), digest);
            assert!(decoded.cert_req);
            let got = decoded.nonce.as_ref().map(int_to_u64);
            assert_eq!(got, Some(Ok(nonce)));
        }
        // Byte for byte what `openssl ts -query -sha256 -cert` sent, but for
        // the nonce (openssl draws its own).
        let ours = build_request(digest, query_nonce(EC_QUERY));
        assert_eq!(ours, EC_QUERY);
    }

    #[test]
    fn gen_time_fractions_are_read_to_the_millisecond() {
        let cases: [(&[u8], Option<u64>); 9] = [
            (b"20261126080222Z", Some(1_795_680_142_000)),
            (b"20261126080222.4Z", Some(1_795_680_142_400)),
            (b"20261126080222.475Z", Some(1_795_680_142_475)),
            (b"20261126080222.475999Z", Some(1_795_680_142_475)),
            (b"20261126080222.Z", None),
            (b"20261126080222.1234567890Z", None),
            (b"20261126080222+0100", None),
            (b"2026112608022Z", None),
            (b"20261326080222Z", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse_gen_time(text),
                expected,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn oversized_inputs_are_refused_before_parsing() {
        let big = vec![0x30; TOKEN_BYTES_MAX + 1];
        assert!(matches!(
            verify_token(CHECKPOINT, &big, EC_CA),
            Err(TsaError::TooLarge { what: "token", .. })
        ));
        assert!(matches!(
            parse_response(&big),
            Err(TsaError::TooLarge { what: "reply", .. })
        ));
    }

    /// The byte range of the root's copy that `certs = ca.crt` puts in the
    /// token: outside the signature and ignored (the anchor comes from the
    /// caller's chain), so a flip there may pass.
    fn embedded_root_range(token: &[u8], root_pem: &[u8]) -> std::ops::Range<usize> {
        let root = Certificate::from_pem(root_pem)
            .and_then(|root| root.to_der())
            .expect("fixture root");
        let start = token
            .windows(root.len())
            .position(|window| window == root.as_slice())
            .expect("the fixture token carries the root");
        start..start + root.len()
    }

    #[test]
    fn flipping_any_byte_of_the_token_is_caught() {
        let unsigned = embedded_root_range(EC_TOKEN, EC_CA);
        let info = verify_token(CHECKPOINT, EC_TOKEN, EC_CA).expect("valid token");
        let mut caught = 0;
        let mut unnoticed = Vec::new();
        for index in 0..EC_TOKEN.len() {
            for mask in [0x01, 0x80] {
                let mut token = EC_TOKEN.to_vec();
                token[index] ^= mask;
                let verdict = verify_token(CHECKPOINT, &token, EC_CA);
                if unsigned.contains(&index) {
                    // Either unparseable, or ignored with the same verdict.
                    if let Ok(got) = verdict {
                        assert_eq!(got, info);
                    }
                } else if verdict.is_ok() {
                    unnoticed.push((index, mask));
                } else {
                    caught += 1;
                }
            }
        }
        assert!(
            unnoticed.is_empty(),
            "flips (byte, mask) that went unnoticed: {unnoticed:?}"
        );
        // Everything but the root's copy (about a quarter) is covered.
        assert_eq!(caught, 2 * (EC_TOKEN.len() - unsigned.len()));
        assert!(unsigned.len() * 3 < EC_TOKEN.len());
        // Every truncation fails too.
        for length in 0..EC_TOKEN.len() {
            assert!(verify_token(CHECKPOINT, &EC_TOKEN[..length], EC_CA).is_err());
        }
    }

    #[test]
    fn flipping_bytes_of_an_rsa_token_is_caught() {
        let unsigned = embedded_root_range(RSA_TOKEN, RSA_CA);
        let unnoticed: Vec<usize> = (0..RSA_TOKEN.len())
            .filter(|index| !unsigned.contains(index))
            .filter(|index| {
                let mut token = RSA_TOKEN.to_vec();
                token[*index] ^= 0x04;
                verify_token(CHECKPOINT, &token, RSA_CA).is_ok()
            })
            .collect();
        assert!(
            unnoticed.is_empty(),
            "bytes whose flip went unnoticed: {unnoticed:?}"
        );
    }

    #[test]
    fn flipping_bytes_of_the_chain_is_caught() {
        let root = Certificate::from_pem(EC_CA)
            .and_then(|root| root.to_der())
            .expect("fixture root");
        let mut refused = 0;
        for index in 0..root.len() {
            let mut altered = root.clone();
            altered[index] ^= 0x01;
            let Ok(certificate) = Certificate::from_der(&altered) else {
                refused += 1;
                continue;
            };
            let pem =
                der::EncodePem::to_pem(&certificate, der::pem::LineEnding::LF).expect("re-encodes");
            // The anchor is trusted as given, but its key, name and validity
            // still have to fit the TSA certificate it signed.
            if verify_token(CHECKPOINT, EC_TOKEN, pem.as_bytes()).is_err() {
                refused += 1;
            }
        }
        // Flips in the root's own signature, or in extensions and fields the
        // chain check does not read (its serial, its key identifier) are
        // harmless: a trust anchor is taken on trust.
        assert!(
            refused * 2 > root.len(),
            "{refused} of {} refused",
            root.len()
        );
    }
}
