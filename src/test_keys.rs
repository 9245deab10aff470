//! Test keys shared by the unit tests of `pubkey` and `crypto`: fixed PEM texts made with
//! openssl, and one generated RSA key per size, cached for the whole test binary.

use getrandom::SysRng;
use std::sync::OnceLock;

/// Our own test data, made with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`;
/// one file for every test, fuzz seed and script that needs a fixed public key.
/// Its verification code, computed independently twice:
/// `t2g_decrypt.py code` (python cryptography + hashlib + base64.b32encode) and
/// `openssl pkey -pubin -outform DER | sha256sum | xxd -r -p | base32` give 4UFN-JXJY.
pub(crate) const FIXED_2048: &str = include_str!("../tests/support/public-key-rsa2048.pem");
pub(crate) const FIXED_2048_CODE: &str = "4UFN-JXJY";

/// `openssl ecparam -name prime256v1 -genkey | openssl ec -pubout`
pub(crate) const EC_P256: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2vQLk0XoShmvkD9c3Q1BGLap8KjX
w4JZyP7m+wA07tRGwNM/FFTTnr7qyAWs35/2Y4gzGm8WEVFAkQFPpivj2A==
-----END PUBLIC KEY-----
";
/// `openssl genpkey -algorithm ed25519 | openssl pkey -pubout`
pub(crate) const ED25519: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAQj+p1rkEVq4ackaJab5EYmdl28HXgAnpB64mUwawBhc=
-----END PUBLIC KEY-----
";
/// `openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 | openssl pkey -pubout`:
/// an RSA modulus under id-RSASSA-PSS, a signature-only key.
pub(crate) const RSA_PSS_2048: &str = "-----BEGIN PUBLIC KEY-----
MIIBIDALBgkqhkiG9w0BAQoDggEPADCCAQoCggEBAL1yHoCpxZuhYYrlr2MhwVml
bzAXQiRnAV9fDiwmuLthD8T/BlZ5fr7cADYMcFHEyRrBP5cV63QevzDin0EfBMp7
0lWRslKHIePONi6+d9TKpUUjMZlN/Ov61rBCcxTf9oB6XmdfAvJ3xl9IKFMY2lxd
/aG20cGysNCQYhoFHhyJZ9sRKtnMFJo3rCCSBVdbMxCPoHiTsDtpJEkJvNg93KZi
cjj933YXTpCqtT1ooPTkBB7ghQh1qyxslrOII7Gyt2upZpsK4Q2uAn7kCLI/RAgq
u9GSZLsA2H4MPqg9nda6j8w0PKThDTFNX2ZA9IpVuEycp8WfTZi+0YbEU9pqAKEC
AwEAAQ==
-----END PUBLIC KEY-----
";
/// `openssl req -x509 -new -key <the P-256 key> -subj /CN=t2g-test -days 1`
pub(crate) const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBfDCCASGgAwIBAgIUMeKuHkNXz0cNIC8BVPYkmd5LdaUwCgYIKoZIzj0EAwIw
EzERMA8GA1UEAwwIdDJnLXRlc3QwHhcNMjYxMTI5MDY0MzI1WhcNMjYxMTMwMDY0
MzI1WjATMREwDwYDVQQDDAh0MmctdGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABNr0C5NF6EoZr5A/XN0NQRi2qfCo18OCWcj+5vsANO7URsDTPxRU056+6sgF
rN+f9mOIMxpvFhFRQJEBT6Yr49ijUzBRMB0GA1UdDgQWBBQaQkWPvxitT/DoDybF
j6odVbIhCTAfBgNVHSMEGDAWgBQaQkWPvxitT/DoDybFj6odVbIhCTAPBgNVHRMB
Af8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCago/OzqgNeHz7C7ToWWKjjVAq
vGDVjRx8vr2IPQM8zAIhAL8ZCMIqqcZznCwCSZ5S8BTjphKmLzPsnfhI1pqh8tuH
-----END CERTIFICATE-----
";

/// One key per size, generated once per test run (1-4 s each in a debug build).
pub(crate) fn private_key(bits: usize) -> &'static rsa::PrivateKey {
    static KEYS: [OnceLock<rsa::PrivateKey>; 4] = [const { OnceLock::new() }; 4];
    let slot = [1024, 2048, 3072, 4096]
        .iter()
        .position(|&b| b == bits)
        .unwrap();
    KEYS[slot].get_or_init(|| rsa::PrivateKey::new(&mut SysRng, bits).unwrap())
}
