/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-savevm-live end-to-end test guest workload.
 *
 * Runs as the main job of the test guest (started by tests/guest/init).  It
 * keeps a memory area dirty at a chosen rate and checks, all the time, that
 * the memory and the disk it sees are consistent with each other and with
 * its own state.  After a snapshot is restored the process simply goes on
 * where it was, so a snapshot whose RAM pages or whose disk were not all
 * captured at one instant shows up as an INCONSISTENT or MISMATCH line.
 *
 * Memory.  The area is N MiB of 4 KiB pages.  Every page holds a header
 * (magic, generation, page index, checksum) and a non-zero pattern derived
 * from generation and index; the checksum covers the whole page.  The
 * initial fill writes generation 0.  Sweep g then rewrites pages 0..N-1 in
 * order with generation g, keeping the sweep position in st.pos, so at any
 * instant:
 *
 *     pages [0, st.pos) carry st.gen, pages [st.pos, N) carry st.gen - 1
 *
 * This is checked (1) for each page right before it is overwritten, so that
 * every page is verified once per sweep whenever the restore happened, and
 * (2) over the whole area at the end of every sweep, after a detected time
 * jump and, in idle mode, once per verify interval.
 *
 * Disk.  Now and then the workload writes a block (boot id, sequence
 * number, generation) to the raw disk with O_DIRECT|O_DSYNC and reads it
 * back (O_DIRECT) to compare with its RAM copy.  The RAM copy has two
 * fields: disk_pending, set before the write is issued, and disk_last, set
 * after it completed.  A snapshot taken at any instant sees on the disk
 * either the old block (== disk_last until the write completes) or the new
 * one (== disk_pending once the write reached the disk, even if the guest
 * has not seen the completion yet), so the rule is
 *
 *     MATCH iff disk.boot == boot id and disk.seq in {disk_last, disk_pending}
 *
 * A disk snapshot taken at another instant than the RAM snapshot (with at
 * least one disk write in between) breaks it.
 *
 * Stalls.  The time between consecutive page writes (CLOCK_MONOTONIC) is
 * the guest-visible stall.  Time spent on purpose elsewhere (printing,
 * verifying, rate-limit sleeps) is not counted; the synchronous disk write
 * is not either, unless --disk-stall=1: then the workload behaves like a
 * database whose main loop waits for its own O_DSYNC writes, and the time
 * of each write is part of the gap it falls in.  Either way the latency of
 * the disk writes is reported on its own (diskw_max_ms, the longest write;
 * diskw_n, the writes done).
 *
 * Every output line starts with "WL " so that host-side parsers can grep.
 * START, CONSISTENT and MATCH lines carry the boot id: a restored guest goes
 * on with the boot id of the snapshot, a freshly booted one has a new one.
 *
 * Options (argv; tests/guest/init turns kernel "wl.KEY=VALUE" into
 * "--KEY=VALUE"):
 *   --mib=N             memory area size in MiB (default 64)
 *   --mode=MODE         full: sweep as fast as possible (default)
 *                       moderate: sweep at --rate MiB/s
 *                       idle: fill once, then only verify and report
 *   --rate=R            MiB/s for moderate mode (default 64)
 *   --disk=PATH         raw disk to write to (default /dev/vda; "none")
 *   --disk-offset=B     byte offset of the block on the disk (default 0)
 *   --disk-ms=MS        interval between disk writes (default 1000)
 *   --disk-stall=0|1    count the disk writes' time as stall (default 0)
 *   --verify-ms=MS      idle mode: interval between checks (default 1000)
 *   --duration=S        exit after S seconds (default 0: run forever)
 *   --debug-corrupt-page=S  after S seconds, corrupt a page behind the
 *                       sweep position (tests the checker)
 *   --debug-corrupt-disk=S  after S seconds, write a wrong sequence number
 *                       to the disk (tests the disk check)
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define WL_PAGE_SIZE    4096
#define WL_PAGE_WORDS   (WL_PAGE_SIZE / 8)
#define WL_PAGE_MAGIC   UINT64_C(0x31454741504c5751)    /* "QWLPAGE1" */
#define WL_DISK_MAGIC   UINT64_C(0x314b5344574c5351)    /* "QSLWDSK1" */
#define WL_HDR_MAGIC    0
#define WL_HDR_GEN      1
#define WL_HDR_INDEX    2
#define WL_HDR_CSUM     3
#define WL_HDR_WORDS    4
#define WL_K1           UINT64_C(0x9e3779b97f4a7c15)
#define WL_K2           UINT64_C(0xbf58476d1ce4e5b9)
#define WL_K3           UINT64_C(0x94d049bb133111eb)
/* Pages between two looks at the clock-driven work (report, disk). */
#define WL_TICK_PAGES   64
#define NS_PER_MS       INT64_C(1000000)
#define NS_PER_SEC      INT64_C(1000000000)

