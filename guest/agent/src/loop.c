/* The event loop: the host connection (virtio port or, in test mode, a unix socket), the
 * inbound frame parser, the outbound queue, and dispatch of requests. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define OUTQ_HIGH (1024 * 1024)  /* stop reading child pipes above this much queued memory */
#define OUTQ_MAX (2 * OUTQ_HIGH) /* ...and the host's requests: it is not reading our answers */
#define INBUF_CAP (FV_HDR_LEN + FV_MAX_PAYLOAD)
#define READ_MAX (64 * 1024) /* per read(): bounds the answers one read can produce */
#define RECONNECT_MAX_MS 200

static int epfd = -1;
static struct watch port_w = {.kind = W_PORT, .fd = -1};
static struct watch sig_w = {.kind = W_SIGNAL, .fd = -1};
static struct watch timer_w = {.kind = W_TIMER, .fd = -1};
static bool port_writable;
static bool connected; /* a host is on the other end: frames are worth queueing */

bool agent_test_mode;
static const char *sock_path; /* test mode: connect to this unix socket instead of the port */
static bool exit_on_eof;      /* test mode --once */
static const char *port_path; /* /dev/vportNpM */
static uint64_t reconnect_at; /* 0 = no (re)connect pending */
static unsigned backoff_ms;

static struct frame *outq_head, **outq_tail = &outq_head;
static size_t outq_bytes; /* memory held by queued frames, so tiny frames count their overhead */

static uint8_t inbuf[INBUF_CAP]; /* holds one whole frame at most; untouched pages cost nothing */
static size_t inlen;
static size_t discard_left; /* payload bytes of an oversized frame still to skip */
static bool resyncing;      /* BAD_FRAME already reported; dropping bytes until magic */
static uint64_t armed_deadline;

void logmsg(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    /* one write per line so lines from the kernel and us interleave cleanly */
    struct iovec iov[2] = {{"fastvm-agent: ", 14}, {buf, (size_t)n}};
    ssize_t r = writev(2, iov, 2);
    (void)r;
}

uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int watch_add(struct watch *w, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.ptr = w};
    w->ready = false;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, w->fd, &ev);
}

void watch_del(struct watch *w) {
    if (w->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);
        close(w->fd);
    }
    w->fd = -1;
    w->ready = false;
}

/* ---- outbound ---- */

/* Without a host, output is dropped rather than queued, so there is nothing to wait for. */
bool output_paused(void) { return connected && outq_bytes > OUTQ_HIGH; }

static size_t frame_size(const struct frame *f) { return sizeof *f + f->cap; }

static void free_queued(struct frame *f) {
    outq_bytes -= frame_size(f);
    free(f);
}

void send_frame(struct frame *f) {
    frame_finish(f);
    if (!connected) { /* nobody to read it; the next host does not know this request */
        free(f);
        return;
    }
    *outq_tail = f;
    outq_tail = &f->next;
    outq_bytes += frame_size(f);
}

void send_ok(uint32_t id) { send_frame(frame_new(T_OK, id, 0)); }

void send_error(uint32_t id, const char *code, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct frame *f = frame_new(T_ERROR, id, 64 + strlen(msg));
    frame_put_str(&f, G_CODE_NAME, code);
    frame_put_str(&f, G_MESSAGE, msg);
    send_frame(f);
}

void send_hello(uint32_t id) {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    struct frame *f = frame_new(T_HELLO, id, 128);
    frame_put_str(&f, G_VERSION, AGENT_VERSION);
    frame_put_str(&f, G_BOOT_ID, boot_id());
    frame_put_str(&f, G_NAME, host);
    send_frame(f);
}

/* Frees the queued frames except, with keep_partial, one already partly written (the stream
 * must not break off mid-frame while the same host is reading it). */
static void drop_queued(bool keep_partial) {
    struct frame *keep = keep_partial && outq_head && outq_head->sent ? outq_head : NULL;
    struct frame *f = keep ? keep->next : outq_head;
    while (f) {
        struct frame *next = f->next;
        free_queued(f);
        f = next;
    }
    outq_head = keep;
    if (keep)
        keep->next = NULL;
    outq_tail = keep ? &keep->next : &outq_head;
}

static void host_gone(void);

/* HELLO_REQ with NEW_SESSION: a host that reconnected faster than the guest noticed (or
 * before a restored guest ran) need not wait for frames queued for its predecessor. A frame
 * already partly written has to be completed; the host skips it while it looks for the
 * answer to its HELLO_REQ. */
void session_start(void) { drop_queued(true); }

static void flush_port(void) {
    while (outq_head && port_writable && port_w.fd >= 0) {
        struct iovec iov[64];
        int n = 0;
        for (struct frame *f = outq_head; f && n < 64; f = f->next, n++)
            iov[n] = (struct iovec){f->data + f->sent, f->len - f->sent};
        ssize_t w = writev(port_w.fd, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            /* EAGAIN (or a virtio port with a full queue answering 0): the next EPOLLOUT
             * edge resumes. Anything else: the host is gone; wait for the port to say so. */
            port_writable = false;
            if (w < 0 && errno != EAGAIN) {
                logmsg("write to host: %s", strerror(errno));
                host_gone();
            }
            return;
        }
        while (w > 0) {
            struct frame *f = outq_head;
            size_t left = f->len - f->sent;
            if ((size_t)w < left) {
                f->sent += (size_t)w;
                break;
            }
            w -= (ssize_t)left;
            outq_head = f->next;
            free_queued(f);
        }
        if (!outq_head)
            outq_tail = &outq_head;
    }
}

