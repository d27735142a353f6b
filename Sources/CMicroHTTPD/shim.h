#ifndef KENNEL_MHD_SHIM_H
#define KENNEL_MHD_SHIM_H
// libmicrohttpd as Swift can reach it. Each wrapper exists because Swift cannot call or see the original:
// MHD_start_daemon is variadic, and closed C enums (MHD_Result, MHD_ResponseMemoryMode, MHD_ValueKind, the
// daemon flags) import without usable cases, so their values cross as plain integers here.
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <microhttpd.h>

/// Access handler with an int result (MHD_YES/MHD_NO), so Swift never names enum MHD_Result.
typedef int (*kennel_mhd_access_handler)(void *cls, struct MHD_Connection *connection,
                                         const char *url, const char *method,
                                         const char *upload_data, size_t *upload_data_size,
                                         void **request_context);
/// Called once per request when MHD is done with it (sent, failed or client gone).
typedef void (*kennel_mhd_completed_handler)(void *cls, void *request_context, int terminated_normally);
/// Header/argument iterator with an int result.
typedef int (*kennel_mhd_value_iterator)(void *cls, const char *key, size_t key_size,
                                         const char *value, size_t value_size);

static const int kennel_mhd_yes = MHD_YES;
static const int kennel_mhd_no = MHD_NO;
static const uint64_t kennel_mhd_size_unknown = MHD_SIZE_UNKNOWN;
static const ssize_t kennel_mhd_end_of_stream = MHD_CONTENT_READER_END_OF_STREAM;
static const ssize_t kennel_mhd_end_with_error = MHD_CONTENT_READER_END_WITH_ERROR;

/// Called when a socket is accepted (`started` 1) and when it closes (0); `socket_context` is the connection's
/// own pointer, kept by MHD for its lifetime.
typedef void (*kennel_mhd_connection_handler)(void *cls, struct MHD_Connection *connection, int fd,
                                              void **socket_context, int started);
/// Receives one of MHD's own log messages, already formatted.
typedef void (*kennel_mhd_log_handler)(void *cls, const char *message);

/// The Swift callbacks and their context, held by MHD as the `cls` of its own C callbacks.
struct kennel_mhd_callbacks {
    kennel_mhd_access_handler access;
    kennel_mhd_completed_handler completed;
    kennel_mhd_connection_handler connection;
    kennel_mhd_log_handler log;
    void *context;
};

static inline void kennel_mhd_connection_trampoline(void *cls, struct MHD_Connection *connection,
                                                    void **socket_context, enum MHD_ConnectionNotificationCode code) {
    const struct kennel_mhd_callbacks *callbacks = (const struct kennel_mhd_callbacks *)cls;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    callbacks->connection(callbacks->context, connection, info ? info->connect_fd : -1, socket_context,
                          code == MHD_CONNECTION_NOTIFY_STARTED);
}

static inline void kennel_mhd_log_trampoline(void *cls, const char *format, va_list arguments) {
    const struct kennel_mhd_callbacks *callbacks = (const struct kennel_mhd_callbacks *)cls;
    char message[512];
    vsnprintf(message, sizeof message, format, arguments);
    callbacks->log(callbacks->context, message);
}