typedef enum {
    MODE_FULL,
    MODE_MODERATE,
    MODE_IDLE,
} WlMode;

typedef struct WlConfig {
    uint64_t mib;
    WlMode mode;
    uint64_t rate_mib;
    const char *disk;
    uint64_t disk_offset;
    int64_t disk_ms;
    bool disk_stall;
    int64_t verify_ms;
    int64_t duration_s;
    int64_t corrupt_page_s;
    int64_t corrupt_disk_s;
} WlConfig;

/* Everything the invariants are about lives here, in RAM. */
typedef struct WlState {
    uint64_t *area;
    uint64_t npages;
    uint64_t gen;               /* generation being written */
    uint64_t pos;               /* pages [0, pos) carry gen, the rest gen - 1 */
    uint64_t boot_id;
    uint64_t pages_written;     /* all-time, fill included */
    bool inconsistent;          /* sticky: some check failed */

    /* disk */
    int disk_fd;
    uint64_t *disk_buf;         /* WL_PAGE_SIZE, aligned for O_DIRECT */
    uint64_t disk_pending;      /* sequence number being written */
    uint64_t disk_last;         /* last sequence number known written */
    int64_t disk_next_ns;
    uint64_t disk_mismatches;
    int64_t disk_write_ns;      /* the last write's latency */
    int64_t diskw_max_ns;       /* all-time, and since the last STATS line */
    int64_t int_diskw_max_ns;
    uint64_t diskw_n;
    uint64_t int_diskw_n;

    /* time */
    int64_t start_ns;
    int64_t last_write_ns;      /* 0: no write to measure against */
    int64_t real_offset_ns;     /* CLOCK_REALTIME - CLOCK_MONOTONIC */
    int64_t last_tick_ns;
    int64_t next_report_ns;
    bool verify_requested;
    uint64_t bad_in_sweep;      /* pages that failed the pre-write check */

    /* stalls: all-time and since the last STATS line */
    int64_t maxstall_ns;
    uint64_t stalls1;
    uint64_t stalls10;
    int64_t int_maxstall_ns;
    uint64_t int_stalls1;
    uint64_t int_stalls10;
    uint64_t int_pages;
    int64_t int_start_ns;

    /* moderate mode */
    int64_t rate_start_ns;
    uint64_t rate_start_pages;

    bool corrupted_page;
    bool corrupted_disk;
} WlState;

static WlConfig cfg = {
    .mib = 64,
    .mode = MODE_FULL,
    .rate_mib = 64,
    .disk = "/dev/vda",
    .disk_offset = 0,
    .disk_ms = 1000,
    .verify_ms = 1000,
    .duration_s = 0,
    .corrupt_page_s = -1,
    .corrupt_disk_s = -1,
};

static WlState st = {
    .disk_fd = -1,
};

static const char *mode_name(WlMode m)
{
    switch (m) {
    case MODE_FULL:
        return "full";
    case MODE_MODERATE:
        return "moderate";
    case MODE_IDLE:
        return "idle";
    }
    return "?";
}

