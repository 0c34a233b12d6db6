/* Control requests: clock, entropy, hostname, filesystems (disk-bound work in a child process),
 * network, root disk growth. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <net/if_arp.h>
#include <linux/random.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#ifndef EXT4_IOC_RESIZE_FS
#define EXT4_IOC_RESIZE_FS _IOW('f', 16, uint64_t)
#endif
#define EXT4_SUPER_MAGIC 0xEF53

const char *boot_id(void) {
    static char id[64];
    if (!id[0]) {
        int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, id, sizeof id - 1) : -1;
        if (fd >= 0)
            close(fd);
        if (n <= 0)
            return "unknown"; /* try again next time (e.g. /proc not mounted yet) */
        id[n] = 0;
        id[strcspn(id, "\n")] = 0;
    }
    return id;
}

/* Test mode runs on a developer's machine: never change the host's clock, name, disks or
 * network. Requests are still validated, so the error paths stay testable. */
static bool refused_in_test_mode(struct request *r, const char *what) {
    if (!agent_test_mode)
        return false;
    send_error(r->id, "UNSUPPORTED", "%s is refused in --connect test mode (it would change the host)", what);
    return true;
}

static bool root_frozen; /* FS_FREEZE froze / (or found it frozen); no FS_THAW since */

static void fail_errno(uint32_t id, const char *what) {
    send_error(id, "FAILED", "%s: %s", what, strerror(errno));
}

/* The root filesystem lives on a block device (after switch root), not on initramfs/tmpfs. */
static bool root_on_block_device(struct stat *st) { return stat("/", st) == 0 && major(st->st_dev) != 0; }

static void ok_with_size(uint32_t id) {
    struct statfs sf;
    if (statfs("/", &sf) < 0) {
        fail_errno(id, "statfs /");
        return;
    }
    struct frame *f = frame_new(T_OK, id, 16);
    frame_put_u64(&f, G_SIZE_BYTES, (uint64_t)sf.f_blocks * (uint64_t)sf.f_frsize);
    send_frame(f);
}

static void set_time(struct request *r) {
    if (!r->has_time) {
        send_error(r->id, "BAD_REQUEST", "SET_TIME: missing TIME_NS");
        return;
    }
    if (refused_in_test_mode(r, "SET_TIME"))
        return;
    struct timespec ts = {(time_t)(r->time_ns / 1000000000u), (long)(r->time_ns % 1000000000u)};
    if (clock_settime(CLOCK_REALTIME, &ts) < 0)
        fail_errno(r->id, "SET_TIME: clock_settime");
    else
        send_ok(r->id);
}

static void add_entropy(struct request *r) {
    if (!r->has_data || r->data_len < 1 || r->data_len > 4096) {
        send_error(r->id, "BAD_REQUEST", "ADD_ENTROPY: DATA must be 1 to 4096 bytes");
        return;
    }
    struct rand_pool_info *info = calloc(1, sizeof *info + r->data_len + 4);
    if (!info) {
        send_error(r->id, "FAILED", "ADD_ENTROPY: out of memory");
        return;
    }
    info->entropy_count = (int)(8 * r->data_len); /* the host's bytes are fully random */
    info->buf_size = (int)r->data_len;
    memcpy(info->buf, r->data, r->data_len);
    int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
    /* Adding entropy alone leaves the CRNG's current key in place: restored clones kept
     * reading identical /dev/urandom bytes until the next scheduled reseed. Force it now. */
    if (fd < 0 || ioctl(fd, RNDADDENTROPY, info) < 0)
        fail_errno(r->id, "ADD_ENTROPY: RNDADDENTROPY");
    else if (ioctl(fd, RNDRESEEDCRNG) < 0)
        fail_errno(r->id, "ADD_ENTROPY: RNDRESEEDCRNG");
    else
        send_ok(r->id);
    if (fd >= 0)
        close(fd);
    free(info);
}

static void set_hostname(struct request *r) {
    size_t n = r->name ? strlen(r->name) : 0;
    if (n < 1 || n > 64) {
        send_error(r->id, "BAD_REQUEST", "SET_HOSTNAME: NAME must be 1 to 64 bytes");
        return;
    }
    if (refused_in_test_mode(r, "SET_HOSTNAME"))
        return;
    if (sethostname(r->name, n) < 0)
        fail_errno(r->id, "SET_HOSTNAME: sethostname");
    else
        send_ok(r->id);
}