/* ---- connection life cycle ---- */

static void schedule_reconnect(void) {
    reconnect_at = now_ms() + backoff_ms;
    backoff_ms = backoff_ms ? backoff_ms * 2 : 10;
    if (backoff_ms > RECONNECT_MAX_MS)
        backoff_ms = RECONNECT_MAX_MS;
}

static void host_arrived(void) {
    connected = true;
    backoff_ms = 0;
    send_hello(0);
}

static void reset_input(void) {
    inlen = 0;
    discard_left = 0;
    resyncing = false;
}

/* The host went away: every process keeps running; output produced from now on is dropped.
 * Test mode drops the queue with the socket. The virtio port keeps it: the guest kernel can
 * report "no host" after a new host's first bytes arrived (it learns of the connection later,
 * in a workqueue), and then the queue holds that host's answers. A host that is really new
 * skips whatever precedes the answer to its HELLO_REQ (docs/agent-protocol.md). */
static void host_gone(void) {
    connected = false;
    reset_input();
    if (sock_path) {
        drop_queued(false);
        watch_del(&port_w);
        if (exit_on_eof) {
            exec_kill_all();
            exit(0);
        }
        schedule_reconnect();
    }
}

/* Test mode: connect to the host's unix socket; exits once the socket path is gone. */
static void try_connect_socket(void) {
    struct stat st;
    if (stat(sock_path, &st) < 0 && errno == ENOENT) {
        logmsg("%s is gone; exiting", sock_path);
        exec_kill_all();
        exit(0);
    }
    /* non-blocking: a unix connect then completes at once, or fails (EAGAIN: backlog full) */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (fd >= 0)
            close(fd);
        schedule_reconnect();
        return;
    }
    port_w.fd = fd;
    watch_add(&port_w, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    host_arrived();
}