/* One write(2) per line, so that lines never interleave or sit in a buffer. */
static void __attribute__((format(printf, 1, 2))) wl_print(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n;
    size_t len, done = 0;

    memcpy(buf, "WL ", 3);
    va_start(ap, fmt);
    n = vsnprintf(buf + 3, sizeof(buf) - 4, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    len = 3 + ((size_t)n < sizeof(buf) - 4 ? (size_t)n : sizeof(buf) - 5);
    buf[len++] = '\n';
    while (done < len) {
        ssize_t r = write(STDOUT_FILENO, buf + done, len - done);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return;
        }
        done += r;
    }
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int64_t now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static double since_start(int64_t t)
{
    return (double)(t - st.start_ns) / NS_PER_SEC;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= WL_K2;
    x ^= x >> 27;
    x *= WL_K3;
    x ^= x >> 31;
    return x;
}

/*
 * Checksum of a page with the checksum word taken as zero.  Four lanes so
 * that it is not one long multiply chain.
 */
static uint64_t page_csum(const uint64_t *w)
{
    uint64_t a[4] = { 1, 2, 3, 4 };
    size_t i;

    a[0] = (a[0] ^ w[WL_HDR_MAGIC]) * WL_K1;
    a[1] = (a[1] ^ w[WL_HDR_GEN]) * WL_K1;
    a[2] = (a[2] ^ w[WL_HDR_INDEX]) * WL_K1;
    for (i = WL_HDR_WORDS; i < WL_PAGE_WORDS; i += 4) {
        a[0] = (a[0] ^ w[i]) * WL_K1;
        a[1] = (a[1] ^ w[i + 1]) * WL_K1;
        a[2] = (a[2] ^ w[i + 2]) * WL_K1;
        a[3] = (a[3] ^ w[i + 3]) * WL_K1;
    }
    return mix64(a[0] ^ mix64(a[1] ^ mix64(a[2] ^ mix64(a[3]))));
}

/* Write generation @gen into page @idx: header, pattern, checksum. */
static void page_write(uint64_t idx, uint64_t gen)
{
    uint64_t *w = st.area + idx * WL_PAGE_WORDS;
    uint64_t seed = mix64(gen * WL_K1 ^ idx ^ st.boot_id);
    size_t i;

    w[WL_HDR_MAGIC] = WL_PAGE_MAGIC;
    w[WL_HDR_GEN] = gen;
    w[WL_HDR_INDEX] = idx;
    for (i = WL_HDR_WORDS; i < WL_PAGE_WORDS; i++) {
        /* top bit set: never a zero word, so never a zero page */
        w[i] = (seed + i * WL_K1) | (UINT64_C(1) << 63);
    }
    w[WL_HDR_CSUM] = page_csum(w);
}

static void report_inconsistent(uint64_t idx, uint64_t expect_gen,
                                const char *where)
{
    const uint64_t *w = st.area + idx * WL_PAGE_WORDS;

    st.inconsistent = true;
    wl_print("INCONSISTENT page=%" PRIu64 " where=%s gen=%" PRIu64
             " expect_gen=%" PRIu64 " index=%" PRIu64 " magic=%s csum=%s"
             " sweep_gen=%" PRIu64 " pos=%" PRIu64,
             idx, where, w[WL_HDR_GEN], expect_gen, w[WL_HDR_INDEX],
             w[WL_HDR_MAGIC] == WL_PAGE_MAGIC ? "ok" : "bad",
             page_csum(w) == w[WL_HDR_CSUM] ? "ok" : "bad", st.gen, st.pos);
}

static bool page_ok(uint64_t idx, uint64_t gen)
{
    const uint64_t *w = st.area + idx * WL_PAGE_WORDS;

    return w[WL_HDR_MAGIC] == WL_PAGE_MAGIC && w[WL_HDR_GEN] == gen &&
           w[WL_HDR_INDEX] == idx && w[WL_HDR_CSUM] == page_csum(w);
}

static void tick(bool writing);

/* After sleeping on purpose: the next tick must not see a time jump. */
static void tick_resync(void)
{
    int64_t t = now_ns();

    st.last_tick_ns = t;
    st.real_offset_ns = clock_ns(CLOCK_REALTIME) - t;
}

/*
 * Check the whole area against the invariant for the current st.gen and
 * st.pos.  Prints CONSISTENT or the first bad page.
 */
static bool verify_all(const char *where, int64_t sweep_ns)
{
    int64_t t0 = now_ns();
    uint64_t i;

    st.verify_requested = false;
    for (i = 0; i < st.npages; i++) {
        uint64_t expect = i < st.pos ? st.gen : st.gen - 1;

        if (!page_ok(i, expect)) {
            report_inconsistent(i, expect, where);
            return false;
        }
        if (i % 1024 == 0) {
            tick(false);
        }
    }
    wl_print("CONSISTENT gen=%" PRIu64 " pos=%" PRIu64 " where=%s"
             " verify_ms=%.1f sweep_ms=%.1f boot=%016" PRIx64, st.gen,
             st.pos, where, (double)(now_ns() - t0) / NS_PER_MS,
             (double)sweep_ns / NS_PER_MS, st.boot_id);
    return true;
}

/* Disk block: words 0..5, checksum in word 5; the rest of the block zero. */
static uint64_t disk_csum(const uint64_t *b)
{
    return mix64(b[0] ^ mix64(b[1] ^ mix64(b[2] ^ mix64(b[3] ^
                 mix64(b[4])))));
}

/* Read the block back and compare with the RAM copy. */
static bool disk_compare(bool print_match)
{
    uint64_t *b = st.disk_buf;
    const char *why = NULL;
    ssize_t r;

    if (st.disk_fd < 0) {
        return true;
    }
    r = pread(st.disk_fd, b, WL_PAGE_SIZE, cfg.disk_offset);
    if (r != WL_PAGE_SIZE) {
        wl_print("DISK ERROR read: %s", r < 0 ? strerror(errno) : "short");
        st.disk_mismatches++;
        return false;
    }
    if (b[0] != WL_DISK_MAGIC) {
        why = "magic";
    } else if (b[5] != disk_csum(b)) {
        why = "csum";
    } else if (b[1] != st.boot_id) {
        why = "boot";
    } else if (b[2] != st.disk_last && b[2] != st.disk_pending) {
        why = "seq";
    }
    if (why) {
        st.disk_mismatches++;
        wl_print("MISMATCH disk=%" PRIu64 " ram=%" PRIu64 " pending=%" PRIu64
                 " why=%s disk_boot=%016" PRIx64 " boot=%016" PRIx64
                 " disk_gen=%" PRIu64 " gen=%" PRIu64,
                 b[2], st.disk_last, st.disk_pending, why, b[1], st.boot_id,
                 b[3], st.gen);
        return false;
    }
    if (print_match) {
        wl_print("MATCH disk=%" PRIu64 " ram=%" PRIu64 " pending=%" PRIu64
                 " gen=%" PRIu64 " boot=%016" PRIx64, b[2], st.disk_last,
                 st.disk_pending, st.gen, st.boot_id);
    }
    return true;
}

static void disk_write_seq(uint64_t seq)
{
    uint64_t *b = st.disk_buf;
    int64_t t0;
    ssize_t r;

    memset(b, 0, WL_PAGE_SIZE);
    b[0] = WL_DISK_MAGIC;
    b[1] = st.boot_id;
    b[2] = seq;
    b[3] = st.gen;
    b[4] = st.pos;
    b[5] = disk_csum(b);
    t0 = now_ns();
    r = pwrite(st.disk_fd, b, WL_PAGE_SIZE, cfg.disk_offset);
    st.disk_write_ns = now_ns() - t0;
    if (r != WL_PAGE_SIZE) {
        wl_print("DISK ERROR write: %s", r < 0 ? strerror(errno) : "short");
    }
    if (st.disk_write_ns > st.diskw_max_ns) {
        st.diskw_max_ns = st.disk_write_ns;
    }
    if (st.disk_write_ns > st.int_diskw_max_ns) {
        st.int_diskw_max_ns = st.disk_write_ns;
    }
    st.diskw_n++;
    st.int_diskw_n++;
}

/*
 * Compare, then write the next sequence number.  disk_pending before the
 * write, disk_last after it: see the rule at the top of the file.
 */
static void disk_update(void)
{
    if (st.disk_fd < 0) {
        return;
    }
    disk_compare(false);
    st.disk_pending = st.disk_last + 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    disk_write_seq(st.disk_pending);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    st.disk_last = st.disk_pending;
}

static void disk_open(void)
{
    if (!strcmp(cfg.disk, "none") || !cfg.disk[0]) {
        wl_print("DISK none");
        return;
    }
    if (cfg.disk_offset % WL_PAGE_SIZE) {
        wl_print("DISK ERROR offset %" PRIu64 " not 4 KiB aligned; disk "
                 "checks off", cfg.disk_offset);
        return;
    }
    st.disk_fd = open(cfg.disk, O_RDWR | O_DIRECT | O_DSYNC);
    if (st.disk_fd < 0) {
        wl_print("DISK ERROR open %s: %s; disk checks off", cfg.disk,
                 strerror(errno));
        return;
    }
    wl_print("DISK %s offset=%" PRIu64 " interval_ms=%" PRId64 " stall=%d",
             cfg.disk, cfg.disk_offset, cfg.disk_ms, cfg.disk_stall);
}

static void note_stall(int64_t gap)
{
    if (gap > st.maxstall_ns) {
        st.maxstall_ns = gap;
    }
    if (gap > st.int_maxstall_ns) {
        st.int_maxstall_ns = gap;
    }
    if (gap > NS_PER_MS) {
        st.stalls1++;
        st.int_stalls1++;
    }
    if (gap > 10 * NS_PER_MS) {
        st.stalls10++;
        st.int_stalls10++;
    }
}

static void report(int64_t t)
{
    double secs = (double)(t - st.int_start_ns) / NS_PER_SEC;
    double rate = secs > 0 ?
        (double)st.int_pages * WL_PAGE_SIZE / (1024 * 1024) / secs : 0;

    wl_print("PROGRESS t=%.3f gen=%" PRIu64 " pos=%" PRIu64
             " pages_written=%" PRIu64 " rate=%.1f maxstall_ms=%.3f"
             " stalls1=%" PRIu64 " stalls10=%" PRIu64 " diskw_max_ms=%.3f"
             " diskw_n=%" PRIu64,
             since_start(t), st.gen, st.pos, st.pages_written, rate,
             (double)st.maxstall_ns / NS_PER_MS, st.stalls1, st.stalls10,
             (double)st.diskw_max_ns / NS_PER_MS, st.diskw_n);
    wl_print("STATS t=%.3f interval_ms=%.1f pages=%" PRIu64 " rate=%.1f"
             " maxstall_ms=%.3f stalls1=%" PRIu64 " stalls10=%" PRIu64
             " diskw_max_ms=%.3f diskw_n=%" PRIu64,
             since_start(t), secs * 1000, st.int_pages, rate,
             (double)st.int_maxstall_ns / NS_PER_MS, st.int_stalls1,
             st.int_stalls10, (double)st.int_diskw_max_ns / NS_PER_MS,
             st.int_diskw_n);
    st.int_start_ns = t;
    st.int_pages = 0;
    st.int_maxstall_ns = 0;
    st.int_stalls1 = 0;
    st.int_stalls10 = 0;
    st.int_diskw_max_ns = 0;
    st.int_diskw_n = 0;
}

static void debug_actions(int64_t t)
{
    int64_t secs = (t - st.start_ns) / NS_PER_SEC;

    if (cfg.corrupt_page_s >= 0 && !st.corrupted_page &&
        secs >= cfg.corrupt_page_s && st.pos > 0) {
        uint64_t idx = st.pos / 2;

        st.corrupted_page = true;
        st.area[idx * WL_PAGE_WORDS + 100] ^= 1;
        wl_print("DEBUG corrupted page=%" PRIu64, idx);
    }
    if (cfg.corrupt_disk_s >= 0 && !st.corrupted_disk &&
        secs >= cfg.corrupt_disk_s && st.disk_fd >= 0) {
        st.corrupted_disk = true;
        disk_write_seq(st.disk_last + 1000);
        wl_print("DEBUG corrupted disk seq=%" PRIu64, st.disk_last + 1000);
    }
}

/*
 * Clock-driven work: time jumps, the report, disk writes, debug actions,
 * the end of the run.  Called every WL_TICK_PAGES pages and from the
 * checking loops.  What it spends is not counted as a stall, except the
 * disk write's own time with --disk-stall=1.
 */
static void tick(bool writing)
{
    int64_t t = now_ns();
    int64_t real_off = clock_ns(CLOCK_REALTIME) - t;
    int64_t mono_gap = t - st.last_tick_ns;
    int64_t off_jump = real_off - st.real_offset_ns;
    bool worked = false;
    int64_t disk_ns = 0;

    if (off_jump < 0) {
        off_jump = -off_jump;
    }
    if (mono_gap > NS_PER_SEC || off_jump > NS_PER_SEC / 2) {
        /* A restore, a host stop or a clock step: just go on, but check. */
        wl_print("TIMEJUMP t=%.3f mono_gap_ms=%.1f realtime_jump_ms=%.1f",
                 since_start(t), (double)mono_gap / NS_PER_MS,
                 (double)(real_off - st.real_offset_ns) / NS_PER_MS);
        st.verify_requested = true;
        worked = true;
    }
    st.real_offset_ns = real_off;
    st.last_tick_ns = t;

    if (t >= st.next_report_ns) {
        report(t);
        st.next_report_ns = t + NS_PER_SEC;
        worked = true;
    }
    if (writing && st.disk_fd >= 0 && t >= st.disk_next_ns) {
        disk_update();
        st.disk_next_ns = t + cfg.disk_ms * NS_PER_MS;
        disk_ns = cfg.disk_stall ? st.disk_write_ns : 0;
        worked = true;
    }
    debug_actions(t);
    if (cfg.duration_s > 0 && t - st.start_ns >= cfg.duration_s * NS_PER_SEC) {
        wl_print("DONE t=%.3f gen=%" PRIu64 " pages_written=%" PRIu64
                 " maxstall_ms=%.3f stalls1=%" PRIu64 " stalls10=%" PRIu64
                 " inconsistent=%d disk_mismatches=%" PRIu64,
                 since_start(t), st.gen, st.pages_written,
                 (double)st.maxstall_ns / NS_PER_MS, st.stalls1, st.stalls10,
                 st.inconsistent, st.disk_mismatches);
        exit(st.inconsistent || st.disk_mismatches ? 1 : 0);
    }
    if (worked && st.last_write_ns) {
        /* the gap goes on from here, or from before the disk write */
        st.last_write_ns = now_ns() - disk_ns;
    }
}

/* Moderate mode: sleep when ahead of the rate; the sleep is no stall. */
static void rate_limit(void)
{
    int64_t t = now_ns();
    uint64_t done = st.pages_written - st.rate_start_pages;
    int64_t due = st.rate_start_ns +
        (int64_t)((double)done * WL_PAGE_SIZE * NS_PER_SEC /
                  ((double)cfg.rate_mib * 1024 * 1024));

    if (due - t > NS_PER_MS) {
        struct timespec ts = {
            .tv_sec = (due - t) / NS_PER_SEC,
            .tv_nsec = (due - t) % NS_PER_SEC,
        };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
            /* again */
        }
        tick_resync();
        st.last_write_ns = now_ns();
    } else if (t - due > NS_PER_SEC) {
        /* far behind (a stop, a restore): do not try to catch up */
        st.rate_start_ns = t;
        st.rate_start_pages = st.pages_written;
    }
}

