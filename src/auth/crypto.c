/* The cryptography of authentication (mb_crypto.h): our own strict hex and base64, HMAC and
 * PBKDF2 from OpenSSL's libcrypto, Ed25519 and random bytes from libsodium. Nothing here keeps
 * state between calls; secret intermediates (seeds, expanded keys) are wiped before returning. */
#include "mb_crypto.h"
#include "mb_hex.h"

#include <limits.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#define CS_SEED 32    /* an Ed25519 private seed (what autobahn calls the private key) */
#define CS_PUB 32     /* an Ed25519 public key */
#define CS_SIG 64     /* an Ed25519 signature */
#define CS_MSG 32     /* the signed message: challenge XOR channel id */
#define HMAC_LEN 32   /* SHA-256 */

int mb_crypto_init(void)
{
    /* 1 means "already initialised": fine, the call is meant to be idempotent */
    return sodium_init() < 0 ? -1 : 0;
}

void mb_random_bytes(void *out, size_t n)
{
    randombytes_buf(out, n);
}

bool mb_ct_equal(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

/* ---------------------------------------------------------------- hex */

static const char hex_digits[] = "0123456789abcdef";

void mb_hex_encode(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int mb_hex_decode(const char *hex, size_t len, unsigned char *out, size_t outcap)
{
    if (len % 2 != 0 || len / 2 > outcap || len / 2 > INT_MAX)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = mb_hex_digit((unsigned char)hex[2 * i]);
        int lo = mb_hex_digit((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return (int)(len / 2);
}

/* ---------------------------------------------------------------- base64 */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t mb_base64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_std[v >> 18];
        out[o++] = b64_std[(v >> 12) & 63];
        out[o++] = b64_std[(v >> 6) & 63];
        out[o++] = b64_std[v & 63];
    }
    if (n - i == 1) {
        unsigned long v = (unsigned long)in[i] << 16;
        out[o++] = b64_std[v >> 18];
        out[o++] = b64_std[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8;
        out[o++] = b64_std[v >> 18];
        out[o++] = b64_std[(v >> 12) & 63];
        out[o++] = b64_std[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

enum b64_alphabet { B64_ANY, B64_STD, B64_URL };

/* The 6-bit value of c, or -1. The two alphabets differ in two characters only; the first of
 * them seen fixes the alphabet, so a string mixing '+' with '-' (no encoder writes that) is
 * refused rather than guessed at. */
static int b64_value(unsigned char c, enum b64_alphabet *alpha)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    enum b64_alphabet want = (c == '+' || c == '/') ? B64_STD : (c == '-' || c == '_') ? B64_URL : B64_ANY;
    if (want == B64_ANY || (*alpha != B64_ANY && *alpha != want))
        return -1;
    *alpha = want;
    return (c == '+' || c == '-') ? 62 : 63;
}

/* How many characters of in carry data, padding taken off (into *data); false if the padding
 * is not one or two '=' closing a string whose length is a multiple of 4, or if the data
 * length is one no encoder writes (4k+1: six bits cannot end a byte). */
static bool b64_data_len(const char *in, size_t len, size_t *data)
{
    size_t pad = 0;
    while (pad < len && pad < 3 && in[len - 1 - pad] == '=')
        pad++;
    if (pad > 0 && (pad > 2 || len % 4 != 0))
        return false;
    *data = len - pad;
    return *data % 4 != 1;
}

int mb_base64_decode(const char *in, size_t len, unsigned char *out, size_t outcap)
{
    size_t data;
    if (!b64_data_len(in, len, &data))
        return -1;
    size_t nbytes = data / 4 * 3 + (data % 4 ? data % 4 - 1 : 0);
    if (nbytes > outcap || nbytes > INT_MAX)
        return -1;
    enum b64_alphabet alpha = B64_ANY;
    unsigned long acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < data; i++) {
        int v = b64_value((unsigned char)in[i], &alpha);
        if (v < 0)
            return -1; /* '=' inside the data lands here too */
        acc = (acc << 6 | (unsigned long)v) & 0xfff; /* never more than 12 bits pending */
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* what is left in acc are the trailing bits of the last character: not checked */
    return (int)o;
}

/* ---------------------------------------------------------------- WAMP-CRA */

/* HMAC-SHA256 of msg under key into mac (32 bytes), with libsodium: keys of any length, no
 * allocation. (OpenSSL 3's EVP_Q_mac fetches the algorithm on every call: a few hundred
 * allocations and about 10 µs per WAMP-CRA join on the dev VM, measured with make bench.) */
static int hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                       unsigned char mac[HMAC_LEN])
{
    crypto_auth_hmacsha256_state st;
    if (crypto_auth_hmacsha256_init(&st, key, keylen) != 0 ||
        crypto_auth_hmacsha256_update(&st, msg, msglen) != 0 || crypto_auth_hmacsha256_final(&st, mac) != 0)
        return -1;
    sodium_memzero(&st, sizeof st);
    return 0;
}

void mb_wampcra_sign(const char *key, size_t keylen, const char *challenge, size_t clen, char out[45])
{
    unsigned char mac[HMAC_LEN];
    if (hmac_sha256(key, keylen, challenge, clen, mac) < 0) {
        out[0] = '\0'; /* matches no signature a verifier would accept */
        return;
    }
    mb_base64_encode(mac, sizeof mac, out);
    sodium_memzero(mac, sizeof mac);
}

bool mb_wampcra_verify(const char *key, size_t keylen, const char *challenge, size_t clen,
                       const char *signature, size_t siglen)
{
    /* Compare bytes, not text: the padded, unpadded and URL-safe spellings of one signature
     * decode alike. A signature of any other length than 32 bytes is simply wrong. */
    unsigned char got[HMAC_LEN], want[HMAC_LEN];
    if (mb_base64_decode(signature, siglen, got, sizeof got) != HMAC_LEN)
        return false;
    if (hmac_sha256(key, keylen, challenge, clen, want) < 0)
        return false;
    bool ok = mb_ct_equal(got, want, HMAC_LEN);
    sodium_memzero(want, sizeof want);
    return ok;
}

int mb_wampcra_derive_key(const char *secret, size_t slen, const char *salt, size_t saltlen,
                          unsigned iterations, unsigned keylen, char *out, size_t outcap)
{
    /* PKCS5_PBKDF2_HMAC counts in int (and reads a password length of -1 as "strlen") */
    if (iterations < 1 || iterations > INT_MAX || keylen < 1 || keylen > 1024 ||
        slen > INT_MAX || saltlen > INT_MAX)
        return -1;
    if (outcap < 4 * (((size_t)keylen + 2) / 3) + 1)
        return -1;
    static const char empty[1];
    unsigned char dk[1024];
    if (!PKCS5_PBKDF2_HMAC(slen ? secret : empty, (int)slen,
                           (const unsigned char *)(saltlen ? salt : empty), (int)saltlen,
                           (int)iterations, EVP_sha256(), (int)keylen, dk))
        return -1;
    size_t n = mb_base64_encode(dk, keylen, out);
    sodium_memzero(dk, keylen);
    return (int)n;
}

/* ---------------------------------------------------------------- WAMP-Cryptosign */

/* The seed of a private key written as exactly 64 hex digits (a NUL-terminated string). */
static int seed_from_hex(const char *priv_hex, unsigned char seed[CS_SEED])
{
    if (priv_hex == NULL || strnlen(priv_hex, 2 * CS_SEED + 1) != 2 * CS_SEED)
        return -1;
    return mb_hex_decode(priv_hex, 2 * CS_SEED, seed, CS_SEED) == CS_SEED ? 0 : -1;
}

/* What cryptosign signs: the challenge, XORed with the channel id when there is one. */
static void signed_message(const unsigned char challenge[CS_MSG], const unsigned char *channel_id,
                           unsigned char msg[CS_MSG])
{
    for (int i = 0; i < CS_MSG; i++)
        msg[i] = challenge[i] ^ (channel_id ? channel_id[i] : 0);
}

int mb_cryptosign_keygen(char priv_hex[65], char pub_hex[65])
{
    unsigned char seed[CS_SEED], pk[CS_PUB], sk[crypto_sign_SECRETKEYBYTES];
    randombytes_buf(seed, sizeof seed);
    int rc = crypto_sign_seed_keypair(pk, sk, seed) == 0 ? 0 : -1;
    if (rc == 0) {
        mb_hex_encode(seed, sizeof seed, priv_hex);
        mb_hex_encode(pk, sizeof pk, pub_hex);
    }
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
    return rc;
}

int mb_cryptosign_pubkey(const char *priv_hex, char pub_hex[65])
{
    unsigned char seed[CS_SEED], pk[CS_PUB], sk[crypto_sign_SECRETKEYBYTES];
    int rc = -1;
    if (seed_from_hex(priv_hex, seed) == 0 && crypto_sign_seed_keypair(pk, sk, seed) == 0) {
        mb_hex_encode(pk, sizeof pk, pub_hex);
        rc = 0;
    }
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
    return rc;
}

int mb_cryptosign_sign(const char *priv_hex, const unsigned char challenge[32],
                       const unsigned char *channel_id, char out[193])
{
    unsigned char seed[CS_SEED], pk[CS_PUB], sk[crypto_sign_SECRETKEYBYTES];
    unsigned char sig[CS_SIG], msg[CS_MSG];
    int rc = -1;
    signed_message(challenge, channel_id, msg);
    if (seed_from_hex(priv_hex, seed) == 0 && crypto_sign_seed_keypair(pk, sk, seed) == 0 &&
        crypto_sign_detached(sig, NULL, msg, sizeof msg, sk) == 0) {
        /* autobahn's layout: hex(signature) then hex(the message signed) */
        mb_hex_encode(sig, sizeof sig, out);
        mb_hex_encode(msg, sizeof msg, out + 2 * CS_SIG);
        rc = 0;
    }
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
    return rc;
}

bool mb_cryptosign_verify(const unsigned char pubkey[32], const unsigned char challenge[32],
                          const unsigned char *channel_id, const char *sig_hex, size_t siglen)
{
    unsigned char got[CS_SIG + CS_MSG], msg[CS_MSG];
    if (siglen != 2 * CS_SIG && siglen != 2 * (CS_SIG + CS_MSG))
        return false;
    if (mb_hex_decode(sig_hex, siglen, got, sizeof got) < 0)
        return false;
    signed_message(challenge, channel_id, msg);
    /* The signature is checked over the message we computed, never over the client's copy
     * appended to it; a copy that differs means the client signed something else (another
     * challenge, no channel binding): refused without running Ed25519. */
    if (siglen == 2 * (CS_SIG + CS_MSG) && !mb_ct_equal(got + CS_SIG, msg, CS_MSG))
        return false;
    return crypto_sign_verify_detached(got, msg, sizeof msg, pubkey) == 0;
}
