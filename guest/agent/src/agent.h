/* fastvm-agent: shared declarations. The wire format is specified in docs/agent-protocol.md. */
#ifndef FASTVM_AGENT_H
#define FASTVM_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AGENT_VERSION "fastvm-agent/1.0"

/* ---- wire constants ---- */
#define FV_MAGIC0 0x46
#define FV_MAGIC1 0x56
#define FV_VERSION 1
#define FV_HDR_LEN 12
#define FV_MAX_PAYLOAD (1024 * 1024)
#define FV_TLV_HDR 5
#define FV_CHUNK_MAX (64 * 1024) /* largest STDOUT/STDERR DATA value */

/* A table laid out by hand: */
/* clang-format off */
enum msg_type {
    T_HELLO_REQ = 0x01, T_EXEC = 0x02, T_STDIN = 0x03, T_STDIN_CLOSE = 0x04, T_KILL = 0x05,
    T_SET_TIME = 0x10, T_ADD_ENTROPY = 0x11, T_SET_HOSTNAME = 0x12, T_FS_SYNC = 0x13,
    T_FS_FREEZE = 0x14, T_FS_THAW = 0x15, T_NET_CONFIG = 0x16, T_GROW_ROOTFS = 0x17,
    T_PING = 0x18,
    T_HELLO = 0x81, T_STARTED = 0x82, T_STDOUT = 0x83, T_STDERR = 0x84, T_EXIT = 0x85,
    T_OK = 0x86, T_ERROR = 0x87,
};
/* clang-format on */

/* A table laid out by hand: */
/* clang-format off */
enum tag {
    G_ARG = 0x01, G_ENV = 0x02, G_CWD = 0x03, G_STDIN = 0x04, G_STDIN_OPEN = 0x05,
    G_TIMEOUT_MS = 0x06, G_DATA = 0x07, G_SIGNAL = 0x08, G_TIME_NS = 0x09, G_NAME = 0x0a,
    G_IFNAME = 0x0b, G_MAC = 0x0c, G_ADDR = 0x0d, G_GATEWAY = 0x0e,
    G_VERSION = 0x10, G_BOOT_ID = 0x11, G_PID = 0x12, G_CODE = 0x13, G_TIMED_OUT = 0x14,
    G_DURATION_MS = 0x15, G_CODE_NAME = 0x16, G_MESSAGE = 0x17, G_SIZE_BYTES = 0x18,
    G_NEW_SESSION = 0x19, G_NEW_HOST = 0x1a,
};
/* clang-format on */

/* ---- proto.c: frames and TLV fields ---- */

/* One outbound frame, queued for the port. */
struct frame {
    struct frame *next;
    size_t len; /* bytes used in data */
    size_t cap;
    size_t sent; /* bytes already written to the port */
    uint8_t data[];
};

struct frame *frame_new(uint8_t type, uint32_t id, size_t payload_hint);
void frame_put(struct frame **f, uint8_t tag, const void *val, size_t len);
void frame_put_str(struct frame **f, uint8_t tag, const char *s);
void frame_put_u8(struct frame **f, uint8_t tag, uint8_t v);
void frame_put_u32(struct frame **f, uint8_t tag, uint32_t v);
void frame_put_u64(struct frame **f, uint8_t tag, uint64_t v);
void frame_finish(struct frame *f); /* writes the payload length into the header */

struct frame_hdr {
    uint8_t type;
    uint32_t id;
    uint32_t length;
};

enum scan_result {
    SCAN_NEED_MORE, /* not enough bytes for a header yet */
    SCAN_HEADER,    /* a valid header; payload may still be incomplete */
    SCAN_GARBAGE,   /* *skip bytes do not start a frame and must be dropped */
};
/* Looks at the start of buf: a valid header, or how many bytes to drop to resynchronise. */
enum scan_result frame_scan(const uint8_t *buf, size_t len, struct frame_hdr *hdr, size_t *skip);

/* A parsed request: pointers into the frame payload plus decoded integers. */
#define REQ_MAX_LIST 4096
/* A table laid out by hand: */
/* clang-format off */
struct request {
    uint8_t type;
    uint32_t id;
    const char *err; /* set when the payload is malformed: names the field */
    char errbuf[96];
    /* lists (ARG, ENV, ADDR); strings are NUL-terminated copies owned by the request */
    char **args; size_t nargs;
    char **envs; size_t nenvs;
    char **addrs; size_t naddrs;
    char *cwd, *name, *ifname, *mac, *gateway;
    const uint8_t *stdin_data; size_t stdin_len; bool has_stdin;
    const uint8_t *data; size_t data_len; bool has_data;
    bool stdin_open;
    bool new_session; /* HELLO_REQ from a host that just connected */
    bool new_host;    /* ...that knows nothing of earlier connections' commands */
    uint64_t timeout_ms;
    int32_t signal; bool has_signal;
    uint64_t time_ns; bool has_time;
};
/* clang-format on */

/* Parses payload into req; returns false (with req->err set) on a malformed payload. */
bool request_parse(struct request *req, uint8_t type, uint32_t id, const uint8_t *payload, size_t len);
void request_free(struct request *req);

static inline uint32_t get_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t get_be64(const uint8_t *p) { return (uint64_t)get_be32(p) << 32 | get_be32(p + 4); }
static inline void put_be32(uint8_t *p, uint32_t v) {
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}
static inline void put_be64(uint8_t *p, uint64_t v) {
    put_be32(p, v >> 32);
    put_be32(p + 4, (uint32_t)v);
}

/* ---- loop.c: connection, outbound queue, event loop ---- */

enum watch_kind { W_PORT, W_SIGNAL, W_TIMER, W_STDOUT, W_STDERR, W_STDIN };
struct exec;
/* What an epoll event points at; `ready` remembers edge-triggered readiness. */
struct watch {
    enum watch_kind kind;
    int fd;
    bool ready;
    struct exec *ex;
};

void send_frame(struct frame *f); /* queues (or drops when no host is connected) */
void send_ok(uint32_t id);
void send_error(uint32_t id, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void send_hello(uint32_t id);
void session_start(void); /* forget frames queued for an earlier host */
bool output_paused(void); /* too much queued for the port */
int watch_add(struct watch *w, uint32_t events);
void watch_del(struct watch *w);
int run_loop(const char *connect_path, bool once);
extern bool agent_test_mode; /* --connect: serving a unix socket on a developer's machine */
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t now_ms(void);

/* ---- exec.c ---- */
void exec_raise_fd_limit(void); /* at start; commands keep the original limit */
void exec_start(struct request *req);
void exec_stdin(struct request *req);
void exec_stdin_close(struct request *req);
void exec_kill(struct request *req);
void exec_reaped(pid_t pid, int status);
void exec_service(void);           /* pumps ready pipes, finishes execs */
bool exec_has_work(void);          /* something ready that could progress now */
uint64_t exec_next_deadline(void); /* earliest timeout/grace deadline in ms, or 0 */
void exec_deadlines(uint64_t now); /* fires expired deadlines */
void exec_kill_all(void);          /* test mode exit: no orphans left behind */
size_t exec_end_all(void);         /* a new host: kill and forget every command; returns how many ran */
bool exec_stdin_backlog(void);     /* too much stdin queued: pause reading the port */

/* ---- control.c ---- */
void control_handle(struct request *req);
bool control_reaped(pid_t pid, int status); /* true if pid was a filesystem job (answered now) */
const char *boot_id(void);

/* ---- init.c (PID 1 duties) ---- */
void init_system(void);
char *find_agent_port(void); /* waits until the `agent` virtio port exists; returns /dev path */

#endif