static void fill(void)
{
    int64_t t0 = now_ns();
    uint64_t i;

    st.gen = 0;
    for (i = 0; i < st.npages; i++) {
        page_write(i, 0);
        st.pos = i + 1;
        st.pages_written++;
        st.int_pages++;
        if (i % (WL_TICK_PAGES * 16) == 0) {
            tick(false);
        }
    }
    /* All pages carry generation 0: that is sweep 1 at position 0. */
    st.gen = 1;
    st.pos = 0;
    /* The rate limit counts from here: the fill is not rate-limited */
    st.rate_start_ns = now_ns();
    st.rate_start_pages = st.pages_written;
    wl_print("READY t=%.3f fill_ms=%.1f pages=%" PRIu64 " mib=%" PRIu64
             " mode=%s", since_start(now_ns()),
             (double)(now_ns() - t0) / NS_PER_MS, st.npages, cfg.mib,
             mode_name(cfg.mode));
}

static void sweep(void)
{
    int64_t t0 = now_ns();

    for (st.pos = 0; st.pos < st.npages;) {
        int64_t t;

        if (st.verify_requested) {
            verify_all("timejump", 0);
            st.last_write_ns = now_ns();
        }
        if (!page_ok(st.pos, st.gen - 1)) {
            /* the first bad page of the sweep is printed, the rest counted */
            if (!st.bad_in_sweep++) {
                report_inconsistent(st.pos, st.gen - 1, "prewrite");
            }
        }
        page_write(st.pos, st.gen);
        st.pos++;
        st.pages_written++;
        st.int_pages++;

        t = now_ns();
        if (st.last_write_ns) {
            note_stall(t - st.last_write_ns);
        }
        st.last_write_ns = t;

        if (st.pos % WL_TICK_PAGES == 0) {
            tick(true);
            if (cfg.mode == MODE_MODERATE) {
                rate_limit();
            }
        }
    }
    if (st.bad_in_sweep) {
        wl_print("BADPAGES gen=%" PRIu64 " count=%" PRIu64, st.gen,
                 st.bad_in_sweep);
        st.bad_in_sweep = 0;
    }
    verify_all("sweep-end", now_ns() - t0);
    disk_compare(true);
    st.gen++;
    st.pos = 0;
    st.last_write_ns = now_ns();
}

