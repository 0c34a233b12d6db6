/* PID 1 duties: filesystems, kernel modules, loopback, hostname, optional switch to a root
 * disk, and finding the virtio-serial port named `agent`. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4
#endif

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void mount_fs(const char *src, const char *dir, const char *type, unsigned long flags,
                     const char *opts) {
    mkdir(dir, 0755);
    if (mount(src, dir, type, flags, opts) < 0 && errno != EBUSY)
        logmsg("mount %s on %s: %s", type, dir, strerror(errno));
}

/* Children get explicit stdio, but fds 0-2 must be occupied so that no pipe lands there. */
static void ensure_std_fds(void) {
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) >= 0)
            continue;
        int n = open("/dev/console", O_RDWR | O_NOCTTY);
        if (n < 0)
            n = open("/dev/null", O_RDWR);
        if (n >= 0 && n != fd) {
            dup2(n, fd);
            close(n);
        }
    }
}

static void load_modules(const char *list) {
    FILE *f = fopen(list, "re");
    if (!f)
        return;
    char line[512];
    int loaded = 0;
    uint64_t t0 = now_ms();
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#')
            continue;
        int fd = open(line, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            logmsg("module %s: %s", line, strerror(errno));
            continue;
        }
        long rc = syscall(SYS_finit_module, fd, "", 0);
        if (rc < 0 && (errno == ENOEXEC || errno == EINVAL) &&
            (strstr(line, ".ko.") != NULL)) /* .ko.xz/.ko.zst: let the kernel decompress */
            rc = syscall(SYS_finit_module, fd, "", MODULE_INIT_COMPRESSED_FILE);
        if (rc < 0 && errno != EEXIST)
            logmsg("module %s: %s", line, strerror(errno));
        else
            loaded++;
        close(fd);
    }
    fclose(f);
    logmsg("%d modules in %llu ms", loaded, (unsigned long long)(now_ms() - t0));
}

static void loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0 ||
        (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) < 0))
        logmsg("lo up: %s", strerror(errno));
    if (s >= 0)
        close(s);
}

/* Value of `key=` on the kernel command line, or NULL. */
static char *cmdline_get(const char *cmdline, const char *key) {
    size_t klen = strlen(key);
    for (const char *p = cmdline; *p;) {
        p += strspn(p, " \n");
        size_t n = strcspn(p, " \n");
        if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=')
            return strndup(p + klen + 1, n - klen - 1);
        p += n;
    }
    return NULL;
}

/* Like busybox switch_root, but we stay PID 1 and keep running: the agent's own text stays
 * mapped from the initramfs, which is simply no longer reachable by path. */
static void switch_root(const char *dev, const char *fstype) {
    struct stat st;
    uint64_t t0 = now_ms();
    while (stat(dev, &st) < 0) { /* devtmpfs creates the node once virtio_blk has probed */
        if (now_ms() - t0 > 10000) {
            logmsg("root %s did not appear; staying in the initramfs", dev);
            return;
        }
        sleep_ms(5);
    }
    mkdir("/newroot", 0755);
    if (mount(dev, "/newroot", fstype, 0, NULL) < 0) {
        logmsg("mount %s (%s) on /newroot: %s; staying in the initramfs", dev, fstype, strerror(errno));
        return;
    }
    umount2("/tmp", MNT_DETACH); /* the disk's own /tmp takes over */
    static const char *moved[] = {"/dev", "/proc", "/sys", "/run"};
    for (size_t i = 0; i < sizeof moved / sizeof *moved; i++) {
        char target[64];
        snprintf(target, sizeof target, "/newroot%s", moved[i]);
        mkdir(target, 0755);
        if (mount(moved[i], target, NULL, MS_MOVE, NULL) < 0)
            logmsg("move %s: %s", moved[i], strerror(errno));
    }
    if (chdir("/newroot") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
        chdir("/") < 0) {
        logmsg("switch to %s failed: %s", dev, strerror(errno));
        return;
    }
    logmsg("root is %s", dev);
}

void init_system(void) {
    const unsigned long nsx = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    mount_fs("proc", "/proc", "proc", nsx, NULL);
    mount_fs("sysfs", "/sys", "sysfs", nsx, NULL);
    mount_fs("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    ensure_std_fds();
    mount_fs("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666");
    mount_fs("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_fs("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_fs("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    /* what shells expect to find in /dev (udev would create these) */
    symlink("/proc/self/fd", "/dev/fd");
    symlink("/proc/self/fd/0", "/dev/stdin");
    symlink("/proc/self/fd/1", "/dev/stdout");
    symlink("/proc/self/fd/2", "/dev/stderr");
    logmsg("%s starting as PID 1", AGENT_VERSION);

    load_modules("/etc/fastvm/modules");
    loopback_up();

    char cmdline[4096] = "";
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
        cmdline[n > 0 ? n : 0] = 0;
        close(fd);
    }
    char *host = cmdline_get(cmdline, "fastvm.hostname");
    if (host && sethostname(host, strlen(host)) < 0)
        logmsg("hostname %s: %s", host, strerror(errno));
    free(host);
    char *root = cmdline_get(cmdline, "fastvm.root");
    if (root) {
        char *type = cmdline_get(cmdline, "fastvm.rootfstype");
        switch_root(root, type ? type : "ext4");
        free(type);
        free(root);
    }
}

char *find_agent_port(void) {
    uint64_t t0 = now_ms();
    bool warned = false;
    for (;;) {
        /* Ports and their names arrive asynchronously after virtio_console probes. */
        DIR *d = opendir("/sys/class/virtio-ports");
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            char path[300], name[64] = "";
            snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", de->d_name);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            ssize_t n = read(fd, name, sizeof name - 1);
            close(fd);
            name[n > 0 ? n : 0] = 0;
            name[strcspn(name, "\n")] = 0;
            snprintf(path, sizeof path, "/dev/%s", de->d_name);
            if (strcmp(name, "agent") == 0 && access(path, R_OK | W_OK) == 0) {
                closedir(d);
                return strdup(path);
            }
        }
        if (d)
            closedir(d);
        if (!warned && now_ms() - t0 > 5000) {
            logmsg("still waiting for a virtio port named 'agent'");
            warned = true;
        }
        sleep_ms(2);
    }
}