/* ---- filesystem work, off the event loop ----
 * sync(), FIFREEZE and an online resize wait for the disk (for seconds under TCG with much
 * dirty data). They run in a child process, so every command's output, timeouts and the
 * host's pings go on meanwhile; one at a time, in the order the host sent them. */
struct fs_job {
    uint32_t id;
    uint8_t type;
    const char *step; /* names the request and the call in an error */
    int (*work)(uint64_t arg);
    uint64_t arg;
};
#define FS_QUEUE_MAX 16
static struct fs_job fs_queue[FS_QUEUE_MAX]; /* [0] runs while fs_pid is set; the rest wait */
static size_t fs_queued;
static pid_t fs_pid;

/* The work functions run in the child: they return 0 or an errno, its exit status. */
static int root_ioctl(unsigned long req, void *arg) {
    int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 || ioctl(fd, req, arg) < 0 ? errno : 0;
}

static int do_sync(uint64_t unused) {
    (void)unused;
    sync();
    return 0;
}

static int do_freeze(uint64_t unused) {
    (void)unused;
    sync(); /* FIFREEZE syncs too, but this keeps the freeze window short */
    int e = root_ioctl(FIFREEZE, 0);
    return e == EBUSY ? 0 : e; /* already frozen: the state the host asked for */
}

static int do_thaw(uint64_t unused) {
    (void)unused;
    int e = root_ioctl(FITHAW, 0);
    return e == EINVAL ? 0 : e; /* not frozen: the state the host asked for */
}

static int do_resize(uint64_t blocks) { return root_ioctl(EXT4_IOC_RESIZE_FS, &blocks); } /* same size: 0 */

/* Answers a job that the root's frozen state settles without running it (decided when it is
 * its turn, after the jobs before it changed that state). A job that writes to a frozen root
 * would wait for a thaw queued behind it: that is refused. */
static bool settled_by_freeze_state(const struct fs_job *j) {
    if ((j->type == T_FS_FREEZE || j->type == T_FS_THAW) && (j->type == T_FS_FREEZE) == root_frozen)
        send_ok(j->id); /* already in the state asked for */
    else if (j->type == T_FS_SYNC && root_frozen)
        send_ok(j->id); /* a frozen root is clean on disk already */
    else if (j->type == T_GROW_ROOTFS && root_frozen)
        send_error(j->id, "FAILED", "GROW_ROOTFS: the root filesystem is frozen (FS_THAW first)");
    else
        return false;
    return true;
}

static void fs_pop(void) { memmove(fs_queue, fs_queue + 1, --fs_queued * sizeof *fs_queue); }

static void fs_run_next(void) {
    while (!fs_pid && fs_queued) {
        struct fs_job *j = &fs_queue[0];
        if (settled_by_freeze_state(j)) {
            fs_pop();
            continue;
        }
        pid_t pid = fork();
        if (pid == 0) {
            close_range(3, ~0U, 0); /* hold no command's pipe open: a stdin closed must reach EOF */
            _exit(j->work(j->arg));
        }
        if (pid > 0) {
            fs_pid = pid;
            return;
        }
        send_error(j->id, "FAILED", "%s: fork: %s", j->step, strerror(errno));
        fs_pop();
    }
}

static void fs_start(struct request *r, const char *step, int (*work)(uint64_t), uint64_t arg) {
    if (fs_queued == FS_QUEUE_MAX) {
        send_error(r->id, "FAILED", "%s: %d filesystem requests are waiting already", step, FS_QUEUE_MAX);
        return;
    }
    fs_queue[fs_queued++] = (struct fs_job){r->id, r->type, step, work, arg};
    fs_run_next();
}

bool control_reaped(pid_t pid, int status) {
    if (!fs_pid || pid != fs_pid)
        return false;
    fs_pid = 0;
    struct fs_job j = fs_queue[0];
    fs_pop();
    if (!WIFEXITED(status)) {
        send_error(j.id, "FAILED", "%s: killed by signal %d", j.step, WTERMSIG(status));
    } else if (WEXITSTATUS(status)) {
        send_error(j.id, "FAILED", "%s: %s", j.step, strerror(WEXITSTATUS(status)));
    } else if (j.type == T_GROW_ROOTFS) {
        ok_with_size(j.id);
    } else {
        if (j.type == T_FS_FREEZE || j.type == T_FS_THAW)
            root_frozen = j.type == T_FS_FREEZE;
        send_ok(j.id);
    }
    fs_run_next();
    return true;
}

