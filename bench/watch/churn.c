// Connection churn driver for bench/watch: a listener on *:PORT (accepting and closing in a second
// thread) and a client that connects, sends one byte and closes RATE times a second for SECONDS seconds,
// paced on a monotonic clock. Prints "ready PID" once listening, then waits for a line on stdin, then
// "done N" with the number of connections made.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int lfd;

static void *acceptor(void *arg) {
    (void)arg;
    char buf[16];
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0) continue;
        while (read(c, buf, sizeof buf) > 0) {}  // drain until the client closes: the client closes first
        close(c);
    }
    return NULL;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: churn PORT RATE SECONDS\n"); return 2; }
    int port = atoi(argv[1]);
    double rate = atof(argv[2]), seconds = atof(argv[3]);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    // Listens on every loopback address; the client rotates over 127.0.0.1-16 so that 60 s of TIME_WAIT at
    // 5k/s (300k) never fills one destination's ephemeral port range (connect() slows down long before).
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 4096)) { perror("listen"); return 1; }
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, acceptor, NULL);
    printf("ready %d\n", getpid());
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin)) return 0;
    double start = now(), step = 1.0 / rate;
    long n = 0;
    for (;;) {
        double due = start + n * step;
        if (due >= start + seconds) break;
        double wait = due - now();
        if (wait > 0) { struct timespec ts = { (time_t)wait, (long)((wait - (time_t)wait) * 1e9) }; nanosleep(&ts, NULL); }
        struct sockaddr_in d = a;
        d.sin_addr.s_addr = htonl(0x7f000001 + (n % 16));
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&d, sizeof d) == 0) write(c, "x", 1);
        close(c);
        n++;
    }
    printf("done %ld %.3f\n", n, now() - start);
    fflush(stdout);
    sleep(1);
    return 0;
}
