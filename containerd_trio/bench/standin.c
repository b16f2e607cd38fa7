/*
 * The bench's stand-in runtime: NOT runc. It honours the part of runc's command line that a
 * start, a state query and a delete through containerd-trio use, and costs next to nothing, so
 * that `ctr-trio bench --ceiling` measures the daemon alone. Its "container" is a forked copy
 * of itself that sleeps until killed: no namespaces, no cgroups, no rootfs, no exec. Nothing
 * that claims runc's behaviour may be tested with it.
 *
 *     standin [--root DIR] [--log PATH] [--log-format json] [--criu PATH] COMMAND ...
 *
 *     run -d --bundle DIR --pid-file PATH ID   fork the process, write its pid file, exit: the
 *                                              process keeps the caller's stdio and is left to
 *                                              the nearest subreaper (the daemon's keeper)
 *     state ID                                 runc's JSON: id, pid, status, bundle, created...
 *     list [--format json]                     the same for all, as a JSON array (null if none)
 *     kill [--all] ID [SIGNAL]                 signal the process (SIGTERM by default)
 *     delete [--force] ID                      forget it; --force kills it first and waits
 *
 * A bundle holding a file named `standin-exit` gives a process that exits at once with status
 * 0 instead (for the bench's lifecycles, where runc's would run `true`). Every other command
 * fails with an error in runc's JSON log format (on --log, else on stderr) and exit status 1.
 *
 * What it keeps of a container is one file, <root>/<id>: the JSON `state` prints, with its
 * pid and the process's start time (from /proc, so that a reused pid is never taken for it)
 * first, and without the status, which is read from /proc each time. It is made with
 * O_EXCL (the id's claim), locked until it is written in one write (an empty record that
 * no one holds is a run that was killed, and is undone); the pid file is written in place:
 * its reader waits for the stand-in's exit. (A directory, and each file through a rename as
 * runc writes them, cost the stand-in three inodes and two renames per start, where it is
 * to cost next to nothing; on an ext4 without a journal each new inode is dear.) With
 * CTR_TRIO_STANDIN_RECORDS=DIR in its environment it keeps the records in DIR instead of
 * --root: the bench's ceiling puts them on a tmpfs, since making a file on this machine's
 * ext4 (inode allocation) was most of what a stand-in's run cost; runc keeps its state on a
 * tmpfs too (/run) on most hosts. The pid file stays where the caller asks for it.
 *
 * It is freestanding: built `gcc -static -nostdlib -ffreestanding`, with its own _start, raw
 * system calls and the few helpers of libc it needs (below, under libc's names, doing what
 * libc's do). A static glibc program pays ~0.5 ms of start-up before main (CPU features read
 * with CPUID, ifunc resolution, tunables, TLS), and on a VM where every CPUID is a VM exit
 * (Firecracker) that was more than all the stand-in's own work: the bench's figure was the
 * stand-in's as much as the daemon's (its exec now costs about what an empty program's
 * does). The price: the system call conventions of x86_64 and aarch64 only; strerror's texts
 * for the errors met here only (glibc's wording); realpath by the kernel, through /proc (see
 * resolve), which the start times need anyway.
 */
#include <stdarg.h>
#include <stddef.h>

#include <asm/unistd.h> /* the kernel's headers, for its numbers: no libc's */
#include <linux/errno.h>
#include <linux/fcntl.h>
#include <linux/poll.h>
#include <linux/signal.h>
#include <linux/time.h>
#include <linux/time_types.h>

#define EXIT_MARKER "standin-exit"
/* How long `delete --force` waits for the killed process to be gone (runc waits ~10 s). */
#define KILL_WAIT_MS 10000
/* The kernel's signals are 1 to 64 (glibc's NSIG is 65: one past them). */
#define LAST_SIGNAL 64
#define F_OK 0

typedef long ssize_t;
typedef int pid_t;

/* --- system calls ------------------------------------------------------------------------- */

#if defined(__x86_64__)
static long system_call(long number, long a, long b, long c, long d, long e) {
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    long result;
    __asm__ volatile("syscall"
                     : "=a"(result)
                     : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return result;
}

/* The kernel leaves argc at the stack pointer, then argv; the ABI wants it 16-byte aligned at
 * a call. */
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "    xor %ebp, %ebp\n"
        "    mov %rsp, %rdi\n"
        "    and $-16, %rsp\n"
        "    call start\n"
        "    hlt\n");
