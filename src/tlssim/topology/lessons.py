"""The legacy virtual hosts' settings: what each allows (cipher suites as IANA names, in
the host's preference order, after Mozilla's server-side TLS configurations) and why a
modern client refuses it (the attack the refusal avoids, which the story tells).
"""

from __future__ import annotations

from typing import Final

#: What a modern client avoids by refusing each legacy host, by what the host allows.
LESSONS: Final = {
    "tls1.0": "TLS 1.0 chains each CBC record's IV from the last ciphertext block, which an "
    "attacker sees before choosing the next plaintext (BEAST), leaves its CBC padding to "
    "each stack to check (POODLE against the ones that did not), and derives keys with MD5 "
    "and SHA-1",
    "tls1.1": "TLS 1.1 fixed BEAST with explicit IVs but still has only MAC-then-encrypt CBC "
    "suites (Lucky Thirteen, padding oracles) and the MD5/SHA-1 PRF; browsers dropped it in 2020",
    "cbc": "CBC with MAC-then-encrypt must decrypt and judge the padding before the MAC can be "
    "checked: a difference in alert or timing is a padding oracle (POODLE, Lucky Thirteen); "
    "AEAD suites have no padding",
    "dh-small": "a small finite-field group falls to precomputation (Logjam: 512-bit export "
    "groups in minutes, the common 1024-bit primes within a state's budget)",
    "dh-subgroup": "a DH modulus that is not a safe prime has small subgroups: a value confined "
    "to one leaks the other side's exponent modulo its order",
    "dh-composite": "a composite DH modulus makes discrete logarithms easy modulo its factors: "
    "the server's group must be a prime, and a client cannot trust it to be",
    "dhe": "finite-field DHE lets the server pick any group; browsers dropped it for ECDHE, "
    "whose named curves need no such trust",
    "3des": "3DES has 64-bit blocks: after some 2^32 blocks under one key, colliding "
    "ciphertext blocks reveal the XOR of plaintext blocks (Sweet32, a cookie in about 785 GB)",
    "rc4": "RC4's keystream is biased in its first bytes and beyond: a secret sent over many "
    "connections is recovered from the ciphertexts (RFC 7465 forbids RC4 in TLS)",
    "static-rsa": "RSA key transport has no forward secrecy (the server's key decrypts every "
    "recorded session) and invites Bleichenbacher-style padding oracles (ROBOT)",
}
DHE_RSA: Final = (
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
)
LEGACY_RSA_CBC: Final = ("TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA")
TLS13_SUITES: Final = (
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
)
INTERMEDIATE_TLS12: Final = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
)
OLD_TLS12: Final = (
    *INTERMEDIATE_TLS12,
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
)