/* Guest mode: the port is opened once; host (dis)connects show up as poll events on it. */
static void open_port(void) {
    int fd = open(port_path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        logmsg("open %s: %s", port_path, strerror(errno));
        schedule_reconnect();
        return;
    }
    port_w.fd = fd;
    /* Edge-triggered: a port without a host polls as EPOLLHUP|EPOLLIN forever, which a
     * level-triggered watch would spin on; the host connecting wakes the port's waitqueue. */
    watch_add(&port_w, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
}

/* Virtio port: a mask without EPOLLHUP means a host is connected now. A mask with it may be
 * stale (the guest kernel handles "host opened" in a workqueue, after the host's first bytes
 * may already have woken us), so only read() returning EOF counts as "host gone". */
static void port_event(uint32_t ev) {
    if (!sock_path && !(ev & EPOLLHUP) && !connected)
        host_arrived();
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
        port_w.ready = true;
    if (ev & EPOLLOUT)
        port_writable = true;
}

/* ---- inbound ---- */

static const char *type_name(uint8_t t) {
    switch (t) {
    case T_HELLO_REQ: return "HELLO_REQ";
    case T_EXEC: return "EXEC";
    case T_STDIN: return "STDIN";
    case T_STDIN_CLOSE: return "STDIN_CLOSE";
    case T_KILL: return "KILL";
    case T_SET_TIME: return "SET_TIME";
    case T_ADD_ENTROPY: return "ADD_ENTROPY";
    case T_SET_HOSTNAME: return "SET_HOSTNAME";
    case T_FS_SYNC: return "FS_SYNC";
    case T_FS_FREEZE: return "FS_FREEZE";
    case T_FS_THAW: return "FS_THAW";
    case T_NET_CONFIG: return "NET_CONFIG";
    case T_GROW_ROOTFS: return "GROW_ROOTFS";
    case T_PING: return "PING";
    default: return NULL;
    }
}

static void dispatch(const struct frame_hdr *h, const uint8_t *payload) {
    const char *name = type_name(h->type);
    if (!name) {
        send_error(h->id, "UNKNOWN_TYPE", "unknown message type 0x%02x", h->type);
        return;
    }
    struct request req;
    if (!request_parse(&req, h->type, h->id, payload, h->length)) {
        send_error(h->id, "BAD_REQUEST", "%s: %s", name, req.err);
        request_free(&req);
        return;
    }
    switch (h->type) {
    case T_EXEC: exec_start(&req); break;
    case T_STDIN: exec_stdin(&req); break;
    case T_STDIN_CLOSE: exec_stdin_close(&req); break;
    case T_KILL: exec_kill(&req); break;
    default: control_handle(&req); break;
    }
    request_free(&req);
}

static void parse_input(void) {
    size_t off = 0;
    while (off < inlen) {
        if (discard_left) {
            size_t k = inlen - off < discard_left ? inlen - off : discard_left;
            off += k;
            discard_left -= k;
            continue;
        }
        struct frame_hdr h;
        size_t skip = 0;
        enum scan_result r = frame_scan(inbuf + off, inlen - off, &h, &skip);
        if (r == SCAN_NEED_MORE)
            break;
        if (r == SCAN_GARBAGE) {
            if (!resyncing)
                send_error(0, "BAD_FRAME", "bad magic or version; skipping to the next frame");
            resyncing = true;
            off += skip;
            continue;
        }
        resyncing = false;
        if (h.length > FV_MAX_PAYLOAD) {
            send_error(h.id, "TOO_LARGE", "payload length %u exceeds the limit of %u bytes", h.length,
                       FV_MAX_PAYLOAD);
            off += FV_HDR_LEN;
            discard_left = h.length;
            continue;
        }
        if (inlen - off < FV_HDR_LEN + (size_t)h.length)
            break;
        dispatch(&h, inbuf + off + FV_HDR_LEN);
        off += FV_HDR_LEN + h.length;
    }
    memmove(inbuf, inbuf + off, inlen - off);
    inlen -= off;
}

static bool port_input_wanted(void) {
    return port_w.fd >= 0 && port_w.ready && !exec_stdin_backlog() && outq_bytes <= OUTQ_MAX;
}

static void read_port(void) {
    size_t budget = 4 * INBUF_CAP; /* then let the execs have a turn */
    while (port_input_wanted() && budget) {
        size_t room = INBUF_CAP - inlen;
        ssize_t n = read(port_w.fd, inbuf + inlen, room < READ_MAX ? room : READ_MAX);
        if (n > 0) {
            budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
            if (!connected) /* bytes before the "host opened" event: a new host is talking */
                host_arrived();
            inlen += (size_t)n;
            parse_input();
        } else if (n == 0) {
            /* virtio port: no host; socket: the host closed. Either way, wait for the next. */
            port_w.ready = false;
            if (sock_path)
                flush_port(); /* a half-closed socket still takes the answers already queued */
            if (connected || (sock_path && port_w.fd >= 0))
                host_gone();
        } else if (errno == EAGAIN) {
            port_w.ready = false;
        } else if (errno != EINTR) {
            logmsg("read from host: %s", strerror(errno));
            port_w.ready = false;
            if (connected)
                host_gone();
            if (!sock_path) { /* the port itself failed (unplugged?): reopen it */
                watch_del(&port_w);
                schedule_reconnect();
            }
        }
    }
}

/* ---- signals and timers ---- */

static void reap_children(void) {
    struct signalfd_siginfo si;
    while (read(sig_w.fd, &si, sizeof si) == sizeof si)
        ;
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        if (!control_reaped(pid, status))
            exec_reaped(pid, status); /* orphans adopted by PID 1 / the subreaper are just reaped */
}

static void arm_timer(void) {
    uint64_t d = exec_next_deadline();
    if (reconnect_at && (!d || reconnect_at < d))
        d = reconnect_at;
    if (d == armed_deadline)
        return;
    armed_deadline = d;
    struct itimerspec its = {0};
    if (d)
        its.it_value = (struct timespec){(time_t)(d / 1000), (long)(d % 1000) * 1000000};
    timerfd_settime(timer_w.fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void fire_timers(void) {
    uint64_t expirations;
    while (read(timer_w.fd, &expirations, sizeof expirations) > 0)
        ;
    armed_deadline = 0;
    uint64_t now = now_ms();
    exec_deadlines(now);
    if (reconnect_at && now >= reconnect_at) {
        reconnect_at = 0;
        if (sock_path)
            try_connect_socket();
        else
            open_port();
    }
}

static bool has_work(void) {
    return port_input_wanted() || exec_has_work() || (outq_head && port_writable && port_w.fd >= 0);
}

int run_loop(const char *connect_path, bool once) {
    sock_path = connect_path;
    agent_test_mode = connect_path != NULL;
    exit_on_eof = once;
    signal(SIGPIPE, SIG_IGN); /* a vanished host or stdin reader is an error code, not a death */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    sig_w.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    timer_w.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epfd < 0 || sig_w.fd < 0 || timer_w.fd < 0) {
        logmsg("event loop setup: %s", strerror(errno));
        return 1;
    }
    watch_add(&sig_w, EPOLLIN);
    watch_add(&timer_w, EPOLLIN);

    if (sock_path) {
        try_connect_socket();
    } else {
        port_path = find_agent_port();
        logmsg("host port %s", port_path);
        open_port();
    }

    struct epoll_event evs[64];
    for (;;) {
        arm_timer();
        int n = epoll_wait(epfd, evs, 64, has_work() ? 0 : -1);
        if (n < 0 && errno != EINTR) {
            logmsg("epoll_wait: %s", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct watch *w = evs[i].data.ptr;
            switch (w->kind) {
            case W_PORT: port_event(evs[i].events); break;
            case W_SIGNAL: reap_children(); break;
            case W_TIMER: fire_timers(); break;
            default: w->ready = true; break; /* child pipes: read/write until EAGAIN */
            }
        }
        read_port();
        exec_service();
        flush_port();
    }
}