static void freeze(struct request *r, bool on) {
    struct stat st;
    if (refused_in_test_mode(r, on ? "FS_FREEZE" : "FS_THAW"))
        return;
    if (!root_on_block_device(&st)) /* initramfs: nothing on disk to make consistent */
        send_ok(r->id);
    else if (on)
        fs_start(r, "FS_FREEZE: FIFREEZE /", do_freeze, 0);
    else
        fs_start(r, "FS_THAW: FITHAW /", do_thaw, 0);
}

static void grow_rootfs(struct request *r) {
    struct stat st;
    if (refused_in_test_mode(r, "GROW_ROOTFS"))
        return;
    if (!root_on_block_device(&st)) { /* no root disk: report the size as it is */
        ok_with_size(r->id);
        return;
    }
    /* Map the root's device number to its /dev node through sysfs (no udev here). */
    char path[128], buf[256], dev[160] = "";
    snprintf(path, sizeof path, "/sys/dev/block/%u:%u/uevent", major(st.st_dev), minor(st.st_dev));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n > 0) {
        buf[n] = 0;
        char *p = strstr(buf, "DEVNAME=");
        if (p)
            snprintf(dev, sizeof dev, "/dev/%.*s", (int)strcspn(p + 8, "\n"), p + 8);
    }
    if (!dev[0]) {
        send_error(r->id, "FAILED", "GROW_ROOTFS: no device node for %u:%u", major(st.st_dev),
                   minor(st.st_dev));
        return;
    }
    uint64_t bytes = 0;
    fd = open(dev, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
        fail_errno(r->id, "GROW_ROOTFS: BLKGETSIZE64");
        if (fd >= 0)
            close(fd);
        return;
    }
    close(fd);
    struct statfs sf;
    if (statfs("/", &sf) < 0 || sf.f_type != EXT4_SUPER_MAGIC) {
        send_error(r->id, "FAILED", "GROW_ROOTFS: the root filesystem is not ext4");
        return;
    }
    fs_start(r, "GROW_ROOTFS: EXT4_IOC_RESIZE_FS", do_resize, bytes / (uint64_t)sf.f_bsize);
}

/* ---- NET_CONFIG ---- */

struct cidr {
    int family;
    uint8_t addr[16];
    int prefix;
};

static bool parse_cidr(const char *s, struct cidr *c, bool with_prefix) {
    char ip[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n >= sizeof ip || (slash && !with_prefix))
        return false;
    memcpy(ip, s, n);
    ip[n] = 0;
    if (inet_pton(AF_INET6, ip, c->addr) == 1)
        c->family = AF_INET6, c->prefix = 128;
    else if (inet_pton(AF_INET, ip, c->addr) == 1)
        c->family = AF_INET, c->prefix = 32;
    else
        return false;
    if (slash) {
        char *end;
        long p = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || p < 0 || p > c->prefix)
            return false;
        c->prefix = (int)p;
    }
    return true;
}

static size_t addr_len(int family) { return family == AF_INET6 ? 16 : 4; }

struct nlreq {
    struct nlmsghdr n;
    union {
        struct ifaddrmsg ifa;
        struct rtmsg rt;
    };
    char attrs[128];
};

static void nl_attr(struct nlreq *q, int type, const void *data, size_t len) {
    struct rtattr *rta = (struct rtattr *)((char *)q + NLMSG_ALIGN(q->n.nlmsg_len));
    rta->rta_type = (unsigned short)type;
    rta->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(rta), data, len);
    q->n.nlmsg_len = NLMSG_ALIGN(q->n.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Sends one request and waits for its ACK; returns 0 or -errno. */
static int nl_call(int sock, struct nlreq *q) {
    static uint32_t seq;
    q->n.nlmsg_seq = ++seq;
    q->n.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    if (send(sock, q, q->n.nlmsg_len, 0) < 0)
        return -errno;
    char buf[4096];
    for (;;) {
        ssize_t n = recv(sock, buf, sizeof buf, 0);
        if (n < 0)
            return -errno;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq == q->n.nlmsg_seq && h->nlmsg_type == NLMSG_ERROR)
                return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
        }
    }
}

