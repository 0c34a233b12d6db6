/* Frame encoding, header scanning (with resynchronisation) and TLV request parsing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"

/* PID 1 must not die of a failed allocation (the kernel would panic), and dropping a frame
 * would break the stream. The sizes here are bounded (at most a frame), so memory is short
 * only until the OOM killer ends some process: wait for that. */
static void *xrealloc(void *p, size_t n) {
    for (bool logged = false;; logged = true) {
        void *q = realloc(p, n);
        if (q)
            return q;
        if (!logged)
            logmsg("out of memory (%zu bytes); waiting for memory", n);
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
}

struct frame *frame_new(uint8_t type, uint32_t id, size_t payload_hint) {
    size_t cap = FV_HDR_LEN + payload_hint;
    struct frame *f = xrealloc(NULL, sizeof *f + cap);
    f->next = NULL;
    f->cap = cap;
    f->len = FV_HDR_LEN;
    f->sent = 0;
    f->data[0] = FV_MAGIC0;
    f->data[1] = FV_MAGIC1;
    f->data[2] = FV_VERSION;
    f->data[3] = type;
    put_be32(f->data + 4, id);
    put_be32(f->data + 8, 0);
    return f;
}

void frame_put(struct frame **fp, uint8_t tag, const void *val, size_t len) {
    struct frame *f = *fp;
    size_t need = f->len + FV_TLV_HDR + len;
    if (need > f->cap) {
        f = xrealloc(f, sizeof *f + need);
        f->cap = need;
        *fp = f;
    }
    f->data[f->len] = tag;
    put_be32(f->data + f->len + 1, (uint32_t)len);
    if (len)
        memcpy(f->data + f->len + FV_TLV_HDR, val, len);
    f->len = need;
}

void frame_put_str(struct frame **f, uint8_t tag, const char *s) { frame_put(f, tag, s, strlen(s)); }
void frame_put_u8(struct frame **f, uint8_t tag, uint8_t v) { frame_put(f, tag, &v, 1); }
void frame_put_u32(struct frame **f, uint8_t tag, uint32_t v) {
    uint8_t b[4];
    put_be32(b, v);
    frame_put(f, tag, b, 4);
}
void frame_put_u64(struct frame **f, uint8_t tag, uint64_t v) {
    uint8_t b[8];
    put_be64(b, v);
    frame_put(f, tag, b, 8);
}
void frame_finish(struct frame *f) { put_be32(f->data + 8, (uint32_t)(f->len - FV_HDR_LEN)); }

enum scan_result frame_scan(const uint8_t *buf, size_t len, struct frame_hdr *hdr, size_t *skip) {
    if (len >= 1 && buf[0] != FV_MAGIC0)
        goto garbage;
    if (len >= 2 && buf[1] != FV_MAGIC1)
        goto garbage;
    if (len >= 3 && buf[2] != FV_VERSION)
        goto garbage;
    if (len < FV_HDR_LEN)
        return SCAN_NEED_MORE;
    hdr->type = buf[3];
    hdr->id = get_be32(buf + 4);
    hdr->length = get_be32(buf + 8);
    return SCAN_HEADER;
garbage:
    /* Drop up to the next possible magic; a trailing 'F' may be the start of one. */
    for (size_t i = 1; i < len; i++) {
        if (buf[i] == FV_MAGIC0 && (i + 1 == len || buf[i + 1] == FV_MAGIC1)) {
            *skip = i;
            return SCAN_GARBAGE;
        }
    }
    *skip = len;
    return SCAN_GARBAGE;
}

static const char *tag_name(uint8_t tag) {
    switch (tag) {
    case G_ARG: return "ARG";
    case G_ENV: return "ENV";
    case G_CWD: return "CWD";
    case G_STDIN: return "STDIN";
    case G_STDIN_OPEN: return "STDIN_OPEN";
    case G_TIMEOUT_MS: return "TIMEOUT_MS";
    case G_DATA: return "DATA";
    case G_SIGNAL: return "SIGNAL";
    case G_TIME_NS: return "TIME_NS";
    case G_NAME: return "NAME";
    case G_IFNAME: return "IFNAME";
    case G_MAC: return "MAC";
    case G_ADDR: return "ADDR";
    case G_GATEWAY: return "GATEWAY";
    case G_NEW_SESSION: return "NEW_SESSION";
    case G_NEW_HOST: return "NEW_HOST";
    default: return "?";
    }
}

static bool fail(struct request *req, const char *fmt, uint8_t tag) {
    snprintf(req->errbuf, sizeof req->errbuf, fmt, tag_name(tag));
    req->err = req->errbuf;
    return false;
}

/* Strings must be UTF-8 without NUL; we only enforce the NUL rule (C strings need it). */
static bool take_str(struct request *req, uint8_t tag, const uint8_t *v, size_t n, char **out) {
    if (memchr(v, 0, n))
        return fail(req, "field %s contains a NUL byte", tag);
    char *s = xrealloc(NULL, n + 1);
    memcpy(s, v, n);
    s[n] = 0;
    free(*out); /* a repeated single-valued field: the last one counts */
    *out = s;
    return true;
}

static bool take_list(struct request *req, uint8_t tag, const uint8_t *v, size_t n, char ***list,
                      size_t *count) {
    if (*count >= REQ_MAX_LIST)
        return fail(req, "too many %s fields", tag);
    char *s = NULL;
    if (!take_str(req, tag, v, n, &s))
        return false;
    *list = xrealloc(*list, (*count + 2) * sizeof **list);
    (*list)[(*count)++] = s;
    (*list)[*count] = NULL; /* argv/envp style */
    return true;
}

bool request_parse(struct request *req, uint8_t type, uint32_t id, const uint8_t *p, size_t len) {
    memset(req, 0, sizeof *req);
    req->type = type;
    req->id = id;
    size_t off = 0;
    while (off < len) {
        if (len - off < FV_TLV_HDR) {
            req->err = "truncated field header";
            return false;
        }
        uint8_t tag = p[off];
        size_t n = get_be32(p + off + 1);
        off += FV_TLV_HDR;
        if (n > len - off)
            return fail(req, "field %s runs past the end of the payload", tag);
        const uint8_t *v = p + off;
        off += n;
        bool ok = true;
        switch (tag) {
        case G_ARG: ok = take_list(req, tag, v, n, &req->args, &req->nargs); break;
        case G_ENV: ok = take_list(req, tag, v, n, &req->envs, &req->nenvs); break;
        case G_ADDR: ok = take_list(req, tag, v, n, &req->addrs, &req->naddrs); break;
        case G_CWD: ok = take_str(req, tag, v, n, &req->cwd); break;
        case G_NAME: ok = take_str(req, tag, v, n, &req->name); break;
        case G_IFNAME: ok = take_str(req, tag, v, n, &req->ifname); break;
        case G_MAC: ok = take_str(req, tag, v, n, &req->mac); break;
        case G_GATEWAY: ok = take_str(req, tag, v, n, &req->gateway); break;
        case G_STDIN: req->stdin_data = v, req->stdin_len = n, req->has_stdin = true; break;
        case G_DATA: req->data = v, req->data_len = n, req->has_data = true; break;
        case G_STDIN_OPEN:
        case G_NEW_SESSION:
        case G_NEW_HOST:
            if (n != 1 || v[0] > 1)
                return fail(req, "field %s must be one byte, 0 or 1", tag);
            *(tag == G_STDIN_OPEN    ? &req->stdin_open
              : tag == G_NEW_SESSION ? &req->new_session
                                     : &req->new_host) = v[0];
            break;
        case G_TIMEOUT_MS:
            if (n != 8)
                return fail(req, "field %s must be 8 bytes (u64)", tag);
            req->timeout_ms = get_be64(v);
            break;
        case G_TIME_NS:
            if (n != 8)
                return fail(req, "field %s must be 8 bytes (u64)", tag);
            req->time_ns = get_be64(v);
            req->has_time = true;
            break;
        case G_SIGNAL:
            if (n != 4)
                return fail(req, "field %s must be 4 bytes (i32)", tag);
            req->signal = (int32_t)get_be32(v);
            req->has_signal = true;
            break;
        default: break; /* unknown fields are skipped */
        }
        if (!ok)
            return false;
    }
    return true;
}

static void free_list(char **l, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

void request_free(struct request *req) {
    free_list(req->args, req->nargs);
    free_list(req->envs, req->nenvs);
    free_list(req->addrs, req->naddrs);
    free(req->cwd);
    free(req->name);
    free(req->ifname);
    free(req->mac);
    free(req->gateway);
    memset(req, 0, sizeof *req);
}
