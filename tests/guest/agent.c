/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A minimal QEMU guest agent for the test guest: enough of the protocol
 * for libvirt's quiesce (guest-sync, guest-ping, guest-fsfreeze-freeze,
 * guest-fsfreeze-thaw), on the virtio-serial port
 * org.qemu.guest_agent.0.  The guest has no file system to freeze (the
 * workload writes its disk raw); the agent reports one frozen file system
 * and prints "WL FREEZE t=..." and "WL THAW t=..." (seconds of
 * CLOCK_MONOTONIC) on its standard output, the console, so that a test
 * sees when libvirt froze and thawed the guest.  It exits when no such
 * port appears within 10 s.
 */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PORT_NAME "org.qemu.guest_agent.0"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* /dev/vportNpM of the port named PORT_NAME, or "" */
static void find_port(char *dev, size_t len)
{
    DIR *d = opendir("/sys/class/virtio-ports");
    struct dirent *e;

    dev[0] = 0;
    if (!d) {
        return;
    }
    while ((e = readdir(d))) {
        char path[512], name[128] = "";
        FILE *f;

        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name",
                 e->d_name);
        f = fopen(path, "r");
        if (!f) {
            continue;
        }
        if (fgets(name, sizeof(name), f)) {
            name[strcspn(name, "\n")] = 0;
        }
        fclose(f);
        if (!strcmp(name, PORT_NAME)) {
            snprintf(dev, len, "/dev/%s", e->d_name);
            break;
        }
    }
    closedir(d);
}

static void reply(int fd, const char *line)
{
    char out[256];
    const char *id;

    if (strstr(line, "\"guest-sync\"")) {
        id = strstr(line, "\"id\"");
        id = id ? strchr(id, ':') : NULL;
        snprintf(out, sizeof(out), "{\"return\": %llu}\n",
                 id ? strtoull(id + 1, NULL, 10) : 0ULL);
    } else if (strstr(line, "\"guest-ping\"")) {
        snprintf(out, sizeof(out), "{\"return\": {}}\n");
    } else if (strstr(line, "\"guest-fsfreeze-freeze\"")) {
        printf("WL FREEZE t=%.3f\n", now());
        fflush(stdout);
        snprintf(out, sizeof(out), "{\"return\": 1}\n");
    } else if (strstr(line, "\"guest-fsfreeze-thaw\"")) {
        printf("WL THAW t=%.3f\n", now());
        fflush(stdout);
        snprintf(out, sizeof(out), "{\"return\": 1}\n");
    } else {
        snprintf(out, sizeof(out), "{\"error\": {\"class\": "
                 "\"CommandNotFound\", \"desc\": \"not in the test "
                 "agent\"}}\n");
    }
    if (write(fd, out, strlen(out)) < 0) {
        perror("agent: write");
    }
}

int main(void)
{
    char dev[300], buf[4096];
    size_t used = 0;
    int fd, i;

    for (i = 0; i < 100; i++) {
        find_port(dev, sizeof(dev));
        if (dev[0] && access(dev, R_OK | W_OK) == 0) {
            break;
        }
        usleep(100000);
    }
    if (!dev[0]) {
        return 0;
    }
    fd = open(dev, O_RDWR);
    if (fd < 0) {
        perror("agent: open");
        return 1;
    }
    for (;;) {
        ssize_t n = read(fd, buf + used, sizeof(buf) - 1 - used);
        char *nl;

        if (n <= 0) {
            /* no host end yet, or it went away: wait for it */
            usleep(100000);
            continue;
        }
        used += n;
        buf[used] = 0;
        while ((nl = strchr(buf, '\n'))) {
            *nl = 0;
            reply(fd, buf);
            used -= nl + 1 - buf;
            memmove(buf, nl + 1, used + 1);
        }
        if (used == sizeof(buf) - 1) {
            used = 0;
        }
    }
}
