/* fastvm-agent entry point: PID 1 in a microVM, or a test-mode client of a unix socket. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

static void usage(void) {
    fprintf(stderr,
            "usage: fastvm-agent                 serve the virtio port named 'agent' (PID 1: also init)\n"
            "       fastvm-agent --connect PATH [--once]\n"
            "                                    test mode: serve a host listening on unix socket PATH;\n"
            "                                    reconnect when it closes (exit instead with --once);\n"
            "                                    exit when PATH no longer exists\n"
            "       fastvm-agent --version\n");
}

int main(int argc, char **argv) {
    const char *connect_path = NULL;
    bool once = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--connect") == 0 && i + 1 < argc) {
            connect_path = argv[++i];
        } else if (strcmp(argv[i], "--once") == 0) {
            once = true;
        } else if (strcmp(argv[i], "--version") == 0) {
            puts(AGENT_VERSION);
            return 0;
        } else {
            usage();
            return 2;
        }
    }
    if (getpid() == 1 && !connect_path) {
        init_system();
    } else {
        /* Not init: adopt orphaned background jobs anyway so they are reaped like under PID 1. */
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        for (int fd = 0; fd < 3; fd++)
            if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
                return 1;
    }
    exec_raise_fd_limit();
    int rc = run_loop(connect_path, once);
    if (getpid() == 1) /* init must never exit (the kernel would panic): keep reaping orphans */
        for (;;)
            if (waitpid(-1, NULL, 0) < 0)
                sleep(1); /* no children right now */
    return rc;
}