/// The pointer the connection handler stored for `connection`'s socket.
static inline void *kennel_mhd_socket_context(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

static inline int kennel_mhd_hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// Percent-decodes the path and query values in place, except `%00`, which stays as those three characters:
/// a NUL inside a C string would silently cut the path short (`/index.html%00.js` read as `/index.html`).
static inline size_t kennel_mhd_unescape(void *cls, struct MHD_Connection *connection, char *text) {
    (void)cls;
    (void)connection;
    char *out = text;
    for (const char *in = text; *in; ) {
        int high = in[0] == '%' ? kennel_mhd_hex(in[1]) : -1;
        int low = high >= 0 ? kennel_mhd_hex(in[2]) : -1;
        if (low >= 0 && (high | low) != 0) {
            *out++ = (char)(high * 16 + low);
            in += 3;
        } else {
            *out++ = *in++;
        }
    }
    *out = '\0';
    return (size_t)(out - text);
}

static inline enum MHD_Result kennel_mhd_access_trampoline(void *cls, struct MHD_Connection *connection,
                                                           const char *url, const char *method,
                                                           const char *version, const char *upload_data,
                                                           size_t *upload_data_size, void **request_context) {
    (void)version;
    const struct kennel_mhd_callbacks *callbacks = (const struct kennel_mhd_callbacks *)cls;
    return callbacks->access(callbacks->context, connection, url, method, upload_data, upload_data_size,
                             request_context) ? MHD_YES : MHD_NO;
}

static inline void kennel_mhd_completed_trampoline(void *cls, struct MHD_Connection *connection,
                                                   void **request_context,
                                                   enum MHD_RequestTerminationCode code) {
    (void)connection;
    const struct kennel_mhd_callbacks *callbacks = (const struct kennel_mhd_callbacks *)cls;
    callbacks->completed(callbacks->context, *request_context, code == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    *request_context = NULL;
}

/// Starts an epoll daemon with its own pool of polling threads, suspend/resume enabled (which also enables
/// the inter-thread channel MHD_quiesce_daemon needs), bound to `address` (IPv4 or IPv6), holding at most
/// `connection_limit` connections and `per_ip_limit` from one address, its messages sent to the log callback.
/// `callbacks` must outlive the daemon. Returns NULL when the address cannot be bound.
static inline struct MHD_Daemon *kennel_mhd_start(const struct sockaddr *address, int ipv6,
                                                  const struct kennel_mhd_callbacks *callbacks,
                                                  unsigned int thread_pool_size,
                                                  unsigned int connection_timeout_seconds,
                                                  unsigned int listen_backlog,
                                                  unsigned int connection_limit,
                                                  unsigned int per_ip_limit) {
    unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ipv6) flags |= MHD_USE_IPv6;
    return MHD_start_daemon(flags, 0, NULL, NULL,
                            &kennel_mhd_access_trampoline, (void *)callbacks,
                            MHD_OPTION_EXTERNAL_LOGGER, &kennel_mhd_log_trampoline, (void *)callbacks,
                            MHD_OPTION_SOCK_ADDR, address,
                            MHD_OPTION_NOTIFY_CONNECTION, &kennel_mhd_connection_trampoline, (void *)callbacks,
                            MHD_OPTION_UNESCAPE_CALLBACK, &kennel_mhd_unescape, (void *)NULL,
                            MHD_OPTION_CONNECTION_LIMIT, connection_limit,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip_limit,
                            MHD_OPTION_NOTIFY_COMPLETED, &kennel_mhd_completed_trampoline, (void *)callbacks,
                            MHD_OPTION_THREAD_POOL_SIZE, thread_pool_size,
                            MHD_OPTION_CONNECTION_TIMEOUT, connection_timeout_seconds,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, listen_backlog,
                            MHD_OPTION_END);
}

/// The port the daemon listens on (the kernel's choice when asked for port 0); 0 if unknown.
static inline uint16_t kennel_mhd_bound_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

struct kennel_mhd_iteration { kennel_mhd_value_iterator iterator; void *context; };

static inline enum MHD_Result kennel_mhd_iteration_trampoline(void *cls, enum MHD_ValueKind kind,
                                                              const char *key, size_t key_size,
                                                              const char *value, size_t value_size) {
    (void)kind;
    const struct kennel_mhd_iteration *iteration = (const struct kennel_mhd_iteration *)cls;
    return iteration->iterator(iteration->context, key, key_size, value, value_size) ? MHD_YES : MHD_NO;
}

/// Visits the request's headers (`arguments` 0) or its decoded query arguments (`arguments` 1).
static inline void kennel_mhd_visit_values(struct MHD_Connection *connection, int arguments,
                                           kennel_mhd_value_iterator iterator, void *context) {
    struct kennel_mhd_iteration iteration = { iterator, context };
    MHD_get_connection_values_n(connection, arguments ? MHD_GET_ARGUMENT_KIND : MHD_HEADER_KIND,
                                &kennel_mhd_iteration_trampoline, &iteration);
}

/// A response over a copy of `size` bytes at `data`.
static inline struct MHD_Response *kennel_mhd_response_copying(const void *data, size_t size) {
    return MHD_create_response_from_buffer(size, (void *)data, MHD_RESPMEM_MUST_COPY);
}

/// Queues `response` with `status`; returns MHD_YES/MHD_NO as an int.
static inline int kennel_mhd_queue(struct MHD_Connection *connection, unsigned int status,
                                   struct MHD_Response *response) {
    return MHD_queue_response(connection, status, response) == MHD_YES;
}

/// Adds a header; returns 0 when MHD refuses it (for example a header it manages itself).
static inline int kennel_mhd_add_header(struct MHD_Response *response, const char *name, const char *value) {
    return MHD_add_response_header(response, name, value) == MHD_YES;
}

/// Receives form data from MHD_PostProcessor: `offset` is where `data` lies within the current part's value
/// (0 starts a part). Returns nonzero to go on.
typedef int (*kennel_mhd_form_iterator)(void *cls, const char *key, const char *filename, const char *content_type,
                                        const char *data, uint64_t offset, size_t size);

/// An MHD_PostProcessor with the Swift iterator and context it reports to.
struct kennel_mhd_form {
    struct MHD_PostProcessor *processor;
    kennel_mhd_form_iterator iterator;
    void *context;
};

static inline enum MHD_Result kennel_mhd_form_trampoline(void *cls, enum MHD_ValueKind kind, const char *key,
                                                         const char *filename, const char *content_type,
                                                         const char *transfer_encoding, const char *data,
                                                         uint64_t offset, size_t size) {
    (void)kind;
    (void)transfer_encoding;
    const struct kennel_mhd_form *form = (const struct kennel_mhd_form *)cls;
    return form->iterator(form->context, key, filename, content_type, data, offset, size) ? MHD_YES : MHD_NO;
}

/// A form parser for the connection's multipart body (MHD reads the boundary from its Content-Type);
/// NULL when the content type cannot be parsed.
static inline struct kennel_mhd_form *kennel_mhd_form_create(struct MHD_Connection *connection, size_t buffer_size,
                                                             kennel_mhd_form_iterator iterator, void *context) {
    struct kennel_mhd_form *form = (struct kennel_mhd_form *)malloc(sizeof *form);
    if (!form) return NULL;
    form->iterator = iterator;
    form->context = context;
    form->processor = MHD_create_post_processor(connection, buffer_size, &kennel_mhd_form_trampoline, form);
    if (!form->processor) {
        free(form);
        return NULL;
    }
    return form;
}

/// Parses the next body bytes; 0 when they are malformed or the iterator asked to stop.
static inline int kennel_mhd_form_feed(struct kennel_mhd_form *form, const char *data, size_t size) {
    return MHD_post_process(form->processor, data, size) == MHD_YES;
}

/// Frees the parser; 0 when the body ended before its closing boundary.
static inline int kennel_mhd_form_destroy(struct kennel_mhd_form *form) {
    int complete = MHD_destroy_post_processor(form->processor) == MHD_YES;
    free(form);
    return complete;
}
#endif
