/* The floor Kennel's HTTP layer is measured against: libmicrohttpd in the same mode as Kennel (epoll, one
 * polling thread per core, suspend/resume enabled) answering every request with a fixed {"status":"ok"}
 * and no routing, logging or Swift. Built and run by `make bench`. Usage: raw_mhd PORT */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char body[] = "{\"status\":\"ok\"}";

static enum MHD_Result answer(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **request_context) {
    (void)cls; (void)url; (void)method; (void)version; (void)upload_data;
    /* Answering on the first call (headers only) makes libmicrohttpd close the connection after the answer;
     * like Kennel, wait for the call that says the request is complete so keep-alive holds. */
    static int marker;
    if (*request_context == NULL) { *request_context = &marker; return MHD_YES; }
    if (*upload_data_size != 0) { *upload_data_size = 0; return MHD_YES; }
    struct MHD_Response *response = MHD_create_response_from_buffer(sizeof body - 1, (void *)body,
                                                                    MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(response, "Content-Type", "application/json");
    enum MHD_Result queued = MHD_queue_response(connection, MHD_HTTP_OK, response);
    MHD_destroy_response(response);
    return queued;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s PORT\n", argv[0]); return 2; }
    unsigned int threads = (unsigned int)sysconf(_SC_NPROCESSORS_ONLN);
    struct MHD_Daemon *daemon = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
        (uint16_t)atoi(argv[1]), NULL, NULL, &answer, NULL,
        MHD_OPTION_THREAD_POOL_SIZE, threads < 2 ? 2 : threads, MHD_OPTION_END);
    if (daemon == NULL) { fprintf(stderr, "cannot listen on port %s\n", argv[1]); return 1; }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &signals, NULL);
    int received;
    sigwait(&signals, &received);
    MHD_stop_daemon(daemon);
    return 0;
}
