/* mb_crypto: the pure cryptography of authentication (no router, no I/O): hex and base64,
 * constant-time comparison, WAMP-CRA (HMAC-SHA256, PBKDF2-HMAC-SHA256 as autobahn derives it)
 * and WAMP-Cryptosign (Ed25519, libsodium), and random bytes for challenges.
 * OpenSSL's libcrypto does HMAC and PBKDF2; libsodium does Ed25519 and the random bytes. */
#ifndef MB_CRYPTO_H
#define MB_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

/* Initialises libsodium (idempotent). 0, or -1 if it cannot start. Call it before the others. */
int mb_crypto_init(void);

/* Fills out with n random bytes (libsodium's randombytes_buf). */
void mb_random_bytes(void *out, size_t n);

/* Constant-time equality of two byte strings of the same length n. */
bool mb_ct_equal(const void *a, const void *b, size_t n);

/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void mb_hex_encode(const unsigned char *in, size_t n, char *out);
/* Decodes exactly len hex digits (either case) into out (len/2 bytes, outcap at least that).
 * Returns the number of bytes, or -1 (odd length, a non-hex digit, too long for outcap). */
int mb_hex_decode(const char *hex, size_t len, unsigned char *out, size_t outcap);

/* Standard base64 with padding into out (4*ceil(n/3)+1 bytes, NUL-terminated); returns its length. */
size_t mb_base64_encode(const unsigned char *in, size_t n, char *out);
/* Decodes base64: standard (+/) or URL-safe (-_) alphabet, padded or not; whitespace refused,
 * and so is a string mixing the two alphabets. Non-zero trailing bits are accepted.
 * Returns the number of bytes, or -1 (bad character, bad length, bad padding, over outcap). */
int mb_base64_decode(const char *in, size_t len, unsigned char *out, size_t outcap);

/* WAMP-CRA. The key is used as given (its bytes); for a salted secret it is the derived key,
 * i.e. the base64 text mb_wampcra_derive_key prints, exactly as autobahn uses it.
 * mb_wampcra_sign: base64(HMAC-SHA256(key, challenge)) into out (45 bytes: 44 chars + NUL). */
void mb_wampcra_sign(const char *key, size_t keylen, const char *challenge, size_t clen, char out[45]);
/* Whether signature (base64, as AUTHENTICATE carries it; padded or not, standard or URL-safe)
 * is HMAC-SHA256(key, challenge). Constant time in the comparison. */
bool mb_wampcra_verify(const char *key, size_t keylen, const char *challenge, size_t clen,
                       const char *signature, size_t siglen);
/* autobahn's derive_key: base64(PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen)) into out
 * (NUL-terminated). 1 <= iterations <= INT_MAX (OpenSSL counts in int), 1 <= keylen <= 1024;
 * outcap at least 4*ceil(keylen/3)+1. Returns its length, or -1. */
int mb_wampcra_derive_key(const char *secret, size_t slen, const char *salt, size_t saltlen,
                          unsigned iterations, unsigned keylen, char *out, size_t outcap);

/* WAMP-Cryptosign. A new key pair: the 32-byte private seed and the public key, each as 64
 * lowercase hex digits (+ NUL). 0, or -1. */
int mb_cryptosign_keygen(char priv_hex[65], char pub_hex[65]);
/* The public key (64 hex + NUL) of a private seed given as 64 hex digits. 0, or -1. */
int mb_cryptosign_pubkey(const char *priv_hex, char pub_hex[65]);
/* Signs challenge XOR channel_id (channel_id NULL: the challenge alone) with the private seed
 * (64 hex): out = hex(signature ‖ signed message), 192 hex digits + NUL, as autobahn sends it.
 * For tests and the load generator. 0, or -1. */
int mb_cryptosign_sign(const char *priv_hex, const unsigned char challenge[32],
                       const unsigned char *channel_id, char out[193]);
/* Whether sig_hex is a valid Ed25519 signature by pubkey (32 bytes) over challenge XOR
 * channel_id (channel_id NULL: the challenge alone). sig_hex is 128 hex digits (the signature)
 * or 192 (signature ‖ the signed message, which must then equal challenge XOR channel_id). */
bool mb_cryptosign_verify(const unsigned char pubkey[32], const unsigned char challenge[32],
                          const unsigned char *channel_id, const char *sig_hex, size_t siglen);

#endif
