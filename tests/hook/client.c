/* A C library's own blocking calls: connect, write and read with plain libc. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connects to 127.0.0.1:port, sends msg, reads the echo into out; the byte count or -1. */
int zsync_c_echo(int port, const char *msg, char *out, int cap) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { close(fd); return -1; }
    int len = (int)strlen(msg);
    if (write(fd, msg, (size_t)len) != len) { close(fd); return -1; }
    int got = 0;
    while (got < len && got < cap) {
        ssize_t n = read(fd, out + got, (size_t)(cap - got));
        if (n <= 0) { close(fd); return -1; }
        got += (int)n;
    }
    close(fd);
    return got;
}
