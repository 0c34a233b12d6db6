/* Running commands: fork+exec in a new session, streaming stdio with bounded buffers,
 * timeouts, kill, and the EXIT frame once output and status are both complete. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

#define MAX_EXECS 1024
#define STDIN_BACKLOG_MAX (2 * 1024 * 1024) /* pause reading the port above this */
#define GRACE_MS 100                        /* how long pipes held by background jobs may delay EXIT */
#define GRACE_HARD_MS 1000                  /* ...and the cap when they keep producing output */

extern char **environ;

struct exec {
    struct exec *next;
    uint32_t id;
    pid_t pid; /* also the process group id (setsid) */
    struct watch out, err, in;
    uint8_t *inq; /* stdin bytes not yet written */
    size_t inq_len, inq_off;
    bool close_stdin; /* close stdin once inq is written */
    bool reaped, timed_out;
    int status;
    uint64_t start_ms, timeout_at, grace_at;
    int grace_phase; /* 0 child running, 1 waiting for pipes, 2 pipes may be cut when empty, 3 cut */
};

static struct exec *execs;
static size_t nexecs;
static size_t stdin_backlog;
static uint8_t chunk[FV_CHUNK_MAX];
static struct rlimit child_nofile; /* the fd limit the agent started with, which commands get */

static const char *default_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "TERM=xterm",
    "LANG=C.UTF-8",
};
#define NDEFAULT_ENV (sizeof default_env / sizeof default_env[0])

static struct exec *find_id(uint32_t id) {
    for (struct exec *e = execs; e; e = e->next)
        if (e->id == id)
            return e;
    return NULL;
}

bool exec_stdin_backlog(void) { return stdin_backlog > STDIN_BACKLOG_MAX; }

/* Many concurrent commands need a few fds each. Commands keep the usual soft limit, though:
 * select() breaks past fd 1024, and some programs loop over every fd the limit allows. */
void exec_raise_fd_limit(void) {
    if (getrlimit(RLIMIT_NOFILE, &child_nofile) < 0)
        return;
    struct rlimit rl = {child_nofile.rlim_max, child_nofile.rlim_max};
    setrlimit(RLIMIT_NOFILE, &rl);
}

/* Defaults first; a request entry with the same key replaces the default. */
static char **build_env(struct request *req) {
    char **env = calloc(NDEFAULT_ENV + req->nenvs + 1, sizeof *env);
    size_t n = 0;
    if (!env)
        return NULL;
    for (size_t i = 0; i < NDEFAULT_ENV; i++) {
        size_t klen = strchr(default_env[i], '=') - default_env[i] + 1;
        bool overridden = false;
        for (size_t j = 0; j < req->nenvs; j++)
            if (strncmp(req->envs[j], default_env[i], klen) == 0)
                overridden = true;
        if (!overridden)
            env[n++] = (char *)default_env[i];
    }
    for (size_t j = 0; j < req->nenvs; j++)
        env[n++] = req->envs[j];
    return env;
}

/* Runs in the forked child: never returns. */
static void child(struct request *req, char **env, const char *cwd, int in_r, int out_w, int err_w) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL); /* ignored dispositions survive exec; the agent's must not */
    if (child_nofile.rlim_max)
        setrlimit(RLIMIT_NOFILE, &child_nofile);
    setsid();
    if (in_r < 0)
        in_r = open("/dev/null", O_RDONLY | O_CLOEXEC);
    dup2(in_r, 0);
    dup2(out_w, 1);
    dup2(err_w, 2);
    /* every other agent fd is O_CLOEXEC, so the port never leaks into the command */
    if (chdir(cwd) < 0) {
        dprintf(2, "fastvm-agent: %s: %s\n", cwd, strerror(errno));
        _exit(127);
    }
    environ = env; /* execvp searches the child's PATH, not the agent's */
    execvp(req->args[0], req->args);
    int e = errno;
    dprintf(2, "fastvm-agent: %s: %s\n", req->args[0], strerror(e));
    _exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
}