#elif defined(__aarch64__)
static long system_call(long number, long a, long b, long c, long d, long e) {
    register long x8 __asm__("x8") = number;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
    return x0;
}

__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "    mov x29, #0\n"
        "    mov x30, #0\n"
        "    mov x0, sp\n"
        "    bl start\n"
        "    brk #0\n");
#else
#error "the stand-in knows the system calls of x86_64 and aarch64 only"
#endif

/* As libc's: the error of the last system call that failed. */
static int errno;

/* libc's convention (-1 and errno) over the kernel's (-errno), so that the code reads as C. */
static long checked(long result) {
    if (result < 0 && result > -4096) {
        errno = (int)-result;
        return -1;
    }
    return result;
}

#define SYSCALL(number, a, b, c, d, e)                                                         \
    checked(system_call(number, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e)))

/* Only the *at calls, clone and ppoll: aarch64 has none of open, mkdir, fork, poll... */
static int open(const char *path, int flags, int mode) {
    return (int)SYSCALL(__NR_openat, AT_FDCWD, path, flags, mode, 0);
}
static ssize_t read(int fd, void *buffer, size_t size) {
    return SYSCALL(__NR_read, fd, buffer, size, 0, 0);
}
static ssize_t write(int fd, const void *buffer, size_t size) {
    return SYSCALL(__NR_write, fd, buffer, size, 0, 0);
}
static int close(int fd) { return (int)SYSCALL(__NR_close, fd, 0, 0, 0, 0); }
static int flock(int fd, int operation) { return (int)SYSCALL(__NR_flock, fd, operation, 0, 0, 0); }
static int mkdir(const char *path, int mode) {
    return (int)SYSCALL(__NR_mkdirat, AT_FDCWD, path, mode, 0, 0);
}
static int unlink(const char *path) { return (int)SYSCALL(__NR_unlinkat, AT_FDCWD, path, 0, 0, 0); }
static int faccessat(int directory, const char *path, int mode) {
    return (int)SYSCALL(__NR_faccessat, directory, path, mode, 0, 0);
}
static ssize_t readlink(const char *path, char *buffer, size_t size) {
    return SYSCALL(__NR_readlinkat, AT_FDCWD, path, buffer, size, 0);
}
static ssize_t getdents64(int fd, void *buffer, size_t size) {
    return SYSCALL(__NR_getdents64, fd, buffer, size, 0, 0);
}
/* fork(2): clone with no sharing, the child going on from here on its copy of the stack. */
static pid_t fork(void) { return (pid_t)SYSCALL(__NR_clone, SIGCHLD, 0, 0, 0, 0); }
static int kill(pid_t pid, int signum) { return (int)SYSCALL(__NR_kill, pid, signum, 0, 0, 0); }
static int pidfd_open(pid_t pid) { return (int)SYSCALL(__NR_pidfd_open, pid, 0, 0, 0, 0); }
static int pidfd_send_signal(int pidfd, int signum) {
    return (int)SYSCALL(__NR_pidfd_send_signal, pidfd, signum, 0, 0, 0);
}
/* poll(2) on one fd: 0 when `milliseconds` passed first; a NULL `fd` waits for a signal. */
static int poll(struct pollfd *fd, long milliseconds) {
    struct __kernel_timespec timeout = {milliseconds / 1000, milliseconds % 1000 * 1000000};
    return (int)SYSCALL(__NR_ppoll, fd, fd != NULL, milliseconds < 0 ? NULL : &timeout, 0, 0);
}
static void clock_realtime(struct __kernel_timespec *now) {
    SYSCALL(__NR_clock_gettime, CLOCK_REALTIME, now, 0, 0, 0);
}

/* _exit(2): at once, nothing flushed (see exit). */
static void exit_now(int status) __attribute__((noreturn));
static void exit_now(int status) {
    for (;;)
        system_call(__NR_exit_group, status, 0, 0, 0, 0);
}

/* --- libc's helpers, as far as the stand-in needs them ------------------------------------ */

/* gcc may call these four even in a freestanding program (to copy or clear a struct, say).
 * Plain loops, which gcc must not turn back into a call to the very function (NOT_A_CALL). */
#define NOT_A_CALL __attribute__((optimize("no-tree-loop-distribute-patterns")))

NOT_A_CALL void *memcpy(void *to, const void *from, size_t size) {
    char *t = to;
    const char *f = from;
    while (size--)
        *t++ = *f++;
    return to;
}

