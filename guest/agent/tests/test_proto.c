/* Unit tests for frame encoding, header scanning/resynchronisation and TLV parsing. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

static int failures;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

void logmsg(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static void test_frame_encoding(void) {
    struct frame *f = frame_new(T_EXIT, 0x01020304, 0);
    frame_put_u32(&f, G_CODE, 7);
    frame_put_str(&f, G_MESSAGE, "hi");
    frame_finish(f);
    /* a header, then one TLV field per line: */
    /* clang-format off */
    static const uint8_t want[] = {0x46, 0x56, 1, 0x85, 1, 2, 3, 4, 0, 0, 0, 16,
                                   0x13, 0, 0, 0, 4, 0, 0, 0, 7,
                                   0x17, 0, 0, 0, 2, 'h', 'i'};
    /* clang-format on */
    CHECK(f->len == sizeof want);
    CHECK(memcmp(f->data, want, sizeof want) == 0);
    free(f);
}

static void test_scan(void) {
    struct frame_hdr h;
    size_t skip = 0;
    const uint8_t ok[] = {0x46, 0x56, 1, 0x18, 0, 0, 0, 9, 0, 0, 0, 0};
    CHECK(frame_scan(ok, sizeof ok, &h, &skip) == SCAN_HEADER);
    CHECK(h.type == 0x18 && h.id == 9 && h.length == 0);
    CHECK(frame_scan(ok, 5, &h, &skip) == SCAN_NEED_MORE);
    CHECK(frame_scan(ok, 0, &h, &skip) == SCAN_NEED_MORE);

    /* garbage before a frame: drop exactly up to the magic */
    const uint8_t g[] = {1, 2, 3, 0x46, 0x56, 1};
    CHECK(frame_scan(g, sizeof g, &h, &skip) == SCAN_GARBAGE && skip == 3);
    /* a trailing 'F' might start the magic: keep it */
    const uint8_t t[] = {9, 9, 0x46};
    CHECK(frame_scan(t, sizeof t, &h, &skip) == SCAN_GARBAGE && skip == 2);
    /* "FV" with the wrong version is garbage too, and "FF" keeps the second F */
    const uint8_t v[] = {0x46, 0x56, 2, 0x46, 0x46, 0x56};
    CHECK(frame_scan(v, sizeof v, &h, &skip) == SCAN_GARBAGE && skip == 4);
    const uint8_t none[] = {1, 2, 3};
    CHECK(frame_scan(none, sizeof none, &h, &skip) == SCAN_GARBAGE && skip == 3);
    /* a huge length is still a header: the caller decides it is TOO_LARGE */
    const uint8_t big[] = {0x46, 0x56, 1, 2, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff};
    CHECK(frame_scan(big, sizeof big, &h, &skip) == SCAN_HEADER && h.length == 0xffffffffu);
}

static size_t tlv(uint8_t *p, uint8_t tag, const void *v, uint32_t n) {
    p[0] = tag;
    put_be32(p + 1, n);
    memcpy(p + 5, v, n);
    return 5 + n;
}

static void test_parse(void) {
    uint8_t p[256];
    size_t n = 0;
    uint8_t tmo[8];
    put_be64(tmo, 1500);
    n += tlv(p + n, G_ARG, "sh", 2);
    n += tlv(p + n, G_ARG, "-c", 2);
    n += tlv(p + n, 0x7f, "skip me", 7); /* unknown tag */
    n += tlv(p + n, G_ENV, "A=1", 3);
    n += tlv(p + n, G_TIMEOUT_MS, tmo, 8);
    n += tlv(p + n, G_STDIN, "\0x", 2);
    struct request r;
    CHECK(request_parse(&r, T_EXEC, 5, p, n));
    CHECK(r.nargs == 2 && strcmp(r.args[0], "sh") == 0 && strcmp(r.args[1], "-c") == 0 && !r.args[2]);
    CHECK(r.nenvs == 1 && strcmp(r.envs[0], "A=1") == 0);
    CHECK(r.timeout_ms == 1500);
    CHECK(r.has_stdin && r.stdin_len == 2 && r.stdin_data[1] == 'x');
    request_free(&r);

    /* a field running past the payload */
    CHECK(!request_parse(&r, T_EXEC, 5, p, 6));
    CHECK(r.err && strstr(r.err, "ARG"));
    request_free(&r);
    /* a truncated field header */
    CHECK(!request_parse(&r, T_EXEC, 5, p, 3));
    request_free(&r);
    /* wrong integer size names the field */
    n = tlv(p, G_TIMEOUT_MS, tmo, 4);
    CHECK(!request_parse(&r, T_EXEC, 5, p, n));
    CHECK(r.err && strstr(r.err, "TIMEOUT_MS"));
    request_free(&r);
    /* NUL inside a string */
    n = tlv(p, G_ARG, "a\0b", 3);
    CHECK(!request_parse(&r, T_EXEC, 5, p, n));
    CHECK(r.err && strstr(r.err, "NUL"));
    request_free(&r);
    /* empty payload is fine */
    CHECK(request_parse(&r, T_PING, 1, p, 0));
    request_free(&r);
    /* HELLO_REQ flags, each on its own; a flag that is not 0 or 1 names the field */
    n = tlv(p, G_NEW_HOST, "\1", 1);
    CHECK(request_parse(&r, T_HELLO_REQ, 2, p, n));
    CHECK(r.new_host && !r.new_session && !r.stdin_open);
    request_free(&r);
    n = tlv(p, G_NEW_SESSION, "\1", 1);
    CHECK(request_parse(&r, T_HELLO_REQ, 2, p, n));
    CHECK(r.new_session && !r.new_host);
    request_free(&r);
    n = tlv(p, G_NEW_HOST, "\2", 1);
    CHECK(!request_parse(&r, T_HELLO_REQ, 2, p, n));
    CHECK(r.err && strstr(r.err, "NEW_HOST"));
    request_free(&r);
}

int main(void) {
    test_frame_encoding();
    test_scan();
    test_parse();
    if (failures) {
        fprintf(stderr, "test_proto: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_proto: ok\n");
    return 0;
}