static void queue_stdin(struct exec *e, const uint8_t *data, size_t len) {
    if (!len || e->in.fd < 0)
        return;
    if (e->inq_off) { /* keep the queue at the front so it never grows past the backlog bound */
        memmove(e->inq, e->inq + e->inq_off, e->inq_len - e->inq_off);
        e->inq_len -= e->inq_off;
        e->inq_off = 0;
    }
    uint8_t *q = realloc(e->inq, e->inq_len + len);
    if (!q) {
        send_error(e->id, "FAILED", "STDIN: out of memory; %zu bytes not delivered", len);
        return;
    }
    e->inq = q;
    memcpy(e->inq + e->inq_len, data, len);
    e->inq_len += len;
    stdin_backlog += len;
}

static void drop_stdin(struct exec *e) {
    stdin_backlog -= e->inq_len - e->inq_off;
    free(e->inq);
    e->inq = NULL;
    e->inq_len = e->inq_off = 0;
    watch_del(&e->in);
}

static void kill_group(struct exec *e, int sig) {
    /* The group may not exist yet if the child has not reached setsid(); hit the child too. */
    if (kill(-e->pid, sig) < 0 && !e->reaped)
        kill(e->pid, sig);
}

void exec_start(struct request *req) {
    if (req->id == 0) {
        send_error(0, "BAD_REQUEST", "EXEC: id 0 is reserved for unsolicited frames");
        return;
    }
    if (req->nargs == 0 || req->args[0][0] == 0) {
        send_error(req->id, "BAD_REQUEST", "EXEC: missing or empty ARG (the program)");
        return;
    }
    for (size_t j = 0; j < req->nenvs; j++) {
        if (!strchr(req->envs[j], '=') || req->envs[j][0] == '=') {
            send_error(req->id, "BAD_REQUEST", "EXEC: ENV entry '%.80s' is not KEY=VALUE", req->envs[j]);
            return;
        }
    }
    if (find_id(req->id)) {
        send_error(req->id, "DUPLICATE_ID", "EXEC: id %u is already running", req->id);
        return;
    }
    if (nexecs >= MAX_EXECS) {
        send_error(req->id, "TOO_MANY", "EXEC: %d commands are already running", MAX_EXECS);
        return;
    }
    const char *cwd = req->cwd;
    struct stat st;
    if (!cwd)
        cwd = stat("/root", &st) == 0 && S_ISDIR(st.st_mode) ? "/root" : "/";

    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    bool want_stdin = req->has_stdin || req->stdin_open;
    struct exec *e = calloc(1, sizeof *e);
    char **env = build_env(req);
    if (!e || !env) {
        send_error(req->id, "FAILED", "EXEC: out of memory");
        goto fail;
    }
    if ((want_stdin && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        send_error(req->id, "FAILED", "EXEC: pipe: %s", strerror(errno));
        goto fail;
    }
    pid_t pid = fork();
    if (pid < 0) {
        send_error(req->id, "FAILED", "EXEC: fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0)
        child(req, env, cwd, in[0], out[1], err[1]);
    free(env);
    close(out[1]);
    close(err[1]);
    if (in[0] >= 0)
        close(in[0]);

    e->id = req->id;
    e->pid = pid;
    e->start_ms = now_ms();
    /* A deadline past UINT64_MAX would wrap into the past; a timeout that far away is none. */
    e->timeout_at =
        req->timeout_ms && req->timeout_ms < UINT64_MAX - e->start_ms ? e->start_ms + req->timeout_ms : 0;
    e->out = (struct watch){.kind = W_STDOUT, .fd = out[0], .ex = e};
    e->err = (struct watch){.kind = W_STDERR, .fd = err[0], .ex = e};
    e->in = (struct watch){.kind = W_STDIN, .fd = in[1], .ex = e};
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    if (in[1] >= 0)
        fcntl(in[1], F_SETFL, O_NONBLOCK);
    if (watch_add(&e->out, EPOLLIN | EPOLLET) < 0 || watch_add(&e->err, EPOLLIN | EPOLLET) < 0 ||
        (e->in.fd >= 0 && watch_add(&e->in, EPOLLOUT | EPOLLET) < 0)) {
        send_error(req->id, "FAILED", "EXEC: epoll_ctl: %s", strerror(errno));
        kill_group(e, SIGKILL); /* unwatched, it would run unsupervised; reaped as an orphan */
        watch_del(&e->out);
        watch_del(&e->err);
        watch_del(&e->in);
        free(e);
        return;
    }
    e->next = execs;
    execs = e;
    nexecs++;

    struct frame *f = frame_new(T_STARTED, e->id, 16);
    frame_put_u32(&f, G_PID, (uint32_t)pid);
    send_frame(f);
    if (e->in.fd >= 0) { /* after STARTED: an error queueing it is about a running command */
        queue_stdin(e, req->stdin_data, req->stdin_len);
        e->close_stdin = !req->stdin_open;
    }
    return;
fail:
    free(e);
    free(env);
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
        if (err[i] >= 0)
            close(err[i]);
    }
}

/* STDIN / STDIN_CLOSE / KILL for an id that is not running are ignored: it may just have exited. */
void exec_stdin(struct request *req) {
    if (!req->has_data) {
        send_error(req->id, "BAD_REQUEST", "STDIN: missing DATA");
        return;
    }
    struct exec *e = find_id(req->id);
    if (e)
        queue_stdin(e, req->data, req->data_len);
}

void exec_stdin_close(struct request *req) {
    struct exec *e = find_id(req->id);
    if (e)
        e->close_stdin = true;
}

void exec_kill(struct request *req) {
    int sig = req->has_signal ? req->signal : SIGKILL;
    if (sig < 1 || sig > 64) {
        send_error(req->id, "BAD_REQUEST", "KILL: SIGNAL %d is not a signal number", sig);
        return;
    }
    struct exec *e = find_id(req->id);
    if (e)
        kill_group(e, sig);
}

void exec_kill_all(void) {
    for (struct exec *e = execs; e; e = e->next)
        kill_group(e, SIGKILL);
}

static void forget(struct exec *e);

/* Nobody can read these commands' output or EXIT any more (their host is gone): each one still
 * running has its process group killed, as a timeout would; one that already exited keeps its
 * background jobs. All are forgotten at once (no EXIT), so they hold no ids or fds; the agent
 * reaps the processes as it reaps orphans. */
size_t exec_end_all(void) {
    size_t running = 0;
    while (execs) {
        struct exec *e = execs;
        if (!e->reaped) {
            kill_group(e, SIGKILL);
            running++;
        }
        forget(e);
    }
    return running;
}

void exec_reaped(pid_t pid, int status) {
    for (struct exec *e = execs; e; e = e->next) {
        if (e->pid == pid && !e->reaped) {
            e->reaped = true;
            e->status = status;
            e->timeout_at = 0; /* it ended on its own; background jobs it left are not the timeout's */
            e->grace_phase = 1;
            e->grace_at = now_ms() + GRACE_MS;
            return;
        }
    }
}

static void finish(struct exec *e) {
    struct frame *f = frame_new(T_EXIT, e->id, 64);
    if (WIFEXITED(e->status))
        frame_put_u32(&f, G_CODE, (uint32_t)WEXITSTATUS(e->status));
    else if (WIFSIGNALED(e->status))
        frame_put_u32(&f, G_SIGNAL, (uint32_t)WTERMSIG(e->status));
    frame_put_u8(&f, G_TIMED_OUT, e->timed_out);
    frame_put_u64(&f, G_DURATION_MS, now_ms() - e->start_ms);
    send_frame(f);
    forget(e);
}

/* Closes the command's pipes and frees it. */
static void forget(struct exec *e) {
    watch_del(&e->out);
    watch_del(&e->err);
    drop_stdin(e);
    for (struct exec **p = &execs; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
    }
    nexecs--;
    free(e);
}

/* Reads one chunk; returns true if it made progress. */
static bool pump(struct exec *e, struct watch *w, uint8_t type) {
    if (w->fd < 0 || !w->ready || output_paused())
        return false;
    ssize_t n = read(w->fd, chunk, sizeof chunk);
    if (n > 0) {
        struct frame *f = frame_new(type, e->id, FV_TLV_HDR + (size_t)n);
        frame_put(&f, G_DATA, chunk, (size_t)n);
        send_frame(f);
    } else if (n == 0) {
        watch_del(w);
    } else if (errno == EAGAIN) {
        w->ready = false;
    } else if (errno != EINTR) {
        watch_del(w);
    }
    return true;
}

static void feed_stdin(struct exec *e) {
    while (e->in.fd >= 0 && e->in.ready && e->inq_off < e->inq_len) {
        ssize_t n = write(e->in.fd, e->inq + e->inq_off, e->inq_len - e->inq_off);
        if (n > 0) {
            e->inq_off += (size_t)n;
            stdin_backlog -= (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            e->in.ready = false;
        } else if (n < 0 && errno != EINTR) {
            drop_stdin(e); /* the reader is gone (EPIPE): what is left can never be delivered */
        }
    }
    if (e->in.fd >= 0 && e->close_stdin && e->inq_off == e->inq_len)
        drop_stdin(e);
}

static bool pipes_open(struct exec *e) { return e->out.fd >= 0 || e->err.fd >= 0; }

/* Done when the child is reaped and its output is complete: both pipes at EOF, or (background
 * jobs holding them) the grace period is over and nothing is waiting to be read. */
static bool finishable(struct exec *e) {
    if (!e->reaped)
        return false;
    if (!pipes_open(e) || e->grace_phase >= 3)
        return true;
    return e->grace_phase == 2 && !(e->out.fd >= 0 && e->out.ready) && !(e->err.fd >= 0 && e->err.ready);
}

void exec_service(void) {
    /* Round robin, one chunk per pipe per pass, so one chatty command cannot starve others. */
    for (int pass = 0; pass < 4; pass++) {
        bool progress = false;
        for (struct exec *e = execs; e; e = e->next) {
            progress |= pump(e, &e->out, T_STDOUT);
            progress |= pump(e, &e->err, T_STDERR);
        }
        if (!progress)
            break;
    }
    for (struct exec *e = execs, *next; e; e = next) {
        next = e->next;
        feed_stdin(e);
        if (finishable(e))
            finish(e);
    }
    /* rotate so the next pass starts with a different command */
    if (execs && execs->next) {
        struct exec *head = execs, *t = execs;
        while (t->next)
            t = t->next;
        execs = head->next;
        head->next = NULL;
        t->next = head;
    }
}

bool exec_has_work(void) {
    for (struct exec *e = execs; e; e = e->next) {
        if (!output_paused() && ((e->out.fd >= 0 && e->out.ready) || (e->err.fd >= 0 && e->err.ready)))
            return true;
        if (e->in.fd >= 0 && e->in.ready && (e->inq_off < e->inq_len || e->close_stdin))
            return true;
        if (finishable(e))
            return true;
    }
    return false;
}

uint64_t exec_next_deadline(void) {
    uint64_t d = 0;
    for (struct exec *e = execs; e; e = e->next) {
        if (e->timeout_at && (!d || e->timeout_at < d))
            d = e->timeout_at;
        if (e->grace_at && (!d || e->grace_at < d))
            d = e->grace_at;
    }
    return d;
}

void exec_deadlines(uint64_t now) {
    for (struct exec *e = execs; e; e = e->next) {
        if (e->timeout_at && now >= e->timeout_at) {
            e->timeout_at = 0;
            e->timed_out = true;
            kill_group(e, SIGKILL);
        }
        if (e->grace_at && now >= e->grace_at) {
            e->grace_phase++;
            e->grace_at = e->grace_phase == 2 ? now + GRACE_HARD_MS : 0;
        }
    }
}