NOT_A_CALL void *memmove(void *to, const void *from, size_t size) {
    char *t = to;
    const char *f = from;
    if (t < f)
        return memcpy(to, from, size);
    while (size--)
        t[size] = f[size];
    return to;
}

NOT_A_CALL void *memset(void *to, int byte, size_t size) {
    unsigned char *t = to;
    while (size--)
        *t++ = (unsigned char)byte;
    return to;
}

NOT_A_CALL int memcmp(const void *a, const void *b, size_t size) {
    const unsigned char *x = a, *y = b;
    for (; size--; x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

static size_t strlen(const char *text) {
    size_t length = 0;
    while (text[length])
        length++;
    return length;
}

static int strncmp(const char *a, const char *b, size_t size) {
    for (; size > 0; a++, b++, size--)
        if (*a != *b || *a == 0)
            return (unsigned char)*a - (unsigned char)*b;
    return 0;
}

static int strcmp(const char *a, const char *b) { return strncmp(a, b, (size_t)-1); }

static char *strrchr(const char *text, char c) {
    const char *found = NULL;
    for (; *text; text++)
        if (*text == c)
            found = text;
    return (char *)found;
}

/* glibc's texts for the errors the stand-in can meet. */
static const char *strerror(int error) {
    static const struct {
        int error;
        const char *text;
    } texts[] = {
        {EPERM, "Operation not permitted"},
        {ENOENT, "No such file or directory"},
        {ESRCH, "No such process"},
        {EINTR, "Interrupted system call"},
        {EIO, "Input/output error"},
        {ENXIO, "No such device or address"},
        {EBADF, "Bad file descriptor"},
        {EAGAIN, "Resource temporarily unavailable"},
        {ENOMEM, "Cannot allocate memory"},
        {EACCES, "Permission denied"},
        {EFAULT, "Bad address"},
        {EBUSY, "Device or resource busy"},
        {EEXIST, "File exists"},
        {ENOTDIR, "Not a directory"},
        {EISDIR, "Is a directory"},
        {EINVAL, "Invalid argument"},
        {ENFILE, "Too many open files in system"},
        {EMFILE, "Too many open files"},
        {ETXTBSY, "Text file busy"},
        {EFBIG, "File too large"},
        {ENOSPC, "No space left on device"},
        {EROFS, "Read-only file system"},
        {EMLINK, "Too many links"},
        {ENAMETOOLONG, "File name too long"},
        {ENOSYS, "Function not implemented"},
        {ELOOP, "Too many levels of symbolic links"},
        {EOVERFLOW, "Value too large for defined data type"},
        {EOPNOTSUPP, "Operation not supported"},
        {ESTALE, "Stale file handle"},
        {EDQUOT, "Disk quota exceeded"},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (texts[i].error == error)
            return texts[i].text;
    return NULL; /* "Unknown error N" (see put_format's %m) */
}

/* Text being made: in a buffer of its own (cut at its size, always 0-terminated), or for a
 * file, written out whenever full (stdout). */
struct text {
    char *data;
    size_t size, length;
    int fd; /* -1: a buffer */
};

static void flush(struct text *t) {
    for (size_t done = 0; t->fd >= 0 && done < t->length;) {
        ssize_t n = write(t->fd, t->data + done, t->length - done);
        if (n <= 0)
            break; /* as stdio: a lost output is no error of the command's */
        done += (size_t)n;
    }
    if (t->fd >= 0)
        t->length = 0;
}

static void put(struct text *t, const char *from, size_t size) {
    for (; size > 0; size--, from++) {
        if (t->length + 1 >= t->size) {
            if (t->fd < 0)
                break;
            flush(t);
        }
        t->data[t->length++] = *from;
    }
    if (t->fd < 0)
        t->data[t->length] = 0;
}

static void put_string(struct text *t, const char *text) { put(t, text, strlen(text)); }

static void put_char(struct text *t, char c) { put(t, &c, 1); }

/* `number` in decimal, with at least `width` digits. */
static void put_number(struct text *t, unsigned long long number, int width) {
    char digits[24];
    int n = 0;
    do {
        digits[sizeof digits - ++n] = (char)('0' + number % 10);
        number /= 10;
    } while (number > 0 || n < width);
    put(t, digits + sizeof digits - n, (size_t)n);
}

static void put_integer(struct text *t, long long number) {
    if (number < 0)
        put_char(t, '-');
    put_number(t, number < 0 ? -(unsigned long long)number : (unsigned long long)number, 1);
}

/* printf's %s, %c, %d and %llu; and %m, strerror(errno) (glibc's). */
static void put_format(struct text *t, const char *format, va_list args) {
    for (const char *f = format; *f; f++) {
        if (*f != '%') {
            put_char(t, *f);
        } else if (f[1] == 's') {
            put_string(t, va_arg(args, const char *));
            f++;
        } else if (f[1] == 'c') {
            put_char(t, (char)va_arg(args, int));
            f++;
        } else if (f[1] == 'd') {
            put_integer(t, va_arg(args, int));
            f++;
        } else if (f[1] == 'l' && f[2] == 'l' && f[3] == 'u') {
            put_number(t, va_arg(args, unsigned long long), 1);
            f += 3;
        } else if (f[1] == 'm') {
            const char *text = strerror(errno);
            if (text != NULL)
                put_string(t, text);
            else {
                put_string(t, "Unknown error ");
                put_integer(t, errno);
            }
            f++;
        } else {
            put_char(t, *f); /* '%' itself: "%%" */
            f += f[1] == '%';
        }
    }
}

static void snprintf(char *buffer, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static void snprintf(char *buffer, size_t size, const char *format, ...) {
    struct text t = {buffer, size, 0, -1};
    va_list args;
    va_start(args, format);
    put_format(&t, format, args);
    va_end(args);
    buffer[t.length] = 0;
}

static char stdout_buffer[1 << 16];
static struct text out = {stdout_buffer, sizeof stdout_buffer, 0, 1};

static void printf(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void printf(const char *format, ...) {
    va_list args;
    va_start(args, format);
    put_format(&out, format, args);
    va_end(args);
}

/* As libc's: what was printed is written out first. */
static void exit(int status) __attribute__((noreturn));
static void exit(int status) {
    flush(&out);
    exit_now(status);
}

/* --- the stand-in ------------------------------------------------------------------------- */

static const char *log_path;

static void fail(const char *format, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void json_string(struct text *t, const char *text) {
    static const char hex[] = "0123456789abcdef";
    put_char(t, '"');
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\') {
            put_char(t, '\\');
            put_char(t, (char)*c);
        } else if (*c < 0x20) {
            put_string(t, "\\u00");
            put_char(t, hex[*c >> 4]);
            put_char(t, hex[*c & 15]);
        } else {
            put_char(t, (char)*c);
        }
    }
    put_char(t, '"');
}

/* The time now as RFC 3339 in UTC, to the nanosecond (2006-01-02T15:04:05.000000000Z): the
 * date from the days since 1970 by Howard Hinnant's civil_from_days, which counts in eras of
 * 400 years (146097 days) from 0000-03-01, so that the leap day is the last of a year. */
static void put_now(struct text *t) {
    struct __kernel_timespec now;
    clock_realtime(&now);
    long long days = now.tv_sec / 86400, second = now.tv_sec % 86400;
    if (second < 0) {
        second += 86400;
        days--;
    }
    days += 719468; /* from 0000-03-01 */
    long long era = (days >= 0 ? days : days - 146096) / 146097;
    long long day_of_era = days - era * 146097;                       /* [0, 146096] */
    long long year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    long long day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    long long month_from_march = (5 * day_of_year + 2) / 153;          /* [0, 11] */
    long long day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    long long month = month_from_march < 10 ? month_from_march + 3 : month_from_march - 9;
    long long year = year_of_era + era * 400 + (month <= 2);

    put_number(t, (unsigned long long)year, 4);
    put_char(t, '-');
    put_number(t, (unsigned long long)month, 2);
    put_char(t, '-');
    put_number(t, (unsigned long long)day, 2);
    put_char(t, 'T');
    put_number(t, (unsigned long long)second / 3600, 2);
    put_char(t, ':');
    put_number(t, (unsigned long long)second / 60 % 60, 2);
    put_char(t, ':');
    put_number(t, (unsigned long long)second % 60, 2);
    put_char(t, '.');
    put_number(t, (unsigned long long)now.tv_nsec, 9);
    put_char(t, 'Z');
}

/* runc's way: one JSON line on the --log file (the caller reads the error from there). */
static void fail(const char *format, ...) {
    char message[1024], line[8192];
    struct text m = {message, sizeof message, 0, -1}, l = {line, sizeof line, 0, -1};
    va_list args;
    va_start(args, format);
    put_format(&m, format, args);
    va_end(args);
    put_string(&l, "{\"level\":\"error\",\"msg\":");
    json_string(&l, message);
    put_string(&l, ",\"time\":\"");
    put_now(&l);
    put_string(&l, "\"}\n");
    int fd = -1;
    if (log_path != NULL)
        fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    struct text error = {line, sizeof line, l.length, fd >= 0 ? fd : 2};
    flush(&error); /* in one write, as stdio's buffer did */
    exit(1);
}

static int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* The decimal number at `*text` (digits only), moving past it; 0 if there is none. */
static int parse_number(const char **text, unsigned long long *number) {
    const char *c = *text;
    for (*number = 0; *c >= '0' && *c <= '9'; c++)
        *number = *number * 10 + (unsigned long long)(*c - '0');
    if (c == *text)
        return 0;
    *text = c;
    return 1;
}

/* Field 22 of /proc/PID/stat (after the command name, which may hold anything), and the state
 * letter; 0 if the process is gone. */
static unsigned long long start_time(pid_t pid, char *state) {
    char path[64], buffer[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buffer, sizeof buffer - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buffer[n] = 0;
    const char *c = strrchr(buffer, ')');
    if (c == NULL || c[1] != ' ' || c[2] == 0)
        return 0;
    /* state is field 3, starttime field 22: 18 fields between them. */
    char letter = c[2];
    c += 3;
    for (int field = 4; field < 22; field++) {
        while (is_space(*c))
            c++;
        if (*c == 0)
            return 0;
        while (*c && !is_space(*c))
            c++;
    }
    while (is_space(*c))
        c++;
    unsigned long long started;
    if (!parse_number(&c, &started))
        return 0;
    if (state != NULL)
        *state = letter;
    return started;
}

static void make_directories(const char *path) {
    char partial[4096];
    snprintf(partial, sizeof partial, "%s", path);
    for (char *slash = partial + 1; *slash; slash++) {
        if (*slash != '/')
            continue;
        *slash = 0;
        mkdir(partial, 0700);
        *slash = '/';
    }
    if (mkdir(partial, 0700) < 0 && errno != EEXIST)
        fail("cannot make %s: %m", path);
}

/* Write `text` to the file open on `fd` in one write, and close it. */
static void write_all(int fd, const char *path, const char *text) {
    size_t length = strlen(text);
    if (write(fd, text, length) != (ssize_t)length || close(fd) != 0)
        fail("cannot write %s: %m", path);
}

struct container {
    char path[4096];
    pid_t pid;
    unsigned long long start_time;
    char record[8192];
};

/* 0 if the container is unknown (or its run has not written it yet), else 1 with `c`
 * filled. */
static int load(const char *root, const char *id, struct container *c) {
    snprintf(c->path, sizeof c->path, "%s/%s", root, id);
    int fd = open(c->path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        fail("cannot read %s: %m", c->path);
    }
    ssize_t n = read(fd, c->record, sizeof c->record - 1);
    close(fd);
    if (n < 0)
        fail("cannot read %s: %m", c->path);
    if (n == 0)
        return 0;
    c->record[n] = 0;
    static const char pid_key[] = "{\"pid\":", start_key[] = ",\"start_time\":";
    const char *at = c->record;
    unsigned long long pid;
    if (strncmp(at, pid_key, sizeof pid_key - 1) != 0 ||
        !(at += sizeof pid_key - 1, parse_number(&at, &pid)) ||
        strncmp(at, start_key, sizeof start_key - 1) != 0 ||
        !(at += sizeof start_key - 1, parse_number(&at, &c->start_time)) || *at != ',')
        fail("%s is not the stand-in's record", c->path);
    c->pid = (pid_t)pid;
    return 1;
}

static void require(const char *root, const char *id, struct container *c) {
    if (!load(root, id, c))
        fail("container does not exist");
}

static int running(const struct container *c) {
    char letter = 0;
    unsigned long long started = start_time(c->pid, &letter);
    return started == c->start_time && letter != 'Z' && letter != 'X';
}

/* The record with the status runc would give, as `state` and `list` print it. */
static void print_state(const struct container *c) {
    char *end = strrchr(c->record, '}');
    if (end == NULL)
        fail("the record of %s is damaged", c->path);
    put(&out, c->record, (size_t)(end - c->record));
    printf(",\"status\":\"%s\"}", running(c) ? "running" : "stopped");
}

static int signal_number(const char *text) {
    static const struct {
        const char *name;
        int number;
    } names[] = {
        {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
        {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"CONT", SIGCONT},
        {"STOP", SIGSTOP}, {"WINCH", SIGWINCH},
    };
    /* A number as strtol reads one: blanks, a sign, digits and nothing after them. */
    const char *c = text;
    while (is_space(*c))
        c++;
    int negative = *c == '-';
    c += *c == '-' || *c == '+';
    unsigned long long number;
    if (parse_number(&c, &number) && *c == 0 && !negative && number > 0 &&
        number <= LAST_SIGNAL)
        return (int)number;
    if (strncmp(text, "SIG", 3) == 0)
        text += 3;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(text, names[i].name) == 0)
            return names[i].number;
    fail("unknown signal \"%s\"", text);
}

/* Flags a command takes: those with a value are listed with a trailing '='. */
static int take_flag(char **argv, int *i, const char *flag, const char **value) {
    const char *arg = argv[*i];
    size_t length = strlen(flag);
    if (strncmp(arg, flag, length) != 0)
        return 0;
    if (value == NULL)
        return arg[length] == 0;
    if (arg[length] == '=') {
        *value = arg + length + 1;
        return 1;
    }
    if (arg[length] != 0)
        return 0;
    if (argv[*i + 1] == NULL)
        fail("flag needs an argument: %s", flag);
    *value = argv[++*i];
    return 1;
}

/* realpath(3) as the kernel sees it: the path of the file `path` opens (O_PATH: with search
 * permission only, as realpath needs). The file stays open, its fd returned; -1 on error. */
static int resolve(const char *path, char *resolved, size_t size) {
    int fd = open(path, O_PATH | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, resolved, size);
    if (n < 0 || (size_t)n >= size) {
        errno = n < 0 ? errno : ENAMETOOLONG;
        close(fd);
        return -1;
    }
    resolved[n] = 0;
    return fd;
}

/* The "container": stdio as given, nothing else open, default signals, own session; it
 * sleeps until killed, or exits at once. The run does not wait for it to be so (runc's run -d
 * answers once its process runs the container's program): nothing the daemon does depends on
 * it, and the wait (a pipe the process closes last) cost a scheduling round trip per start,
 * 0.15 ms of the machine's CPU and 5-10% of the ceiling's rate (2026-12-04). */
static void container_process(int exits) __attribute__((noreturn));
static void container_process(int exits) {
    unsigned long none = 0;
    SYSCALL(__NR_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none, 0);
    /* The kernel's struct sigaction (x86_64 and aarch64 alike): handler, flags, restorer,
     * mask. A handler 0 is SIG_DFL. (exec reset the caught signals, not the ignored.) */
    struct {
        unsigned long handler, flags, restorer, mask;
    } default_action = {0, 0, 0, 0};
    for (int s = 1; s <= LAST_SIGNAL; s++)
        if (s != SIGKILL && s != SIGSTOP)
            SYSCALL(__NR_rt_sigaction, s, &default_action, NULL, sizeof none, 0);
    SYSCALL(__NR_setsid, 0, 0, 0, 0, 0);
    SYSCALL(__NR_close_range, 3U, ~0U, 0U, 0, 0);
    if (exits)
        exit_now(0);
    for (;;)
        poll(NULL, -1); /* pause(2), which aarch64 has not */
}

static int command_run(const char *root, int argc, char **argv) {
    const char *bundle = NULL, *pid_file = NULL, *id = NULL, *ignored;
    int detach = 0;
    for (int i = 0; i < argc; i++) {
        if (take_flag(argv, &i, "--detach", NULL) || take_flag(argv, &i, "-d", NULL))
            detach = 1;
        else if (take_flag(argv, &i, "--bundle", &bundle) || take_flag(argv, &i, "-b", &bundle))
            continue;
        else if (take_flag(argv, &i, "--pid-file", &pid_file))
            continue;
        else if (take_flag(argv, &i, "--console-socket", &ignored))
            fail("the stand-in runtime has no terminals (it is a bench tool, not runc)");
        else if (take_flag(argv, &i, "--no-pivot", NULL) ||
                 take_flag(argv, &i, "--no-new-keyring", NULL))
            continue;
        else if (argv[i][0] == '-')
            fail("run: flag provided but not defined: %s", argv[i]);
        else if (id == NULL)
            id = argv[i];
        else
            fail("run: one container id, not more");
    }
    if (id == NULL)
        fail("run: a container id is required");
    if (!detach)
        fail("the stand-in runtime only runs detached (run -d)");
    if (bundle == NULL)
        bundle = "."; /* runc's default: the working directory */
    char bundle_path[4096];
    int bundle_fd = resolve(bundle, bundle_path, sizeof bundle_path);
    if (bundle_fd < 0)
        fail("bundle %s: %m", bundle);
    int exits = faccessat(bundle_fd, EXIT_MARKER, F_OK) == 0;
    close(bundle_fd);

    int state_fd = -1;
    struct container c;
    snprintf(c.path, sizeof c.path, "%s/%s", root, id);
    for (int attempt = 0; state_fd < 0; attempt++) {
        state_fd = open(c.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (state_fd >= 0) {
            flock(state_fd, LOCK_EX); /* held until the record is written (see EEXIST) */
            break;
        }
        if (attempt > 1)
            fail("cannot make %s: %m", c.path);
        if (errno == ENOENT) {
            make_directories(root); /* the first run under this root */
        } else if (errno == EEXIST) {
            /* An empty record is a run still writing it (it holds the file's lock) or one
             * killed before it wrote it (the lock went with it): only the second is undone. */
            struct container old;
            int fd = open(c.path, O_RDONLY | O_CLOEXEC, 0);
            int writing = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0;
            if (writing || load(root, id, &old))
                fail("container with id exists: %s", id);
            if (fd >= 0) {
                unlink(c.path);
                close(fd);
            }
        } else {
            fail("cannot make %s: %m", c.path);
        }
    }
    pid_t pid = fork();
    if (pid < 0)
        fail("fork: %m");
    if (pid == 0)
        container_process(exits);
    /* The record: `load` reads no more than its buffer, so neither is more written. */
    char record[sizeof c.record];
    struct text r = {record, sizeof record, 0, -1};
    put_string(&r, "{\"pid\":");
    put_integer(&r, pid);
    put_string(&r, ",\"start_time\":");
    put_number(&r, start_time(pid, NULL), 1);
    put_string(&r, ",\"ociVersion\":\"1.0.2\",\"id\":");
    json_string(&r, id);
    put_string(&r, ",\"bundle\":");
    json_string(&r, bundle_path);
    put_string(&r, ",\"rootfs\":\"\",\"created\":\"");
    put_now(&r);
    put_string(&r, "\",\"owner\":\"\",\"standin\":true}");
    if (r.length + 1 >= r.size)
        fail("the record of %s is too long", c.path);
    write_all(state_fd, c.path, record);
    if (pid_file != NULL) {
        char pid_text[32];
        snprintf(pid_text, sizeof pid_text, "%d", (int)pid);
        int fd = open(pid_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            fail("cannot write %s: %m", pid_file);
        write_all(fd, pid_file, pid_text);
    }
    return 0;
}

static int command_state(const char *root, int argc, char **argv) {
    if (argc != 1)
        fail("state: exactly one container id is required");
    struct container c;
    require(root, argv[0], &c);
    print_state(&c);
    printf("\n");
    return 0;
}

/* The kernel's struct linux_dirent64, which no header outside the kernel's own exports. */
struct directory_entry {
    unsigned long long inode;
    long long offset;
    unsigned short length;
    unsigned char type;
    char name[];
};

static int command_list(const char *root, int argc, char **argv) {
    const char *format = "table";
    for (int i = 0; i < argc; i++)
        if (!take_flag(argv, &i, "--format", &format) && !take_flag(argv, &i, "-f", &format))
            fail("list: flag provided but not defined: %s", argv[i]);
    if (strcmp(format, "json") != 0)
        fail("the stand-in runtime lists in JSON only (list --format json)");
    /* No root (or none that can be read) lists nothing, as for opendir's failure before. */
    int directory = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    int listed = 0;
    static char entries[1 << 15] __attribute__((aligned(8)));
    ssize_t n;
    while (directory >= 0 && (n = getdents64(directory, entries, sizeof entries)) > 0) {
        for (ssize_t at = 0; at < n;) {
            struct directory_entry *entry = (struct directory_entry *)(entries + at);
            at += entry->length;
            struct container c;
            if (entry->name[0] == '.' || !load(root, entry->name, &c))
                continue;
            printf(listed++ ? "," : "[");
            print_state(&c);
        }
    }
    if (directory >= 0)
        close(directory);
    printf(listed ? "]\n" : "null\n");
    return 0;
}

static int command_kill(const char *root, int argc, char **argv) {
    int all = 0, signum = SIGTERM, positional = 0;
    const char *id = NULL;
    for (int i = 0; i < argc; i++) {
        if (take_flag(argv, &i, "--all", NULL) || take_flag(argv, &i, "-a", NULL))
            all = 1;
        else if (argv[i][0] == '-')
            fail("kill: flag provided but not defined: %s", argv[i]);
        else if (positional++ == 0)
            id = argv[i];
        else if (positional == 2)
            signum = signal_number(argv[i]);
        else
            fail("kill: too many arguments");
    }
    if (id == NULL)
        fail("kill: a container id is required");
    struct container c;
    require(root, id, &c);
    if (!running(&c)) {
        if (all)
            return 0;
        fail("container not running");
    }
    if (kill(c.pid, signum) < 0 && errno != ESRCH)
        fail("kill %d: %m", (int)c.pid);
    return 0;
}

/* SIGKILL through a pidfd (no reused pid can be hit), and wait until it is dead. */
static void kill_and_wait(const struct container *c) {
    int pidfd = pidfd_open(c->pid);
    if (pidfd < 0) {
        if (errno == ESRCH)
            return;
        fail("pidfd_open %d: %m", (int)c->pid);
    }
    if (running(c)) { /* checked with the pidfd held: the pid cannot be reused meanwhile */
        if (pidfd_send_signal(pidfd, SIGKILL) < 0 && errno != ESRCH)
            fail("kill %d: %m", (int)c->pid);
        struct pollfd exited = {pidfd, POLLIN, 0};
        if (poll(&exited, KILL_WAIT_MS) == 0)
            fail("process %d did not die after SIGKILL", (int)c->pid);
    }
    close(pidfd);
}

static int command_delete(const char *root, int argc, char **argv) {
    int force = 0;
    const char *id = NULL;
    for (int i = 0; i < argc; i++) {
        if (take_flag(argv, &i, "--force", NULL) || take_flag(argv, &i, "-f", NULL))
            force = 1;
        else if (argv[i][0] == '-')
            fail("delete: flag provided but not defined: %s", argv[i]);
        else if (id == NULL)
            id = argv[i];
        else
            fail("delete: one container id, not more");
    }
    if (id == NULL)
        fail("delete: a container id is required");
    struct container c;
    require(root, id, &c);
    if (running(&c)) {
        if (!force)
            fail("cannot delete container %s that is not stopped: running", id);
        kill_and_wait(&c);
    }
    if (unlink(c.path) < 0 && errno != ENOENT)
        fail("cannot remove %s: %m", c.path);
    return 0;
}

/* The value of NAME in a NULL-ended environment, or NULL. */
static const char *environment_value(char **environment, const char *name) {
    size_t length = strlen(name);
    for (; *environment != NULL; environment++)
        if (strncmp(*environment, name, length) == 0 && (*environment)[length] == '=')
            return *environment + length + 1;
    return NULL;
}

static int main(int argc, char **argv, char **environment) {
    const char *root = "/run/containerd-trio-standin", *ignored;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (take_flag(argv, &i, "--root", &root) || take_flag(argv, &i, "--log", &log_path) ||
            take_flag(argv, &i, "--log-format", &ignored) ||
            take_flag(argv, &i, "--criu", &ignored) ||
            take_flag(argv, &i, "--rootless", &ignored) || take_flag(argv, &i, "--debug", NULL) ||
            take_flag(argv, &i, "--systemd-cgroup", NULL))
            continue;
        fail("flag provided but not defined: %s", argv[i]);
    }
    if (i == argc)
        fail("no command: the stand-in runtime does run, state, list, kill and delete");
    const char *records = environment_value(environment, "CTR_TRIO_STANDIN_RECORDS");
    if (records != NULL && records[0] != '\0')
        root = records;
    const char *command = argv[i];
    int rest = argc - i - 1;
    char **args = argv + i + 1;
    if (strcmp(command, "run") == 0)
        return command_run(root, rest, args);
    if (strcmp(command, "state") == 0)
        return command_state(root, rest, args);
    if (strcmp(command, "list") == 0)
        return command_list(root, rest, args);
    if (strcmp(command, "kill") == 0)
        return command_kill(root, rest, args);
    if (strcmp(command, "delete") == 0)
        return command_delete(root, rest, args);
    fail("the stand-in runtime does not do \"%s\": it is a bench tool, not runc (it does run -d,"
         " state, list, kill and delete)",
         command);
}

/* Where _start goes: argc, then argv (NULL-ended), then the environment (NULL-ended), on the
 * stack the kernel made. */
__attribute__((used, noreturn)) void start(long *stack) {
    int argc = (int)stack[0];
    char **argv = (char **)(stack + 1);
    exit(main(argc, argv, argv + argc + 1));
}