static void idle_loop(void)
{
    for (;;) {
        int64_t t = now_ns() + cfg.verify_ms * NS_PER_MS;
        struct timespec ts;

        tick(false);
        verify_all("idle", 0);
        disk_compare(true);
        tick(false);
        ts.tv_sec = t / NS_PER_SEC;
        ts.tv_nsec = t % NS_PER_SEC;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
               EINTR) {
            /* again */
        }
        tick_resync();
    }
}

static uint64_t parse_u64(const char *key, const char *val)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(val, &end, 0);
    if (errno || end == val || *end || val[0] == '-') {
        wl_print("ERROR bad value for %s: '%s'", key, val);
        exit(2);
    }
    return v;
}

static void parse_option(const char *arg)
{
    const char *eq = strchr(arg, '=');
    char key[64];
    const char *val;
    size_t klen;

    if (strncmp(arg, "--", 2) || !eq || (size_t)(eq - arg - 2) >= sizeof(key)) {
        wl_print("ERROR bad argument '%s' (want --KEY=VALUE)", arg);
        exit(2);
    }
    klen = eq - arg - 2;
    memcpy(key, arg + 2, klen);
    key[klen] = 0;
    val = eq + 1;

    if (!strcmp(key, "mib")) {
        cfg.mib = parse_u64(key, val);
    } else if (!strcmp(key, "mode")) {
        if (!strcmp(val, "full")) {
            cfg.mode = MODE_FULL;
        } else if (!strcmp(val, "moderate")) {
            cfg.mode = MODE_MODERATE;
        } else if (!strcmp(val, "idle")) {
            cfg.mode = MODE_IDLE;
        } else {
            wl_print("ERROR bad mode '%s' (full, moderate, idle)", val);
            exit(2);
        }
    } else if (!strcmp(key, "rate")) {
        cfg.rate_mib = parse_u64(key, val);
    } else if (!strcmp(key, "disk")) {
        cfg.disk = val;
    } else if (!strcmp(key, "disk-offset")) {
        cfg.disk_offset = parse_u64(key, val);
    } else if (!strcmp(key, "disk-ms")) {
        cfg.disk_ms = parse_u64(key, val);
    } else if (!strcmp(key, "disk-stall")) {
        cfg.disk_stall = parse_u64(key, val) != 0;
    } else if (!strcmp(key, "verify-ms")) {
        cfg.verify_ms = parse_u64(key, val);
    } else if (!strcmp(key, "duration")) {
        cfg.duration_s = parse_u64(key, val);
    } else if (!strcmp(key, "debug-corrupt-page")) {
        cfg.corrupt_page_s = parse_u64(key, val);
    } else if (!strcmp(key, "debug-corrupt-disk")) {
        cfg.corrupt_disk_s = parse_u64(key, val);
    } else {
        wl_print("ERROR unknown option '--%s'", key);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        parse_option(argv[i]);
    }
    if (cfg.mib == 0 || cfg.mib > (UINT64_C(1) << 30) ||
        (cfg.mode == MODE_MODERATE && cfg.rate_mib == 0)) {
        wl_print("ERROR --mib must be > 0, --rate > 0 in moderate mode");
        return 2;
    }

    st.start_ns = now_ns();
    st.last_tick_ns = st.start_ns;
    st.real_offset_ns = clock_ns(CLOCK_REALTIME) - st.start_ns;
    st.int_start_ns = st.start_ns;
    st.next_report_ns = st.start_ns + NS_PER_SEC;
    /* GRND_INSECURE: early in boot the pool may not be ready; never block */
    if (getrandom(&st.boot_id, sizeof(st.boot_id), GRND_INSECURE) !=
        sizeof(st.boot_id)) {
        st.boot_id = mix64(clock_ns(CLOCK_REALTIME) ^ getpid());
    }
    st.npages = cfg.mib * (1024 * 1024 / WL_PAGE_SIZE);

    wl_print("START mib=%" PRIu64 " pages=%" PRIu64 " mode=%s rate=%" PRIu64
             " boot=%016" PRIx64, cfg.mib, st.npages, mode_name(cfg.mode),
             cfg.rate_mib, st.boot_id);

    st.area = mmap(NULL, st.npages * WL_PAGE_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (st.area == MAP_FAILED) {
        wl_print("ERROR mmap %" PRIu64 " MiB: %s", cfg.mib, strerror(errno));
        return 1;
    }
    st.disk_buf = mmap(NULL, WL_PAGE_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (st.disk_buf == MAP_FAILED) {
        wl_print("ERROR mmap: %s", strerror(errno));
        return 1;
    }
    disk_open();

    fill();
    if (st.disk_fd >= 0) {
        /* the first block of this boot: nothing to compare against yet */
        st.disk_pending = 1;
        disk_write_seq(1);
        st.disk_last = 1;
        st.disk_next_ns = now_ns() + cfg.disk_ms * NS_PER_MS;
        disk_compare(true);
    }

    if (cfg.mode == MODE_IDLE) {
        idle_loop();
    }
    st.last_write_ns = now_ns();
    st.int_start_ns = st.last_write_ns;
    st.int_pages = 0;
    for (;;) {
        sweep();
    }
    return 0;
}