/* Removes the interface's global addresses so a clone does not keep its source's identity. */
static int flush_global_addrs(int sock, int ifindex) {
    struct nlreq q = {0};
    q.n.nlmsg_len = NLMSG_LENGTH(sizeof q.ifa);
    q.n.nlmsg_type = RTM_GETADDR;
    q.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    q.n.nlmsg_seq = 0x7fff0000;
    if (send(sock, &q, q.n.nlmsg_len, 0) < 0)
        return -errno;
    struct cidr found[64];
    int nfound = 0;
    char buf[8192];
    for (bool done = false; !done;) {
        ssize_t n = recv(sock, buf, sizeof buf, 0);
        if (n < 0)
            return -errno;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
                done = true;
                break;
            }
            if (h->nlmsg_type != RTM_NEWADDR)
                continue;
            struct ifaddrmsg *ifa = NLMSG_DATA(h);
            if ((int)ifa->ifa_index != ifindex || ifa->ifa_scope != RT_SCOPE_UNIVERSE || nfound == 64)
                continue;
            int len = (int)IFA_PAYLOAD(h);
            for (struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
                if (a->rta_type == IFA_ADDRESS && RTA_PAYLOAD(a) == addr_len(ifa->ifa_family)) {
                    found[nfound] = (struct cidr){.family = ifa->ifa_family, .prefix = ifa->ifa_prefixlen};
                    memcpy(found[nfound++].addr, RTA_DATA(a), RTA_PAYLOAD(a));
                    break;
                }
            }
        }
    }
    for (int i = 0; i < nfound; i++) {
        struct nlreq d = {0};
        d.n.nlmsg_len = NLMSG_LENGTH(sizeof d.ifa);
        d.n.nlmsg_type = RTM_DELADDR;
        d.ifa = (struct ifaddrmsg){.ifa_family = (uint8_t)found[i].family,
                                   .ifa_prefixlen = (uint8_t)found[i].prefix,
                                   .ifa_index = (unsigned)ifindex};
        nl_attr(&d, IFA_LOCAL, found[i].addr, addr_len(found[i].family));
        int rc = nl_call(sock, &d);
        if (rc < 0 && rc != -EADDRNOTAVAIL)
            return rc;
    }
    return 0;
}

static int add_addr(int sock, int ifindex, const struct cidr *c) {
    struct nlreq q = {0};
    q.n.nlmsg_len = NLMSG_LENGTH(sizeof q.ifa);
    q.n.nlmsg_type = RTM_NEWADDR;
    q.n.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
    q.ifa = (struct ifaddrmsg){.ifa_family = (uint8_t)c->family,
                               .ifa_prefixlen = (uint8_t)c->prefix,
                               .ifa_flags = c->family == AF_INET6 ? IFA_F_NODAD : 0,
                               .ifa_scope = RT_SCOPE_UNIVERSE,
                               .ifa_index = (unsigned)ifindex};
    nl_attr(&q, IFA_LOCAL, c->addr, addr_len(c->family));
    nl_attr(&q, IFA_ADDRESS, c->addr, addr_len(c->family));
    return nl_call(sock, &q);
}

static int add_default_route(int sock, int ifindex, const struct cidr *gw) {
    struct nlreq q = {0};
    q.n.nlmsg_len = NLMSG_LENGTH(sizeof q.rt);
    q.n.nlmsg_type = RTM_NEWROUTE;
    q.n.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
    q.rt = (struct rtmsg){.rtm_family = (uint8_t)gw->family,
                          .rtm_table = RT_TABLE_MAIN,
                          .rtm_protocol = RTPROT_BOOT,
                          .rtm_scope = RT_SCOPE_UNIVERSE,
                          .rtm_type = RTN_UNICAST};
    nl_attr(&q, RTA_GATEWAY, gw->addr, addr_len(gw->family));
    nl_attr(&q, RTA_OIF, &ifindex, sizeof ifindex);
    return nl_call(sock, &q);
}

static bool parse_mac(const char *s, uint8_t mac[6]) {
    unsigned v[6];
    char tail;
    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
        return false;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return strlen(s) == 17 && !(mac[0] & 1); /* a unicast address */
}

