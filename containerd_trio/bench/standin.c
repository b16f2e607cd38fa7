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
 * to cost next to nothing; on an ext4 without a journal each new inode is dear.)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define EXIT_MARKER "standin-exit"
/* How long `delete --force` waits for the killed process to be gone (runc waits ~10 s). */
#define KILL_WAIT_MS 10000

static const char *log_path;

static void fail(const char *format, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void json_string(FILE *out, const char *text) {
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(out, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(out, "\\u%04x", *c);
        else
            fputc(*c, out);
    }
    fputc('"', out);
}

static void now_rfc3339(char *buffer, size_t size) {
    struct timespec now;
    struct tm utc;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &utc);
    size_t n = strftime(buffer, size, "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf(buffer + n, size - n, ".%09ldZ", now.tv_nsec);
}

/* runc's way: one JSON line on the --log file (the caller reads the error from there). */
static void fail(const char *format, ...) {
    char message[1024], stamp[64];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    now_rfc3339(stamp, sizeof stamp);
    FILE *out = NULL;
    if (log_path != NULL)
        out = fopen(log_path, "ae");
    if (out == NULL)
        out = stderr;
    fputs("{\"level\":\"error\",\"msg\":", out);
    json_string(out, message);
    fprintf(out, ",\"time\":\"%s\"}\n", stamp);
    fflush(out);
    exit(1);
}

/* Field 22 of /proc/PID/stat (after the command name, which may hold anything), and the state
 * letter; 0 if the process is gone. */
static unsigned long long start_time(pid_t pid, char *state) {
    char path[64], buffer[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buffer, sizeof buffer - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buffer[n] = 0;
    char *rest = strrchr(buffer, ')');
    if (rest == NULL)
        return 0;
    unsigned long long started = 0;
    char letter = 0;
    /* state is field 3, starttime field 22: 18 fields between them. */
    if (sscanf(rest + 2, "%c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
                         "%*s %llu",
               &letter, &started) != 2)
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
        fail("cannot make %s: %s", path, strerror(errno));
}

/* Write `text` to the file open on `fd` in one write, and close it. */
static void write_all(int fd, const char *path, const char *text) {
    size_t length = strlen(text);
    if (write(fd, text, length) != (ssize_t)length || close(fd) != 0)
        fail("cannot write %s: %s", path, strerror(errno));
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
    int fd = open(c->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        fail("cannot read %s: %s", c->path, strerror(errno));
    }
    ssize_t n = read(fd, c->record, sizeof c->record - 1);
    close(fd);
    if (n < 0)
        fail("cannot read %s: %s", c->path, strerror(errno));
    if (n == 0)
        return 0;
    c->record[n] = 0;
    int pid;
    if (sscanf(c->record, "{\"pid\":%d,\"start_time\":%llu,", &pid, &c->start_time) != 2)
        fail("%s is not the stand-in's record", c->path);
    c->pid = pid;
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
    fwrite(c->record, 1, (size_t)(end - c->record), stdout);
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
    char *end;
    long number = strtol(text, &end, 10);
    if (*text && *end == 0 && number > 0 && number < NSIG)
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
    char cwd[4096];
    if (bundle == NULL)
        bundle = getcwd(cwd, sizeof cwd);
    char bundle_path[4096];
    if (bundle == NULL || realpath(bundle, bundle_path) == NULL)
        fail("bundle %s: %s", bundle ? bundle : ".", strerror(errno));
    char marker[4200];
    snprintf(marker, sizeof marker, "%s/" EXIT_MARKER, bundle_path);
    int exits = access(marker, F_OK) == 0;

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
            fail("cannot make %s: %s", c.path, strerror(errno));
        if (errno == ENOENT) {
            make_directories(root); /* the first run under this root */
        } else if (errno == EEXIST) {
            /* An empty record is a run still writing it (it holds the file's lock) or one
             * killed before it wrote it (the lock went with it): only the second is undone. */
            struct container old;
            int fd = open(c.path, O_RDONLY | O_CLOEXEC);
            int writing = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0;
            if (writing || load(root, id, &old))
                fail("container with id exists: %s", id);
            if (fd >= 0) {
                unlink(c.path);
                close(fd);
            }
        } else {
            fail("cannot make %s: %s", c.path, strerror(errno));
        }
    }
    pid_t pid = fork();
    if (pid < 0)
        fail("fork: %s", strerror(errno));
    if (pid == 0) {
        /* The "container": stdio as given, nothing else open, default signals, own session. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int s = 1; s < NSIG; s++)
            signal(s, SIG_DFL);
        setsid();
        syscall(SYS_close_range, 3U, ~0U, 0U);
        if (exits)
            _exit(0);
        for (;;)
            pause();
    }
    char created[64], pid_text[32];
    now_rfc3339(created, sizeof created);
    char *record;
    size_t size;
    FILE *out = open_memstream(&record, &size);
    if (out == NULL)
        fail("open_memstream: %s", strerror(errno));
    fprintf(out, "{\"pid\":%d,\"start_time\":%llu,\"ociVersion\":\"1.0.2\",\"id\":", (int)pid,
            start_time(pid, NULL));
    json_string(out, id);
    fputs(",\"bundle\":", out);
    json_string(out, bundle_path);
    fprintf(out, ",\"rootfs\":\"\",\"created\":\"%s\",\"owner\":\"\",\"standin\":true}", created);
    fclose(out);
    write_all(state_fd, c.path, record);
    if (pid_file != NULL) {
        snprintf(pid_text, sizeof pid_text, "%d", (int)pid);
        int fd = open(pid_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            fail("cannot write %s: %s", pid_file, strerror(errno));
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
    putchar('\n');
    return 0;
}

static int command_list(const char *root, int argc, char **argv) {
    const char *format = "table";
    for (int i = 0; i < argc; i++)
        if (!take_flag(argv, &i, "--format", &format) && !take_flag(argv, &i, "-f", &format))
            fail("list: flag provided but not defined: %s", argv[i]);
    if (strcmp(format, "json") != 0)
        fail("the stand-in runtime lists in JSON only (list --format json)");
    DIR *directory = opendir(root);
    int listed = 0;
    struct dirent *entry;
    while (directory != NULL && (entry = readdir(directory)) != NULL) {
        struct container c;
        if (entry->d_name[0] == '.' || !load(root, entry->d_name, &c))
            continue;
        fputs(listed++ ? "," : "[", stdout);
        print_state(&c);
    }
    if (directory != NULL)
        closedir(directory);
    puts(listed ? "]" : "null");
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
        fail("kill %d: %s", (int)c.pid, strerror(errno));
    return 0;
}

/* SIGKILL through a pidfd (no reused pid can be hit), and wait until it is dead. */
static void kill_and_wait(const struct container *c) {
    int pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
    if (pidfd < 0) {
        if (errno == ESRCH)
            return;
        fail("pidfd_open %d: %s", (int)c->pid, strerror(errno));
    }
    if (running(c)) { /* checked with the pidfd held: the pid cannot be reused meanwhile */
        if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
            fail("kill %d: %s", (int)c->pid, strerror(errno));
        struct pollfd exited = {pidfd, POLLIN, 0};
        if (poll(&exited, 1, KILL_WAIT_MS) == 0)
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
        fail("cannot remove %s: %s", c.path, strerror(errno));
    return 0;
}

int main(int argc, char **argv) {
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