static void net_config(struct request *r) {
    uint32_t id = r->id;
    if (!r->ifname || !r->ifname[0] || strlen(r->ifname) >= IFNAMSIZ || strchr(r->ifname, '/')) {
        send_error(id, "BAD_REQUEST", "NET_CONFIG: IFNAME missing or not an interface name");
        return;
    }
    uint8_t mac[6];
    if (r->mac && !parse_mac(r->mac, mac)) {
        send_error(id, "BAD_REQUEST", "NET_CONFIG: MAC '%.40s' is not a unicast aa:bb:cc:dd:ee:ff", r->mac);
        return;
    }
    struct cidr addrs[16], gw;
    if (r->naddrs > 16) {
        send_error(id, "BAD_REQUEST", "NET_CONFIG: at most 16 ADDR fields");
        return;
    }
    for (size_t i = 0; i < r->naddrs; i++) {
        if (!parse_cidr(r->addrs[i], &addrs[i], true)) {
            send_error(id, "BAD_REQUEST", "NET_CONFIG: ADDR '%.60s' is not an IP address/prefix",
                       r->addrs[i]);
            return;
        }
    }
    if (r->gateway && !parse_cidr(r->gateway, &gw, false)) {
        send_error(id, "BAD_REQUEST", "NET_CONFIG: GATEWAY '%.60s' is not an IP address", r->gateway);
        return;
    }
    if (refused_in_test_mode(r, "NET_CONFIG"))
        return;
    int ifindex = (int)if_nametoindex(r->ifname);
    if (!ifindex) {
        send_error(id, "FAILED", "NET_CONFIG: interface %s: %s", r->ifname, strerror(errno));
        return;
    }
    /* Duplicate address detection would hold a fresh clone's address back for ~1 s. */
    char path[96];
    snprintf(path, sizeof path, "/proc/sys/net/ipv6/conf/%s/accept_dad", r->ifname);
    int dfd = open(path, O_WRONLY | O_CLOEXEC);
    if (dfd >= 0) {
        if (write(dfd, "0", 1) != 1)
            logmsg("%s: %s", path, strerror(errno));
        close(dfd);
    }

    int ioc = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", r->ifname);
    const char *step = "SIOCGIFFLAGS";
    int rc = 0;
    if (ioc < 0 || nl < 0) {
        step = "socket";
        goto fail;
    }
    if (ioctl(ioc, SIOCGIFFLAGS, &ifr) < 0)
        goto fail;
    short flags = ifr.ifr_flags;
    if (r->mac) { /* the MAC can only change while the link is down */
        step = "SIOCSIFFLAGS down";
        ifr.ifr_flags = (short)(flags & ~IFF_UP);
        if (ioctl(ioc, SIOCSIFFLAGS, &ifr) < 0)
            goto fail;
        step = "SIOCSIFHWADDR";
        ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
        memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
        if (ioctl(ioc, SIOCSIFHWADDR, &ifr) < 0)
            goto fail;
    }
    step = "SIOCSIFFLAGS up";
    ifr.ifr_flags = (short)(flags | IFF_UP);
    if (ioctl(ioc, SIOCSIFFLAGS, &ifr) < 0)
        goto fail;
    if (r->naddrs) {
        step = "flush addresses";
        if ((rc = flush_global_addrs(nl, ifindex)) < 0)
            goto fail;
        step = "add address";
        for (size_t i = 0; i < r->naddrs; i++)
            if ((rc = add_addr(nl, ifindex, &addrs[i])) < 0)
                goto fail;
    }
    if (r->gateway) {
        step = "add default route";
        if ((rc = add_default_route(nl, ifindex, &gw)) < 0)
            goto fail;
    }
    close(ioc);
    close(nl);
    send_ok(id);
    return;
fail:
    if (rc < 0)
        errno = -rc;
    send_error(id, "FAILED", "NET_CONFIG: %s on %s: %s", step, r->ifname, strerror(errno));
    if (ioc >= 0)
        close(ioc);
    if (nl >= 0)
        close(nl);
}

void control_handle(struct request *r) {
    switch (r->type) {
    case T_HELLO_REQ:
        if (r->new_host) {
            size_t n = exec_end_all();
            if (n)
                logmsg("a new host: killed %zu command%s started for an earlier one", n, n == 1 ? "" : "s");
        }
        if (r->new_session)
            session_start();
        send_hello(r->id);
        break;
    case T_PING: send_ok(r->id); break;
    case T_SET_TIME: set_time(r); break;
    case T_ADD_ENTROPY: add_entropy(r); break;
    case T_SET_HOSTNAME: set_hostname(r); break;
    case T_FS_SYNC: fs_start(r, "FS_SYNC: sync", do_sync, 0); break;
    case T_FS_FREEZE: freeze(r, true); break;
    case T_FS_THAW: freeze(r, false); break;
    case T_NET_CONFIG: net_config(r); break;
    case T_GROW_ROOTFS: grow_rootfs(r); break;
    default: send_error(r->id, "UNKNOWN_TYPE", "unknown message type 0x%02x", r->type); break;
    }
}
